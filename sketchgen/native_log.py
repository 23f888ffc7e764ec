"""TensorFlow's native (C++) log lines kept off the console, unless asked for.

TensorFlow 2.21 logs through absl before anything calls absl::InitializeLog(),
and absl then writes every message to stderr whatever TF_CPP_MIN_LOG_LEVEL
says (abseil/abseil-cpp#1718): a oneDNN notice, a CPU-feature notice, and on
machines without a GPU `E0000 ... failed call to cuInit: ... UNKNOWN ERROR
(303)`, which reads as a failure.  So the lines are dropped where they are
written: file descriptor 2 goes through a pipe whose reader passes on
everything except native log lines below TF_CPP_MIN_LOG_LEVEL (0 info,
1 warnings, 2 errors, 3 all but fatal).  Other programs' and Python's output
on stderr passes unchanged.
"""
import atexit
import os
import re
import sys
import threading

# I1205 12:00:00.123456   1234 file.cc:12] ... (before InitializeLog, absl's seconds
# field counts from the epoch), and absl's note that precedes them.
_NATIVE_LINE = re.compile(rb'([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.-]+:\d+\] ')
_ABSL_NOTE = b'WARNING: All log messages before absl::InitializeLog() is called'
_CONTINUED = b'To enable the following instructions:'  # the CPU-feature notice's second line
_SEVERITY = {b'I': 0, b'W': 1, b'E': 2, b'F': 3}
_MAY_START = b'IWEFT'  # a line beginning with another byte is passed on at once
_installed = False


def filter_stderr(min_level):
    """From now on, native log lines below `min_level` written to fd 2 (by
    this process or its children) are dropped.  Once per process."""
    global _installed
    if _installed or min_level <= 0:
        return
    _installed = True
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    reader = threading.Thread(target=_pass_on, args=(read_end, real, min_level),
                              name='sketchgen-native-log', daemon=True)
    reader.start()

    def restore():  # at exit: the pipe closes, the reader writes what is left
        sys.stderr.flush()
        os.dup2(real, 2)
        reader.join(timeout=2)

    atexit.register(restore)


def _pass_on(read_end, real, min_level):
    pending, dropping = b'', False
    while True:
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            break
        pending += chunk
        while b'\n' in pending:
            line, pending = pending.split(b'\n', 1)
            dropping = _dropped(line, dropping, min_level)
            if not dropping:
                os.write(real, line + b'\n')
        if pending and pending[:1] not in _MAY_START:  # a progress bar's redraw: at once
            os.write(real, pending)
            pending = b''
    if pending:
        os.write(real, pending)


def _dropped(line, after_dropped, min_level):
    match = _NATIVE_LINE.match(line)
    if match:
        return _SEVERITY[match.group(1)] < min_level
    if line.startswith(_ABSL_NOTE):
        return True
    return after_dropped and line.startswith(_CONTINUED)
