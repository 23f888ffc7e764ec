"""Random QuickDraw-style sketches and the .npz files the tests read."""
import numpy as np

SPLITS = ('train', 'valid', 'test')


def random_sketch(rng, length, spread=20, dtype=np.int16):
    """A stroke-3 sketch: offsets in [-spread, spread], a pen lift every few points."""
    sketch = np.zeros((length, 3))
    sketch[:, 0:2] = rng.integers(-spread, spread + 1, size=(length, 2))
    sketch[rng.random(length) < 0.2, 2] = 1
    sketch[-1, 2] = 1
    return sketch.astype(dtype)


def sketch_array(items):
    """An object array of `items`, set one by one: equal shapes would broadcast."""
    array = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        array[i] = item
    return array


def write_splits(path, **splits):
    """An .npz of the given arrays, each a list of sketches (or other items)."""
    np.savez(path, **{name: sketch_array(items) for name, items in splits.items()})
    return path


def random_splits(seed, sizes, lengths=(4, 16), spread=20, dtype=np.int16):
    """{split: list of sketches} of `sizes` random sketches."""
    rng = np.random.default_rng(seed)
    return {split: [random_sketch(rng, rng.integers(*lengths), spread, dtype)
                    for _ in range(size)]
            for split, size in zip(SPLITS, sizes)}


def write_npz(path, seed, sizes, lengths=(4, 16)):
    """train/valid/test splits of `sizes` random int16 stroke-3 sketches."""
    return write_splits(path, **random_splits(seed, sizes, lengths))


def write_npz_with(path, split, item, index=1):
    """A good 8/8/8 file whose split[index] is `item`."""
    splits = random_splits(0, (8, 8, 8))
    splits[split][index] = item
    return write_splits(path, **splits)
