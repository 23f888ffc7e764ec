"""The commands as the tests drive them: in this process, or in a Python
subprocess (python_env)."""
import contextlib
import io
import os
import sys
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_env(**more):
    """The environment of a Python subprocess: the repository importable
    without installing it, output unbuffered, TensorFlow's C++ log quiet."""
    path = os.pathsep.join(p for p in (ROOT, os.environ.get('PYTHONPATH')) if p)
    return dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED='1', TF_CPP_MIN_LOG_LEVEL='2',
                **more)


def run_main(main, *argv):
    """main(argv) -> namespace(code, out, err): its exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit_:  # argparse's --help
            code = exit_.code
        assert sys.stdout is out, 'main() left sys.stdout redirected'
    return types.SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue())


def run_training(*argv):
    """(exit code, stderr) of seq2seqVAE_train.main(argv)."""
    import seq2seqVAE_train as T  # TensorFlow: only the commands that train need it
    result = run_main(T.main, *argv)
    return result.code, result.err


def one_line_error(result):
    """The message of a command that ended in one line on stderr, exit status 2."""
    assert result.code == 2, result.err
    assert result.err.startswith('error: ') and result.err.count('\n') == 1, result.err
    assert 'Traceback' not in result.err
    return result.err
