"""The commands run in this process, as the tests drive them."""
import contextlib
import io
import sys
import types


def run_main(main, *argv):
    """main(argv) -> namespace(code, out, err): its exit code, stdout and stderr."""
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in argv])
        except SystemExit as exit_:
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
