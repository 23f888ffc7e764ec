"""Sketch data: stroke-3/stroke-5 helpers, the batch loader and SVG drawing.

Formats (sketch-rnn paper, section 3.1):
  stroke-3: rows of (dx, dy, pen_lifted); pen_lifted = 1 means the pen leaves
      the paper after this point. QuickDraw's .npz files store this.
  stroke-5: rows of (dx, dy, p1, p2, p3), a one-hot pen state: p1 = pen down,
      p2 = pen up, p3 = end of sketch. The model reads this, padded to N_max
      and preceded by the start token S_0 = (0, 0, 1, 0, 0).

Behaviour follows Magenta's sketch_rnn utils.py and load_dataset.
"""

import json
import logging
import os
import re

import numpy as np
import svgwrite

from sketchgen import download, quickdraw, raster, safe_npz

logger = logging.getLogger(__name__)

SPLITS = ('train', 'valid', 'test')


class SketchDataError(Exception):
    """Bad sketch data; the message is one line naming the file."""


def _one_line(err):
    return ' '.join(str(err).split()) or type(err).__name__


# ---------------------------------------------------------------------------
# Stroke helpers


def get_bounds(data, factor=10):
    """(min_x, max_x, min_y, max_y) of the pen path, which starts at (0, 0)."""
    offsets = np.asarray(data)[:, 0:2].astype(np.float64) / factor
    path = np.concatenate([np.zeros((1, 2)), np.cumsum(offsets, axis=0)])
    (min_x, min_y), (max_x, max_y) = path.min(axis=0), path.max(axis=0)
    return float(min_x), float(max_x), float(min_y), float(max_y)


def slerp(p0, p1, t):
    """Spherical interpolation, used in the paper to walk between z vectors."""
    omega = np.arccos(
        np.dot(p0 / np.linalg.norm(p0), p1 / np.linalg.norm(p1)))
    sin_omega = np.sin(omega)
    return (np.sin((1.0 - t) * omega) / sin_omega * p0
            + np.sin(t * omega) / sin_omega * p1)


def lerp(p0, p1, t):
    """Linear interpolation."""
    return (1.0 - t) * p0 + t * p1


def strokes_to_lines(strokes):
    """Stroke-3 -> list of polylines of absolute [x, y] points.

    Like Magenta, points after the last pen lift are not returned.
    """
    strokes = np.asarray(strokes)
    points = np.cumsum(strokes[:, 0:2].astype(np.float64), axis=0)
    ends = np.flatnonzero(strokes[:, 2] == 1) + 1
    return [line.tolist() for line in np.split(points, ends)[:-1]]


def lines_to_strokes(lines):
    """Polylines of absolute points -> stroke-3, lifting the pen after each."""
    rows = [[0, 0, 0]]  # the pen starts at the origin
    for line in lines:
        last = len(line) - 1
        rows += [[x, y, int(i == last)] for i, (x, y) in enumerate(line)]
    points = np.array(rows)
    strokes = points[1:].copy()
    strokes[:, 0:2] = np.diff(points[:, 0:2], axis=0)
    return strokes


def augment_strokes(strokes, prob=0.0, rng=None):
    """Randomly drops points inside strokes (the paper's data augmentation).

    A point may go only when it and the point before it are pen-down and it is
    at least the fourth point of its stroke, so stroke ends survive; its
    offset is added to the last kept point so the drawing keeps its shape.
    Draws one uniform number per point from `rng` (default: np.random).
    """
    rng = np.random if rng is None else rng
    strokes = np.asarray(strokes)
    pen = strokes[:, 2]
    prev_pen = np.concatenate([[1], pen[:-1]])
    index = np.arange(len(strokes))
    restart = (pen == 1) | (prev_pen == 1)
    place_in_stroke = index - np.maximum.accumulate(
        np.where(restart, index, 0))
    uniform = rng.rand(len(strokes))
    drop = ((pen == 0) & (prev_pen == 0) & (place_in_stroke > 2)
            & (uniform < prob))
    result = strokes[~drop].copy()
    owner = np.cumsum(~drop)[drop] - 1  # row in result of last kept point
    # add.at adds repeated owners one at a time, in order, like Magenta.
    np.add.at(result, (owner, slice(0, 2)), strokes[drop, 0:2])
    return result


