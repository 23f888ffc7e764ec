"""The batch loader: stroke-3 sketches in, stroke-5 batches out, as
Magenta's sketch_rnn DataLoader serves them."""
import numpy as np

from sketchgen.strokes import SketchDataError, augment_strokes


class DataLoader:
    """Holds stroke-3 sketches sorted by length and serves stroke-5 batches.

    A batch is (list of stroke-3 arrays, x, seq_len): x is float32
    [batch_size, max_seq_length + 1, 5] starting with S_0, seq_len holds each
    sketch's number of points. All randomness comes from `self.rng`, so its
    state can be checkpointed.

    `sources[i]` says where `strokes[i]` came from (load_dataset: its file
    and index there); after preprocessing `self.sources` follows
    `self.strokes`, so a sketch of a batch can be found in its file.
    """

    def __init__(self, strokes, batch_size=100, max_seq_length=250, scale_factor=1.0,
                 random_scale_factor=0.0, augment_stroke_prob=0.0, limit=1000, seed=None,
                 sources=None):
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length  # N_max in the paper
        self.scale_factor = scale_factor  # offsets are divided by this
        self.random_scale_factor = random_scale_factor
        self.augment_stroke_prob = augment_stroke_prob
        self.limit = limit  # clamps |dx|, |dy|: removes huge pen-up jumps
        self.start_stroke_token = [0, 0, 1, 0, 0]  # S_0 in the paper
        self.rng = np.random.RandomState(seed)
        self.sources = list(range(len(strokes)) if sources is None else sources)
        self.preprocess(strokes)

    def preprocess(self, strokes):
        """Keeps sketches of <= max_seq_length points, clamped, float32
        (and their sources)."""
        kept_at = [i for i, sketch in enumerate(strokes) if len(sketch) <= self.max_seq_length]
        kept = [np.clip(strokes[i], -self.limit, self.limit).astype(np.float32) for i in kept_at]
        for sketch in kept:
            sketch[:, 0:2] /= self.scale_factor
        # Magenta's default (quicksort) argsort: the order of equal lengths
        # is whatever numpy's sort gives, which depends on its build and CPU.
        order = np.argsort(np.array([len(sketch) for sketch in kept]))
        self.strokes = [kept[i] for i in order]
        self.sources = [self.sources[kept_at[i]] for i in order]
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

    def augmented_sketches(self, indices):
        """Copies of the sketches at `indices`, randomly scaled and augmented."""
        batch = []
        for i in indices:
            sketch = self.random_scale(self.strokes[i])
            if self.augment_stroke_prob > 0:
                sketch = augment_strokes(
                    sketch, self.augment_stroke_prob, self.rng)
            batch.append(sketch)
        return batch

    def _get_batch_from_indices(self, indices):
        batch = self.augmented_sketches(indices)
        seq_len = np.array([len(sketch) for sketch in batch], dtype=int)
        return batch, self.pad_batch(batch, self.max_seq_length), seq_len

    def random_indices(self, rng=None):
        """Where in self.strokes the sketches of a random batch are: the
        first draw random_batch makes from `rng` (default self.rng)."""
        return (self.rng if rng is None else rng).permutation(len(self.strokes))[:self.batch_size]

    def random_batch(self):
        """batch_size random sketches, randomly scaled and augmented."""
        return self._get_batch_from_indices(self.random_indices())

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
