"""Downloads into a cache: atomic, size-checked, with a progress line.

A file appears under its final name only once all of it has arrived and its
size equals what the server announced, so an interrupted download never
leaves a file that looks complete; the next call downloads it again."""
import http.client
import os
import sys
import time
import urllib.error
import urllib.request

from sketchgen import atomic
from sketchgen.errors import DownloadError

CHUNK = 1 << 16


def cache_dir(kind):
    """$SKETCHGEN_CACHE/<kind>, else ~/.cache/sketchgen/<kind>."""
    root = os.environ.get('SKETCHGEN_CACHE') or os.path.join(
        os.path.expanduser('~'), '.cache', 'sketchgen')
    return os.path.join(root, kind)


def fetch(url, path, *, progress=None, timeout=60):
    """Returns `path`, downloading `url` to it first unless it exists.

    The progress line is drawn on stderr when it is a terminal (progress=None)
    or when progress is True."""
    if os.path.isfile(path):
        return path
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, \
                atomic.replacing(path) as partial:
            expected = response.headers.get('Content-Length')
            expected = int(expected) if expected is not None else None
            with open(partial, 'wb') as out:
                label = os.path.basename(path) if _show_progress(progress) else None
                received = _copy(response, out, expected, label)
            if expected is not None and received != expected:
                raise DownloadError(f'{url}: received {received} bytes of the {expected} '
                                    'the server announced; try again')
    except urllib.error.HTTPError as err:
        raise DownloadError(f'{url}: HTTP {err.code} {err.reason}') from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        reason = getattr(err, 'reason', err)
        raise DownloadError(f'{url}: download failed ({reason})') from None
    return path


def _show_progress(progress):
    return sys.stderr.isatty() if progress is None else progress


def _copy(response, out, expected, label):
    """Copies the body to `out`, drawing a progress line on stderr when labelled."""
    received, start, shown = 0, time.monotonic(), 0.0
    try:
        while chunk := response.read(CHUNK):
            out.write(chunk)
            received += len(chunk)
            now = time.monotonic()
            if label and (now - shown > 0.5 or received == expected):
                _show(label, received, expected, now - start)
                shown = now
    finally:  # an error message then starts on a line of its own
        if label:
            sys.stderr.write('\n')
    return received


def _show(label, received, expected, elapsed):
    rate = received / max(elapsed, 1e-6)
    if expected:
        left = (expected - received) / max(rate, 1e-6)
        text = (f'{received / 1e6:.1f}/{expected / 1e6:.1f} MB '
                f'{100 * received / expected:3.0f}% {rate / 1e6:.1f} MB/s {left:.0f} s left')
    else:
        text = f'{received / 1e6:.1f} MB {rate / 1e6:.1f} MB/s'
    sys.stderr.write(f'\rdownloading {label}: {text}')
    sys.stderr.flush()