def scale_bound(stroke, average_dimension=10.0):
    """Scales stroke-3 `stroke` in place so its larger side is this long."""
    min_x, max_x, min_y, max_y = get_bounds(stroke, 1)
    max_dimension = max(max_x - min_x, max_y - min_y)
    stroke[:, 0:2] /= max_dimension / average_dimension


def to_normal_strokes(big_stroke):
    """Stroke-5 -> stroke-3, cut before the first end-of-sketch row.

    Like Magenta, an end-of-sketch flag in row 0 is ignored (all rows kept).
    """
    big_stroke = np.asarray(big_stroke)
    ends = np.flatnonzero(big_stroke[:, 4] > 0)
    length = ends[0] if len(ends) and ends[0] > 0 else len(big_stroke)
    result = np.zeros((length, 3))
    result[:, 0:2] = big_stroke[:length, 0:2]
    result[:, 2] = big_stroke[:length, 3]
    return result


def clean_strokes(sample_strokes, factor=100):
    """Stroke-5 sample -> list of integer rows in pixel space, for JSON.

    Keeps the rows before the first end-of-sketch flag, multiplies offsets by
    `factor` and rounds them half to even, then ends with (0, 0, 0, 0, 1).
    """
    sample = np.asarray(sample_strokes)
    ends = np.flatnonzero(sample[:, 4].astype(int) != 0)
    length = ends[0] if len(ends) else len(sample)
    rows = np.zeros((length + 1, 5), dtype=int)
    rows[:length, 0:2] = np.round(sample[:length, 0:2] * factor)
    rows[:length, 2:4] = sample[:length, 2:4].astype(int)
    rows[length, 4] = 1
    return rows.tolist()


def to_big_strokes(stroke, max_len=250):
    """Stroke-3 -> stroke-5 padded with end-of-sketch rows (no S_0)."""
    stroke = np.asarray(stroke)
    length = len(stroke)
    if length > max_len:
        raise SketchDataError(
            f'sketch has {length} points, more than max_len={max_len}')
    result = np.zeros((max_len, 5))
    result[:length, 0:2] = stroke[:, 0:2]
    result[:length, 3] = stroke[:, 2]
    result[:length, 2] = 1 - result[:length, 3]
    result[length:, 4] = 1
    return result


def get_max_len(strokes):
    """Number of points of the longest sketch (0 for none)."""
    return max((len(sketch) for sketch in strokes), default=0)


# ---------------------------------------------------------------------------
# Batches


