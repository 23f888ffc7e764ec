"""One live run per experiment folder.

The lock is an flock on a file that names its holder as JSON {"pid", "host",
"since"}.  The kernel drops an flock when its process dies, however it dies,
so a file left by a killed run (its pid no longer alive) holds nothing and the
next run takes it over; a live holder is named in the refusal."""
import errno
import fcntl
import json
import os
import socket
import time

from sketchgen.errors import LockedError


class RunLock:
    def __init__(self, path):
        self.path = os.fspath(path)
        self.fd = None
        self.previous = None  # the holder a stale lock named, when taken over

    def acquire(self):
        """Takes the lock or raises LockedError."""
        while self.fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise LockedError(f'{self.path}: the experiment is in use by '
                                  f'{describe(read_holder(self.path))}; wait for it to end, '
                                  'or stop it first') from None
            if _same_file(fd, self.path):
                self.fd = fd
            else:  # the holder removed the file as we opened it: try the new one
                os.close(fd)
        self.previous = read_holder(self.path)
        holder = dict(pid=os.getpid(), host=socket.gethostname(),
                      since=time.strftime('%Y-%m-%d %H:%M:%S %z'))
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps(holder).encode(), 0)
        return self

    def release(self):
        if self.fd is not None:
            os.remove(self.path)  # while still held: no one can take the removed file
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def read_holder(path):
    """The holder recorded in a lock file, or None (absent, empty or garbled)."""
    try:
        with open(path) as f:
            holder = json.load(f)
        return holder if isinstance(holder, dict) else None
    except (OSError, ValueError):
        return None


def describe(holder):
    if not holder:
        return 'another process (just starting)'
    return (f"process {holder.get('pid')} on {holder.get('host')} "
            f"since {holder.get('since')}")


def _same_file(fd, path):
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False
