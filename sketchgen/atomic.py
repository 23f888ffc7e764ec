"""Writes that a kill at any moment leaves as either the old file or the new
one, never a mix: the new content goes to a temporary file beside the target,
reaches the disk, and is renamed over the target in one step."""
import json
import os


def replace_file(path, write):
    """Calls write(tmp) and renames tmp over `path`.  tmp ends as `path` does
    (Keras needs `.weights.h5`).  A failed write (a full disk) removes tmp and
    leaves `path` as it was; the error propagates."""
    folder, name = os.path.split(os.fspath(path))
    tmp = os.path.join(folder, f'.tmp-{os.getpid()}-{name}')
    try:
        write(tmp)
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text):
    def write(tmp):
        with open(tmp, 'w') as f:
            f.write(text)

    replace_file(path, write)


def write_json(path, value, **kwargs):
    write_text(path, json.dumps(value, indent=2, **kwargs))