class DataLoader:
    """Holds stroke-3 sketches sorted by length and serves stroke-5 batches.

    A batch is (list of stroke-3 arrays, x, seq_len): x is float32
    [batch_size, max_seq_length + 1, 5] starting with S_0, seq_len holds each
    sketch's number of points. All randomness comes from `self.rng`, so its
    state can be checkpointed.
    """

    def __init__(self,
                 strokes,
                 batch_size=100,
                 max_seq_length=250,
                 scale_factor=1.0,
                 random_scale_factor=0.0,
                 augment_stroke_prob=0.0,
                 limit=1000,
                 seed=None):
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length  # N_max in the paper
        self.scale_factor = scale_factor  # offsets are divided by this
        self.random_scale_factor = random_scale_factor
        self.augment_stroke_prob = augment_stroke_prob
        self.limit = limit  # clamps |dx|, |dy|: removes huge pen-up jumps
        self.start_stroke_token = [0, 0, 1, 0, 0]  # S_0 in the paper
        self.rng = np.random.RandomState(seed)
        self.preprocess(strokes)

    def preprocess(self, strokes):
        """Keeps sketches of <= max_seq_length points, clamped, float32."""
        kept = [
            np.clip(sketch, -self.limit, self.limit).astype(np.float32)
            for sketch in strokes
            if len(sketch) <= self.max_seq_length
        ]
        for sketch in kept:
            sketch[:, 0:2] /= self.scale_factor
        # Magenta's default (quicksort) argsort: the order of equal lengths
        # is whatever numpy's sort gives, which depends on its build and CPU.
        order = np.argsort(np.array([len(sketch) for sketch in kept]))
        self.strokes = [kept[i] for i in order]
        self.num_batches = len(self.strokes) // self.batch_size

    def random_sample(self):
        """A copy of one random sketch, stroke-3."""
        return np.copy(self.strokes[self.rng.randint(len(self.strokes))])

    def random_scale(self, data):
        """Copy of data, x and y stretched by random factors in [1-e, 1+e]."""
        x_scale, y_scale = ((self.rng.random_sample(2) - 0.5) * 2
                            * self.random_scale_factor + 1.0)
        result = np.copy(data)
        # Multiply in the data's precision, as Magenta's Python floats do.
        result[:, 0:2] *= np.array([x_scale, y_scale], dtype=result.dtype)
        return result

    def calculate_normalizing_scale_factor(self):
        """Standard deviation of all dx and dy (paper, appendix)."""
        if not self.strokes:
            raise SketchDataError('no sketches to compute a scale factor from')
        offsets = np.concatenate([sketch[:, 0:2] for sketch in self.strokes])
        return np.std(offsets.ravel())

    def normalize(self, scale_factor=None):
        """Divides every dx, dy by `scale_factor` (default: this set's own)."""
        if scale_factor is None:
            scale_factor = self.calculate_normalizing_scale_factor()
        self.scale_factor = scale_factor
        for sketch in self.strokes:
            sketch[:, 0:2] /= self.scale_factor

    def _get_batch_from_indices(self, indices):
        batch = []
        for i in indices:
            sketch = self.random_scale(self.strokes[i])
            if self.augment_stroke_prob > 0:
                sketch = augment_strokes(
                    sketch, self.augment_stroke_prob, self.rng)
            batch.append(sketch)
        seq_len = np.array([len(sketch) for sketch in batch], dtype=int)
        return batch, self.pad_batch(batch, self.max_seq_length), seq_len

    def random_batch(self):
        """batch_size random sketches, randomly scaled and augmented."""
        indices = self.rng.permutation(len(self.strokes))[:self.batch_size]
        return self._get_batch_from_indices(indices)

    def get_batch(self, idx):
        """The idx-th batch in length order.

        Like Magenta it still scales and augments at random, so it is
        deterministic only when both factors are 0 (valid and test sets).
        """
        if not 0 <= idx < self.num_batches:
            raise IndexError(
                f'batch {idx} is outside [0, {self.num_batches})')
        start = idx * self.batch_size
        return self._get_batch_from_indices(
            range(start, start + self.batch_size))

    def pad_batch(self, batch, max_len):
        """Stroke-3 sketches -> float32 stroke-5 [batch_size, max_len+1, 5]."""
        if len(batch) != self.batch_size:
            raise ValueError(
                f'batch has {len(batch)} sketches, not {self.batch_size}')
        lengths = np.array([len(sketch) for sketch in batch])
        if lengths.max(initial=0) > max_len:
            raise SketchDataError(
                f'a sketch has {lengths.max()} points, more than '
                f'max_len={max_len}')
        x = np.zeros((self.batch_size, max_len + 1, 5), dtype=np.float32)
        x[:, 0] = self.start_stroke_token
        body = x[:, 1:]  # a view: the rows after S_0
        is_point = np.arange(max_len) < lengths[:, None]
        points = np.concatenate([np.reshape(s, (-1, 3)) for s in batch])
        body[is_point, 0:2] = points[:, 0:2]
        body[is_point, 2] = 1 - points[:, 2]
        body[is_point, 3] = points[:, 2]
        body[~is_point, 4] = 1  # end of sketch
        return x


