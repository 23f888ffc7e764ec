"""Draws datasets/shapes.npz: small sketches in QuickDraw's stroke-3 format.

Circles, squares, triangles, stars and two-stroke crosses of random size,
rotation, aspect and hand jitter; 15-60 points each, offsets in pixels.
Keys train/valid/test hold object arrays of int16 (N, 3) arrays of
(dx, dy, pen_lifted), like the sketch-rnn files, so every tool that reads
those reads this. train_labels/valid_labels/test_labels hold each sketch's
shape, an index into label_names (the loader ignores these keys; the
recognisability score, sketchgen/quality.py, reads them). The seed is
fixed: running it again gives the same data.

    python datasets/make_shapes.py
"""

import os

import numpy as np

SEED = 20170413  # the sketch-rnn paper's arXiv date
SPLIT_SIZES = {'train': 2000, 'valid': 200, 'test': 200}
MIN_POINTS, MAX_POINTS = 15, 60
OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      'shapes.npz')


def closed_outline(corners, num_points):
    """About num_points points along the closed polygon through corners,
    every corner included, spaced by edge length."""
    ends = np.roll(corners, -1, axis=0)
    edge_lengths = np.linalg.norm(ends - corners, axis=1)
    per_edge = np.maximum(
        1, np.round((num_points - 1) * edge_lengths / edge_lengths.sum()))
    points = [start + np.outer(np.arange(n) / n, end - start)
              for start, end, n in zip(corners, ends, per_edge.astype(int))]
    return np.concatenate(points + [corners[:1]])


def regular_corners(count, radii=(1.0,)):
    """Corners of a regular polygon (radii alternate, for stars)."""
    angles = np.pi / 2 + 2 * np.pi * np.arange(count) / count
    radius = np.resize(radii, count)
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1)


def circle(rng):
    angles = rng.uniform(0, 2 * np.pi) + np.linspace(
        0, 2 * np.pi, rng.integers(20, 41))
    return [np.stack([np.cos(angles), np.sin(angles)], 1)]


def square(rng):
    return [closed_outline(regular_corners(4), rng.integers(16, 41))]


def triangle(rng):
    return [closed_outline(regular_corners(3), rng.integers(15, 37))]


def star(rng):
    corners = regular_corners(10, radii=(1.0, rng.uniform(0.35, 0.5)))
    return [closed_outline(corners, rng.integers(21, 51))]


def cross(rng):
    """Two strokes: a horizontal bar, then a vertical one."""
    bars = []
    for direction in ([1.0, 0.0], [0.0, 1.0]):
        t = np.linspace(-1, 1, rng.integers(8, 21))
        bars.append(np.outer(t, direction))
    return bars


SHAPES = (circle, square, triangle, star, cross)


def to_stroke3(polylines):
    """Absolute integer polylines -> int16 stroke-3 starting at the origin."""
    points = np.concatenate(polylines)
    pen = np.concatenate(
        [np.arange(len(line)) == len(line) - 1 for line in polylines])
    offsets = np.diff(np.concatenate([[[0, 0]], points]), axis=0)
    return np.column_stack([offsets, pen]).astype(np.int16)


def random_sketch(rng):
    """(one jittered, rotated, stretched shape with 15-60 points, its index
    in SHAPES)."""
    while True:
        label = rng.integers(len(SHAPES))
        polylines = SHAPES[label](rng)
        angle = rng.uniform(0, 2 * np.pi)
        rotation = np.array([[np.cos(angle), -np.sin(angle)],
                             [np.sin(angle), np.cos(angle)]])
        stretch = rng.uniform(40, 110) * np.array([1.0, rng.uniform(0.7, 1.3)])
        shift = rng.uniform(-10, 10, size=2)
        lines = []
        for line in polylines:
            drawn = (line * stretch) @ rotation.T + shift
            drawn = np.round(drawn + rng.normal(0, 1.5, drawn.shape))
            # Rounding can repeat a point; real pen data has no zero moves.
            moved = np.any(np.diff(drawn, axis=0) != 0, axis=1)
            lines.append(drawn[np.concatenate([[True], moved])])
        sketch = to_stroke3(lines)
        if MIN_POINTS <= len(sketch) <= MAX_POINTS:
            return sketch, label


def arrays():
    """{key: array} of the file: the three splits, each split's labels and
    label_names."""
    rng = np.random.default_rng(SEED)
    splits, labels = {}, {}
    for split, size in SPLIT_SIZES.items():
        sketches = np.empty(size, dtype=object)  # ragged, like QuickDraw
        labels[f'{split}_labels'] = np.empty(size, dtype=np.uint8)
        for i in range(size):
            sketches[i], labels[f'{split}_labels'][i] = random_sketch(rng)
        splits[split] = sketches
    return dict(splits, **labels, label_names=np.array([shape.__name__ for shape in SHAPES]))


def main():
    made = arrays()
    np.savez_compressed(OUTPUT, **made)
    print(f'wrote {OUTPUT}: ' + ', '.join(f'{split} {len(made[split])}' for split in SPLIT_SIZES)
          + f', {os.path.getsize(OUTPUT) // 1024} KiB')


if __name__ == '__main__':
    main()
