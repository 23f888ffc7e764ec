"""What the command lines share: every SketchGenError (argparse's errors
included) ends as one line on stderr and exit status 2, never a traceback;
a run's output copied to its log.

A command's main(argv=None) returns its exit status; the scripts end with
sys.exit(main()), as the installed console scripts do."""
import argparse
import functools
import os
import re
import sys

from sketchgen.errors import SketchGenError, UsageError
from sketchgen.messages import one_line


class ArgumentParser(argparse.ArgumentParser):
    """argparse, whose errors are UsageErrors (one line, exit status 2), with
    every command's --verbose."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument('--verbose', action='store_true',
                          help="also show TensorFlow's own log lines (by default hidden; "
                               'TF_CPP_MIN_LOG_LEVEL, when set, chooses which)')

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        if parsed.verbose:  # read by sketchgen.tf_settings, before TensorFlow starts
            os.environ['TF_CPP_MIN_LOG_LEVEL'] = '0'
        return parsed

    def error(self, message):
        raise UsageError(f'{message} (see --help)')


USAGE_STATUS = 2  # the exit status of every refusal


def command(main):
    """main(argv=None) as a command returning its exit status: 0 when it
    returns nothing; a SketchGenError it raises is printed as
    `error: <message>` on stderr and gives USAGE_STATUS."""
    @functools.wraps(main)
    def run(argv=None):
        try:
            return main(argv) or 0
        except SketchGenError as err:
            sys.stdout.flush()
            print(f'error: {one_line(err)}', file=sys.stderr)
            return USAGE_STATUS
    return run


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
