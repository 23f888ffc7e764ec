"""Small random QuickDraw-style .npz files for the training tests."""
import numpy as np


def write_npz(path, seed, sizes, lengths=(4, 16)):
    """train/valid/test splits of `sizes` random int16 stroke-3 sketches."""
    rng = np.random.default_rng(seed)
    splits = {}
    for split, size in zip(('train', 'valid', 'test'), sizes):
        sketches = np.empty(size, dtype=object)
        for i in range(size):
            sketch = np.zeros((rng.integers(*lengths), 3), dtype=np.int16)
            sketch[:, 0:2] = rng.integers(-20, 21, size=(len(sketch), 2))
            sketch[rng.random(len(sketch)) < 0.2, 2] = 1
            sketch[-1, 2] = 1
            sketches[i] = sketch
        splits[split] = sketches
    np.savez(path, **splits)
