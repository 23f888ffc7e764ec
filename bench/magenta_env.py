"""Run Magenta's official sketch-rnn (magenta==2.1.4) in its own process.

Magenta is never a runtime dependency of SketchGen: this module fetches the
``magenta`` wheel into a cache folder (``pip download --no-deps``), extracts
only ``magenta/models/sketch_rnn/`` and ``magenta/contrib/training.py`` (with
empty package ``__init__`` files, because Magenta's own ``__init__`` imports
all of Magenta), and runs ``bench/magenta_worker.py`` in a subprocess with
that folder on ``PYTHONPATH`` and ``TF_USE_LEGACY_KERAS=1``.

``TF_USE_LEGACY_KERAS`` is only ever set in the worker's environment, never in
this process, so Keras 3 stays the Keras of the calling process.

Library use::

    from bench.magenta_env import run_worker
    recs = run_worker(["train_steps", "--data_dir", "../shared/datasets",
                       "--hparams", "dec_rnn_size=64", "--steps", "5"])

Command line (passes the arguments to the worker, prints its JSON lines)::

    python bench/magenta_env.py train_steps --data_dir ../shared/datasets \
        --data_set aaron_sheep.npz --steps 5
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Callable, Optional, Sequence

MAGENTA_VERSION = "2.1.4"
TF_KERAS_VERSION = "2.21.0"

# Files taken from the wheel: everything under the first prefix, and the
# single contrib module that model.py imports (HParams).
_EXTRACT_PREFIXES = ("magenta/models/sketch_rnn/",)
_EXTRACT_FILES = ("magenta/contrib/training.py",)
_EMPTY_INITS = (
    "magenta/__init__.py",
    "magenta/models/__init__.py",
    "magenta/contrib/__init__.py",
)
_COMPLETE_MARKER = ".sketchgen-complete"

WORKER = Path(__file__).resolve().with_name("magenta_worker.py")


class MagentaWorkerError(RuntimeError):
    """The worker process failed, timed out or printed no usable result."""


def default_cache_dir() -> Path:
    """``$SKETCHGEN_MAGENTA_CACHE``, else ``~/.cache/sketchgen/magenta``."""
    env = os.environ.get("SKETCHGEN_MAGENTA_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return Path(base) / "sketchgen" / "magenta"


def _pip(args: Sequence[str]) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}")


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def ensure_tf_keras() -> None:
    """Make ``tf_keras`` importable (``pip install tf-keras==2.21.0``).

    Only checks that the package can be found: it is never imported here, so
    the calling process keeps Keras 3.
    """
    if not _has_module("tf_keras"):
        _pip(["install", "--disable-pip-version-check", "-q",
              f"tf-keras=={TF_KERAS_VERSION}"])
        importlib.invalidate_caches()
        if not _has_module("tf_keras"):
            raise RuntimeError("tf-keras was installed but is not importable")


def _find_wheel(folder: Path) -> Optional[Path]:
    wheels = sorted(folder.glob(f"magenta-{MAGENTA_VERSION}-*.whl"))
    return wheels[0] if wheels else None


def _extract(wheel: Path, dest: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist()
                 if (n.startswith(_EXTRACT_PREFIXES) or n in _EXTRACT_FILES)
                 and not n.endswith("/")]
        missing = [f for f in _EXTRACT_FILES if f not in names]
        if missing or not any(n.startswith(_EXTRACT_PREFIXES) for n in names):
            raise RuntimeError(f"{wheel} lacks {missing or _EXTRACT_PREFIXES}")
        for name in names:
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(name) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    for init in _EMPTY_INITS:
        path = dest / init
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")  # overwrite Magenta's own package __init__s


def ensure_magenta(cache_dir: Optional[os.PathLike | str] = None) -> str:
    """Prepare Magenta's sketch_rnn and return the folder for PYTHONPATH.

    - installs ``tf-keras==2.21.0`` if it is not importable;
    - downloads the ``magenta==2.1.4`` wheel (no dependencies) into
      ``<cache>/wheels`` unless it is already there;
    - extracts only ``magenta/models/sketch_rnn/`` and
      ``magenta/contrib/training.py`` into ``<cache>/magenta-2.1.4`` with empty
      ``magenta``/``magenta.models``/``magenta.contrib`` ``__init__`` files;
    - puts ``six`` (needed by Magenta's HParams and sketch_rnn_train) in that
      folder if it is not importable already.

    A finished folder is reused as it is.
    """
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    ensure_tf_keras()

    dest = root / f"magenta-{MAGENTA_VERSION}"
    if (dest / _COMPLETE_MARKER).exists():
        return str(dest)

    wheels = root / "wheels"
    wheels.mkdir(exist_ok=True)
    wheel = _find_wheel(wheels)
    if wheel is None:
        _pip(["download", "--disable-pip-version-check", "-q", "--no-deps",
              f"magenta=={MAGENTA_VERSION}", "-d", str(wheels)])
        wheel = _find_wheel(wheels)
        if wheel is None:
            raise RuntimeError(f"pip download left no magenta wheel in {wheels}")

    # Build in a scratch folder, then move into place, so that a crash or a
    # concurrent caller never sees a half-extracted tree.
    tmp = Path(tempfile.mkdtemp(prefix=".magenta-", dir=root))
    try:
        _extract(wheel, tmp)
        if not _has_module("six"):
            _pip(["install", "--disable-pip-version-check", "-q", "--no-deps",
                  "--target", str(tmp), "six"])
        (tmp / _COMPLETE_MARKER).write_text(wheel.name + "\n")
        if dest.exists():
            shutil.rmtree(dest)  # an incomplete earlier attempt
        try:
            os.replace(tmp, dest)
        except OSError:
            if not (dest / _COMPLETE_MARKER).exists():  # not a lost race
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return str(dest)


def worker_env(magenta_path: str, base: Optional[dict] = None,
               overrides: Optional[dict] = None) -> dict:
    """Environment for the worker: Magenta on PYTHONPATH, legacy tf.keras;
    ``overrides`` sets variables (a value of None removes one)."""
    env = dict(os.environ if base is None else base)
    for name, value in (overrides or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env["PYTHONPATH"] = magenta_path
    env["TF_USE_LEGACY_KERAS"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def tf_settings(names, same_as_ours: bool) -> dict:
    """``env_overrides`` for TensorFlow's settings ``names``: this process's
    values (``same_as_ours``), or unset, TensorFlow's own defaults, as
    Magenta's users run it."""
    return {name: os.environ.get(name) if same_as_ours else None for name in names}


def _parse_line(line: str) -> Optional[dict]:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _tail(path: str, limit: int = 6000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return "<no stderr>"


@contextlib.contextmanager
def _killed_after(proc, timeout):
    """Kills proc once timeout seconds pass (None: never); yields a list
    that is non-empty if it did."""
    timed_out = []
    timer = None
    if timeout is not None:
        timer = threading.Timer(timeout, lambda: (timed_out.append(True), proc.kill()))
        timer.daemon = True
        timer.start()
    try:
        yield timed_out
    finally:
        if timer is not None:
            timer.cancel()


def _read_records(proc, on_record):
    """The worker's JSON lines as they arrive -> (records, exit status)."""
    records = []
    try:
        for line in proc.stdout:
            rec = _parse_line(line)
            if rec is not None:
                records.append(rec)
                if on_record is not None:
                    on_record(rec)
        return records, proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise


def run_worker(args: Sequence[str], timeout: Optional[float] = None, *,
               cache_dir: Optional[os.PathLike | str] = None,
               on_record: Optional[Callable[[dict], None]] = None,
               stderr_path: Optional[str] = None,
               env_overrides: Optional[dict] = None) -> list[dict]:
    """Run ``python bench/magenta_worker.py *args``; return its JSON lines.

    Every stdout line that is a JSON object is returned (other lines are
    ignored) and, as it arrives, passed to ``on_record``. Raises
    :class:`MagentaWorkerError` with the tail of the worker's stderr when it
    exits non-zero or runs past ``timeout`` seconds (it is then killed).
    ``stderr_path`` keeps the worker's full stderr in that file;
    ``env_overrides`` goes to :func:`worker_env`.
    """
    path = ensure_magenta(cache_dir)
    cmd = [sys.executable, str(WORKER), *map(str, args)]
    keep = stderr_path is not None
    if not keep:
        fd, stderr_path = tempfile.mkstemp(prefix="magenta-worker-",
                                           suffix=".stderr")
        os.close(fd)
    try:
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                                    stdin=subprocess.DEVNULL, text=True,
                                    env=worker_env(path, overrides=env_overrides))
            with _killed_after(proc, timeout) as timed_out:
                records, rc = _read_records(proc, on_record)
        if timed_out:
            raise MagentaWorkerError(
                f"magenta worker timed out after {timeout}s: {' '.join(cmd)}\n"
                f"--- stderr tail ---\n{_tail(stderr_path)}")
        if rc != 0:
            raise MagentaWorkerError(
                f"magenta worker exited with {rc}: {' '.join(cmd)}\n"
                f"--- stderr tail ---\n{_tail(stderr_path)}")
        return records
    finally:
        if not keep:
            try:
                os.unlink(stderr_path)
            except OSError:
                pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cache_dir = None
    timeout = None
    while argv and argv[0] in ("--cache-dir", "--timeout"):
        opt, val = argv.pop(0), argv.pop(0)
        if opt == "--cache-dir":
            cache_dir = val
        else:
            timeout = float(val)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python bench/magenta_env.py [--cache-dir DIR] "
              "[--timeout S] SUBCOMMAND [worker args]\n"
              "       python bench/magenta_env.py path   "
              "(prepare Magenta, print the PYTHONPATH folder)\n"
              "worker subcommands: train_steps, train_curve, sample, greedy "
              "(see bench/magenta_worker.py --help)")
        return 0
    if argv == ["path"]:
        print(ensure_magenta(cache_dir))
        return 0
    try:
        run_worker(argv, timeout=timeout, cache_dir=cache_dir,
                   on_record=lambda r: print(json.dumps(r), flush=True))
    except MagentaWorkerError as e:
        print(str(e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
