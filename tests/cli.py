"""The training command run in this process, as the tests drive it."""
import contextlib
import io

import seq2seqVAE_train as T


def run_training(*argv):
    """(exit code, stderr) of seq2seqVAE_train.main(argv); stdout is dropped."""
    err = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            T.main([str(a) for a in argv])
        except SystemExit as exit_:
            code = exit_.code
    return code, err.getvalue()