# ---------------------------------------------------------------------------
# Loading .npz files


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
            f'{where} is not an array: {_one_line(err)}') from err
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
        raise SketchDataError(f'{source}: {_one_line(err)}') from None
    return {split: _checked_split(arrays[split], source, split)
            for split in SPLITS}


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
    splits = {split: [] for split in SPLITS}
    for name in names:
        path, source = _fetch(data_dir, name)
        file_splits = _read_npz(path, source)
        for split in SPLITS:
            splits[split] += file_splits[split]
        logger.info('Loaded %d/%d/%d sketches from %s',
                    *(len(file_splits[split]) for split in SPLITS), source)

    files = ' + '.join(f"{data_dir.rstrip('/')}/{name}" for name in names)
    for split, sketches in splits.items():
        if not sketches:
            raise SketchDataError(
                f"{files}: the '{split}' split has no sketches")
        if len(sketches) < hps.batch_size:
            raise SketchDataError(
                f"{files}: the '{split}' split has {len(sketches)} sketches, "
                f'fewer than batch_size={hps.batch_size}, so no batches')

    hps.max_seq_len = get_max_len(
        splits['train'] + splits['valid'] + splits['test'])
    train_set = DataLoader(
        splits['train'],
        hps.batch_size,
        max_seq_length=hps.max_seq_len,
        random_scale_factor=hps.random_scale_factor,
        augment_stroke_prob=hps.augment_stroke_prob,
        seed=seed)
    normalizing_scale_factor = train_set.calculate_normalizing_scale_factor()
    train_set.normalize(normalizing_scale_factor)
    valid_set, test_set = (
        DataLoader(splits[split], hps.batch_size,
                   max_seq_length=hps.max_seq_len)
        for split in ('valid', 'test'))
    valid_set.normalize(normalizing_scale_factor)
    test_set.normalize(normalizing_scale_factor)
    logger.info('max_seq_len %d, normalizing_scale_factor %.4f',
                hps.max_seq_len, normalizing_scale_factor)
    return train_set, valid_set, test_set, hps


NPZ_SKETCH = re.compile(r'(?P<path>.+\.npz)(?::(?P<key>[^:]+))?(?::(?P<index>\d+))?')


def load_sketch(spec):
    """One raw stroke-3 sketch (N, 3) from a .npy, .json or FILE.npz[:KEY[:INDEX]]
    file, or SketchDataError naming the file and the problem."""
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
        else:
            raise SketchDataError(f'{path}: not a .npy, .npz or .json file')
    except safe_npz.NpzError as err:
        raise SketchDataError(f'{path}: {err}') from None
    except (OSError, ValueError, IndexError, EOFError) as err:  # numpy/json's many ways to fail
        raise SketchDataError(f'{path}: cannot read a sketch: {_one_line(err)}') from None
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



# ---------------------------------------------------------------------------
# SVG drawing (the style of Magenta's sketch-rnn notebook)


def _frame(data, factor):
    """Pen path of stroke-3 `data` / factor framed with a 25 px margin.

    Returns (start point, offsets, pen lifted before each point, svg size).
    """
    data = np.asarray(data)
    min_x, max_x, min_y, max_y = get_bounds(data, factor)
    size = (50 + max_x - min_x, 50 + max_y - min_y)
    start = np.array([25 - min_x, 25 - min_y])
    offsets = data[:, 0:2].astype(np.float64) / factor
    lifted_before = np.concatenate([[True], data[:-1, 2] == 1])
    return start, offsets, lifted_before, size


def _number(value):
    return f'{value:.6g}'


def _finish(drawing, svg_filename):
    """The drawing as a string, also saved when svg_filename is given."""
    if svg_filename:
        os.makedirs(os.path.dirname(os.path.abspath(svg_filename)),
                    exist_ok=True)
        drawing.saveas(svg_filename)
    return drawing.tostring()


def draw_strokes(data, factor=0.2, svg_filename=None, stroke_width=1,
                 color='black'):
    """SVG string of one stroke-3 sketch; offsets are divided by `factor`.

    Also writes it to svg_filename when given.
    """
    start, offsets, lifted_before, size = _frame(data, factor)
    path = f'M{_number(start[0])},{_number(start[1])} ' + ' '.join(
        f"{'m' if lifted else 'l'}{_number(dx)},{_number(dy)}"
        for (dx, dy), lifted in zip(offsets, lifted_before))
    drawing = svgwrite.Drawing(svg_filename, size=size)
    drawing.add(drawing.rect(insert=(0, 0), size=size, fill='white'))
    drawing.add(drawing.path(path, stroke=color, stroke_width=stroke_width,
                             fill='none'))
    return _finish(drawing, svg_filename)


