"""What the command lines share: a refusal is one line on stderr and exit
status 2, never a traceback; a run's output is copied to its log."""
import contextlib
import re
import signal
import sys

from sketchgen.messages import first_line


def fail(message):
    """One clear line on stderr, no traceback."""
    print(f'error: {message}', file=sys.stderr)
    sys.exit(2)


@contextlib.contextmanager
def failing_on(*errors, message=first_line):
    """Turns these errors, whose messages name the file or flag, into
    fail(message(err)): by default the message's first line."""
    try:
        yield
    except errors as err:
        fail(message(err))


def write_or_fail(path, write):
    """write(), or fail() naming `path` when the write fails (a full disk)."""
    try:
        write()
    except OSError as err:
        fail(f'{path}: cannot write it: {first_line(err)}')


@contextlib.contextmanager
def signals_to(handler, signals=(signal.SIGINT, signal.SIGTERM)):
    """handler(signum, frame) receives these signals, then the previous handlers again."""
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Tee:
    """Copies everything printed to the experiment's log.txt."""

    def __init__(self, stream, path):
        self.stream, self.file = stream, open(path, 'a', buffering=1)

    def write(self, text):
        self.stream.write(text)
        if '\r' in text or '\b' in text:  # a progress-bar redraw: log its final state only
            text = text.rsplit('\r', 1)[-1] if text.endswith('\n') else ''
        self.file.write(re.sub(r'\x1b\[[0-9;]*m', '', text))  # no terminal colours

    def flush(self):
        self.stream.flush()
        self.file.flush()

    def isatty(self):
        return self.stream.isatty()

    def close(self):
        """Gives sys.stdout back and closes the log."""
        sys.stdout = self.stream
        self.file.close()
