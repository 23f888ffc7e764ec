"""Writes that a kill at any moment leaves as either the old file or the new
one, never a mix: the new content goes to a temporary file beside the target,
reaches the disk, and is renamed over the target in one step."""
import contextlib
import gc
import io
import json
import os
import sys

from sketchgen.messages import first_line


@contextlib.contextmanager
def replacing(path):
    """Yields tmp, a path beside `path` to write; when the block ends, tmp
    reaches the disk and is renamed over `path`.  tmp ends as `path` does
    (Keras needs `.weights.h5`).  An error in the block (a full disk) removes
    tmp and leaves `path` as it was; the error propagates."""
    folder, name = os.path.split(os.fspath(path))
    tmp = os.path.join(folder, f'.tmp-{os.getpid()}-{name}')
    try:
        yield tmp
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def replace_file(path, write):
    """Calls write(tmp) and renames tmp over `path`, as replacing() does,
    with h5py's reports of a failed write cut to one error."""
    with replacing(path) as tmp:
        _write_quietly(write, tmp)


def _write_quietly(write, tmp):
    """write(tmp); a failure raises one OSError.  h5py prints a traceback for
    each failed flush of an object it frees (to sys.stderr, outside any
    exception): when the write fails they are dropped, since the OSError says
    it once; otherwise they are passed on.  Only a failed write leaves such
    objects, so only then is the garbage collected here (a full collection
    takes ~0.3 s in a process holding TensorFlow)."""
    failed, reports = None, io.StringIO()
    with contextlib.redirect_stderr(reports):
        try:
            write(tmp)
        except OSError as err:
            failed = OSError(first_line(err))
        if failed:  # after the except block, which held the failed write's frames
            gc.collect()
    if failed:
        raise failed
    sys.stderr.write(reports.getvalue())


def remove_leftovers(folder, pid):
    """Removes the temporary files that process `pid` left in `folder` (killed mid-write)."""
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        if name.startswith(f'.tmp-{pid}-'):
            os.remove(os.path.join(folder, name))


def write_text(path, text):
    def write(tmp):
        with open(tmp, 'w') as f:
            f.write(text)

    replace_file(path, write)


def write_json(path, value, **kwargs):
    write_text(path, json.dumps(value, indent=2, **kwargs))
