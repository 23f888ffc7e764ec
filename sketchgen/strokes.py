"""Stroke-3 and stroke-5 sketches and the helpers between them.

Formats (sketch-rnn paper, section 3.1):
  stroke-3: rows of (dx, dy, pen_lifted); pen_lifted = 1 means the pen leaves
      the paper after this point. QuickDraw's .npz files store this.
  stroke-5: rows of (dx, dy, p1, p2, p3), a one-hot pen state: p1 = pen down,
      p2 = pen up, p3 = end of sketch. The model reads this, padded to N_max
      and preceded by the start token S_0 = (0, 0, 1, 0, 0).

Behaviour follows Magenta's sketch_rnn utils.py.
"""
import numpy as np

from sketchgen.errors import SketchDataError


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


def pen_runs(strokes, colors=None):
    """The lines the pen draws in stroke-3 `strokes`, as (start, stop, colour)
    ranges of rows: the points of rows start .. stop - 1, joined in order.
    A line begins after each pen lift; with a colour for each row (the
    segment into a row has the row's colour) also where the colour changes,
    one row back, so that the line stays joined.  colour is None without
    colours."""
    lifted_before = np.concatenate([[True], np.asarray(strokes)[:-1, 2] == 1])
    colors = [None] * len(lifted_before) if colors is None else list(colors)
    if len(colors) != len(lifted_before):
        raise ValueError(f'{len(colors)} colours for {len(lifted_before)} rows')
    starts = [i for i in range(len(colors)) if lifted_before[i] or colors[i] != colors[i - 1]]
    stops = starts[1:] + [len(colors)]
    return [(i - (not lifted_before[i]), stop, colors[i]) for i, stop in zip(starts, stops)]


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