def make_grid_svg(s_list, grid_space=10.0, grid_space_x=16.0):
    """Joins [sketch, (row, col)] pairs into one stroke-3 drawing on a grid.

    As in the reference notebook: the box of each sketch's points is centred
    on its cell's centre shifted by the sketch's first offset, the move to
    each sketch is a pen-down row, and the result starts with (0, 0, 1).
    """
    rows = [np.array([[0.0, 0.0, 1.0]])]
    pen = np.zeros(2)
    for sketch, (row, col) in s_list:
        sketch = np.array(sketch, dtype=np.float64)
        path = np.cumsum(sketch[:, 0:2], axis=0)
        center = (path.max(axis=0) + path.min(axis=0)) * 0.5
        cell_center = np.array([col * grid_space_x + grid_space_x * 0.5,
                                row * grid_space + grid_space * 0.5])
        sketch_start = cell_center + (sketch[0, 0:2] - center)
        rows.append(np.array([[*(sketch_start - pen), 0.0]]))
        sketch[-1, 2] = 1  # lift the pen before moving to the next cell
        rows.append(sketch)
        pen = sketch_start + sketch[:, 0:2].sum(axis=0)
    return np.concatenate(rows)


def grid_strokes(sketches, ncols=10):
    """Stroke-3 sketches laid out as one stroke-3 drawing, filled row by row
    in square cells 1.2 times the largest sketch."""
    sizes = [max(x1 - x0, y1 - y0)
             for x0, x1, y0, y1 in (get_bounds(s, 1) for s in sketches)]
    cell = 1.2 * max(sizes, default=0.0) or 1.0
    # A leading (0, 0, 1) row makes make_grid_svg centre each sketch exactly
    # and keeps the pen up on the way to the sketch's first point.
    cells = [[np.concatenate([[[0, 0, 1]], np.asarray(sketch)]),
              divmod(i, ncols)] for i, sketch in enumerate(sketches)]
    return make_grid_svg(cells, cell, cell)


def draw_grid(sketches, ncols=10, svg_filename=None, factor=0.2,
              stroke_width=1):
    """SVG string of stroke-3 sketches in a grid, filled row by row."""
    return draw_strokes(grid_strokes(sketches, ncols), factor, svg_filename,
                        stroke_width)


def draw_strokes_animated(data, svg_filename=None, factor=0.2,
                          seconds_per_stroke=0.5, stroke_width=1,
                          color='black'):
    """SVG string that draws a stroke-3 sketch stroke by stroke (SMIL).

    Each pen-down polyline is a path whose dash offset animates from its
    length to 0, starting when the previous stroke is finished.
    """
    start, offsets, lifted_before, size = _frame(data, factor)
    points = start + np.cumsum(offsets, axis=0)
    drawing = svgwrite.Drawing(svg_filename, size=size)
    drawing.add(drawing.rect(insert=(0, 0), size=size, fill='white'))
    begin = 0.0
    for stroke in np.split(points, np.flatnonzero(lifted_before[1:]) + 1):
        length = np.hypot(*np.diff(stroke, axis=0).T).sum()
        if length == 0:
            continue  # a dot or an empty stroke: nothing to draw
        path = 'M' + ' L'.join(f'{_number(x)},{_number(y)}' for x, y in stroke)
        element = drawing.path(
            path, stroke=color, stroke_width=stroke_width, fill='none',
            stroke_dasharray=_number(length),
            stroke_dashoffset=_number(length))
        element.add(drawing.animate(
            attributeName='stroke-dashoffset', from_=_number(length), to=0,
            begin=f'{begin:g}s', dur=f'{seconds_per_stroke:g}s',
            fill='freeze'))
        drawing.add(element)
        begin += seconds_per_stroke
    return _finish(drawing, svg_filename)


def draw_grid_animated(sketches, ncols=10, svg_filename=None, factor=0.2,
                       seconds_per_stroke=0.2, stroke_width=1):
    """draw_grid's layout, drawn stroke by stroke as draw_strokes_animated."""
    return draw_strokes_animated(grid_strokes(sketches, ncols), svg_filename,
                                 factor, seconds_per_stroke, stroke_width)


def draw_strokes_gif(data, gif_filename, **options):
    """A GIF of a stroke-3 sketch drawing itself, for pages and chat tools
    that do not play SVG animations; options: sketchgen.raster.save_gif's."""
    return raster.save_gif(data, gif_filename, **options)


def draw_grid_gif(sketches, gif_filename, ncols=10, **options):
    """draw_grid's layout as a GIF, the sketches drawn one after another
    (128 pixels a column unless `size` says otherwise)."""
    options.setdefault('size', 128 * min(ncols, len(sketches)))
    return raster.save_gif(grid_strokes(sketches, ncols), gif_filename, **options)
