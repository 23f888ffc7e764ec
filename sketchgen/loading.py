"""Reading sketches: a data set's .npz files (load_dataset, as Magenta's
load_dataset) and one sketch from a .npy, .json, .npz or .svg file (load_sketch).
Data files are untrusted: every problem is a one-line SketchDataError."""
import json
import logging
import os
import re

import numpy as np

from sketchgen import download, quickdraw, safe_npz
from sketchgen.batches import DataLoader
from sketchgen.messages import one_line
from sketchgen.strokes import SketchDataError, get_max_len

logger = logging.getLogger(__name__)

SPLITS = ('train', 'valid', 'test')


def _fetch(data_dir, name):
    """(local path, name for messages) of data set `name`: see quickdraw.locate."""
    try:
        return quickdraw.locate(data_dir, name)
    except download.DownloadError as err:
        raise SketchDataError(str(err)) from None


def _checked_split(sketches, source, split):
    """The split as a list of numeric (N, 3) arrays, or SketchDataError."""
    if np.ndim(sketches) == 0:
        raise SketchDataError(
            f"{source}: '{split}' is not an array of sketches")
    return [_checked_sketch(sketch, f'{source}: {split}[{i}]')
            for i, sketch in enumerate(sketches)]


def _checked_sketch(sketch, where):
    """`sketch` as a numeric (N, 3) array with N >= 1, finite offsets and 0/1
    pens, or SketchDataError. Offsets beyond +-1000 stay: DataLoader clamps
    them, as Magenta does."""
    if not isinstance(sketch, (np.ndarray, list, tuple)):
        raise SketchDataError(f'{where} is a {type(sketch).__name__}, not an (N, 3) array '
                              'of (dx, dy, pen_lifted)')
    try:
        sketch = np.asarray(sketch)
    except ValueError as err:  # ragged nested lists
        raise SketchDataError(
            f'{where} is not an array: {one_line(err)}') from err
    if sketch.ndim != 2 or sketch.shape[1] != 3:
        raise SketchDataError(
            f'{where} has shape {sketch.shape}; sketches must be (N, 3) '
            'arrays of (dx, dy, pen_lifted)')
    if not (np.issubdtype(sketch.dtype, np.integer)
            or np.issubdtype(sketch.dtype, np.floating)):
        raise SketchDataError(
            f'{where} has dtype {sketch.dtype}, not numbers')
    if len(sketch) == 0:
        raise SketchDataError(f'{where} is empty: a sketch has at least one point')
    if not np.isfinite(sketch).all():
        raise SketchDataError(f'{where} has NaN or infinite offsets')
    if not np.isin(sketch[:, 2], (0, 1)).all():
        raise SketchDataError(
            f'{where} has pen_lifted values other than 0 and 1: '
            f'{np.unique(sketch[:, 2])[:5].tolist()}')
    return sketch


def _read_npz(path, source):
    """{'train': [...], 'valid': [...], 'test': [...]} from one .npz file."""
    try:
        with safe_npz.NpzReader(path) as data:
            missing = [split for split in SPLITS if split not in data.files]
            if missing:
                raise SketchDataError(
                    f"{source}: no {', '.join(missing)} array (has: "
                    f"{', '.join(data.files)}; needs train, valid, test)")
            arrays = {split: data[split] for split in SPLITS}
    except (safe_npz.NpzError, OSError) as err:
        raise SketchDataError(f'{source}: {one_line(err)}') from None
    return {split: _checked_split(arrays[split], source, split)
            for split in SPLITS}


def read_data_set(data_dir, name):
    """(path, name for messages, {split: sketches}) of data set file `name`
    in data_dir (a QuickDraw category is downloaded there first), every
    sketch checked; SketchDataError naming the file otherwise."""
    path, source = _fetch(os.fspath(data_dir), name)
    return path, source, _read_npz(path, source)


def load_dataset(data_dir, hps, seed=None):
    """Loads hps.data_set from data_dir (a folder or an http(s) URL).

    Returns (train_set, valid_set, test_set, hps). Several files are
    concatenated in order. Sets hps.max_seq_len to the longest sketch of all
    splits and normalises every split by the train set's scale factor. Only
    the train set is randomly scaled and augmented; `seed` seeds its rng.
    """
    data_dir = os.fspath(data_dir)
    names = ([hps.data_set] if isinstance(hps.data_set, str)
             else list(hps.data_set))
    if not names or not all(names):
        raise SketchDataError(
            f'hps.data_set is empty ({hps.data_set!r}); name .npz files '
            'such as cat.npz')
    splits, sources = _read_splits(data_dir, names)
    files = ' + '.join(f"{data_dir.rstrip('/')}/{name}" for name in names)
    _check_batches(splits, files, hps.batch_size)
    hps.max_seq_len = get_max_len(
        splits['train'] + splits['valid'] + splits['test'])
    train_set = DataLoader(
        splits['train'],
        hps.batch_size,
        max_seq_length=hps.max_seq_len,
        random_scale_factor=hps.random_scale_factor,
        augment_stroke_prob=hps.augment_stroke_prob,
        seed=seed,
        sources=sources['train'])
    normalizing_scale_factor = train_set.calculate_normalizing_scale_factor()
    train_set.normalize(normalizing_scale_factor)
    valid_set, test_set = (
        DataLoader(splits[split], hps.batch_size,
                   max_seq_length=hps.max_seq_len, sources=sources[split])
        for split in ('valid', 'test'))
    valid_set.normalize(normalizing_scale_factor)
    test_set.normalize(normalizing_scale_factor)
    logger.info('max_seq_len %d, normalizing_scale_factor %.4f',
                hps.max_seq_len, normalizing_scale_factor)
    return train_set, valid_set, test_set, hps


def _read_splits(data_dir, names):
    """{split: sketches} of the named files, concatenated in order, and
    {split: where each came from}: (file name, split, index in that split)."""
    splits = {split: [] for split in SPLITS}
    sources = {split: [] for split in SPLITS}
    for name in names:
        _, source, file_splits = read_data_set(data_dir, name)
        for split in SPLITS:
            splits[split] += file_splits[split]
            sources[split] += [(name, split, i) for i in range(len(file_splits[split]))]
        logger.info('Loaded %d/%d/%d sketches from %s',
                    *(len(file_splits[split]) for split in SPLITS), source)
    return splits, sources


def _check_batches(splits, files, batch_size):
    """SketchDataError unless every split holds at least one batch."""
    for split, sketches in splits.items():
        if not sketches:
            raise SketchDataError(
                f"{files}: the '{split}' split has no sketches")
        if len(sketches) < batch_size:
            raise SketchDataError(
                f"{files}: the '{split}' split has {len(sketches)} sketches, "
                f'fewer than batch_size={batch_size}, so no batches')


NPZ_SKETCH = re.compile(r'(?P<path>.+\.npz)(?::(?P<key>[^:]+))?(?::(?P<index>\d+))?')


def load_sketch(spec):
    """One raw stroke-3 sketch (N, 3) from a .npy, .json or FILE.npz[:KEY[:INDEX]]
    file, or from an SVG drawing processed as QuickDraw's data (see
    sketchgen.convert: its longer side spans 255), or SketchDataError naming
    the file and the problem."""
    npz = NPZ_SKETCH.fullmatch(spec)
    path = npz['path'] if npz else spec
    if not os.path.isfile(path):
        raise SketchDataError(f'{path}: no such file')
    try:
        if npz:
            with safe_npz.NpzReader(path) as archive:
                key = npz['key'] or archive.files[0]
                if key not in archive.files:
                    raise SketchDataError(
                        f"{path}: no array '{key}' (has: {', '.join(archive.files)})")
                sketch = archive[key]
            if npz['index'] is not None:
                sketch = np.asarray(sketch[int(npz['index'])])
        elif path.endswith('.npy'):
            sketch = np.load(path, allow_pickle=False)
        elif path.endswith('.json'):
            with open(path) as f:
                sketch = np.array(json.load(f))
        elif path.lower().endswith('.svg'):
            from sketchgen import convert  # here: convert imports this module
            lines = convert.read_svg(path)  # its errors name the file
            try:
                sketch = convert.to_stroke3(lines)
            except SketchDataError as err:
                raise SketchDataError(f'{path}: {err}') from None
        else:
            raise SketchDataError(f'{path}: not a .npy, .npz, .json or .svg file')
    except safe_npz.NpzError as err:
        raise SketchDataError(f'{path}: {err}') from None
    except (OSError, ValueError, IndexError, EOFError) as err:  # numpy/json's many ways to fail
        raise SketchDataError(f'{path}: cannot read a sketch: {one_line(err)}') from None
    if (sketch.dtype == object and sketch.ndim == 1) or sketch.ndim == 3:
        hint = '; pick one with FILE.npz:KEY:INDEX' if npz else ''
        raise SketchDataError(f'{spec}: holds {len(sketch)} sketches, not one{hint}')
    if sketch.ndim != 2 or sketch.shape[1] != 3 or len(sketch) == 0:
        raise SketchDataError(f'{spec}: has shape {sketch.shape}; a sketch is an (N, 3) '
                              'array of (dx, dy, pen_lifted)')
    if not (np.issubdtype(sketch.dtype, np.number) and np.isfinite(sketch).all()):
        raise SketchDataError(f'{spec}: offsets must be finite numbers (dtype {sketch.dtype})')
    if not np.isin(sketch[:, 2], (0, 1)).all():
        raise SketchDataError(f'{spec}: the third column (pen_lifted) must be 0 or 1')
    return sketch.astype(np.float32)
