"""Length-bucketed training batches (`--length_buckets`): each batch holds
sketches of similar length and stops at its length bucket, so the decoder
skips most of the padding steps that Magenta's full-length batches run.

An epoch (the train set's num_batches steps) is planned from (seed, epoch)
alone: a random permutation of the train set keeps its first
num_batches x batch_size sketches (each once; the few left over change from
epoch to epoch), orders them by length bucket, stably, so that each
bucket's sketches stay in random order, cuts them into batches and shuffles
the batches.  Step k trains batch k mod num_batches of epoch
k // num_batches's plan, randomly scaled and augmented by the loader's rng
seeded with (seed, k), as the default mode does: the batch of a step
depends only on (seed, step), so a resumed run sees the same batches."""
import numpy as np

BUCKET_STEPS = 16  # decoder lengths are multiples of this (or max_seq_len)


def bucket_length(longest, max_seq_len):
    """Decoder steps for a batch whose longest sketch has `longest` points:
    those points and the end-of-sketch step after them, rounded up to a
    multiple of BUCKET_STEPS, at most max_seq_len (where a sketch of
    max_seq_len points has no end-of-sketch step, as in Magenta)."""
    steps = -(-(np.asarray(longest) + 1) // BUCKET_STEPS) * BUCKET_STEPS
    return np.minimum(steps, max_seq_len)


def bucket_lengths(max_seq_len):
    """Every length bucket_length returns: the multiples of BUCKET_STEPS
    below max_seq_len, and max_seq_len.  XLA compiles the decoder's loops
    once for each length it meets."""
    return list(range(BUCKET_STEPS, max_seq_len, BUCKET_STEPS)) + [max_seq_len]


def epoch_plan(lengths, batch_size, max_seq_len, seed, epoch):
    """The batches of one epoch in training order: [num_batches, batch_size]
    indices of the sketches whose lengths (points) are `lengths`."""
    lengths = np.asarray(lengths)
    num_batches = len(lengths) // batch_size
    rng = np.random.default_rng([seed, epoch])
    kept = rng.permutation(len(lengths))[:num_batches * batch_size]
    by_bucket = kept[np.argsort(bucket_length(lengths[kept], max_seq_len), kind='stable')]
    return by_bucket.reshape(num_batches, batch_size)[rng.permutation(num_batches)]


def decoder_steps_saved(lengths, batch_size, max_seq_len, seed=0, epochs=1):
    """The fraction of Magenta's decoder steps (max_seq_len a batch) that
    `epochs` epochs of planned batches skip, before augmentation (which only
    drops points, so saves a little more)."""
    lengths = np.asarray(lengths)
    steps = sum(bucket_length(lengths[plan].max(axis=1), max_seq_len).sum()
                for plan in (epoch_plan(lengths, batch_size, max_seq_len, seed, epoch)
                             for epoch in range(epochs)))
    return 1.0 - steps / (epochs * (len(lengths) // batch_size) * max_seq_len)


class LengthBucketedBatches:
    """The training batches of a DataLoader, each cut to its length bucket."""

    def __init__(self, data_loader, seed):
        self.loader, self.seed = data_loader, seed
        self.lengths = np.array([len(sketch) for sketch in data_loader.strokes])
        self._plan = (None, None)  # (epoch, its plan): the one being trained

    def indices(self, step):
        """The train set's sketches (positions in length order) of global step `step`."""
        epoch, position = divmod(step, self.loader.num_batches)
        if self._plan[0] != epoch:
            self._plan = epoch, epoch_plan(self.lengths, self.loader.batch_size,
                                           self.loader.max_seq_length, self.seed, epoch)
        return self._plan[1][position]

    def batch(self, step):
        """(stroke-3 sketches, x, seq_len) of global step `step`, as
        DataLoader.random_batch returns them, with x [batch_size, L + 1, 5]
        for L = bucket_length of the longest sketch after augmentation."""
        loader = self.loader
        loader.rng.seed([self.seed, step])
        sketches = loader.augmented_sketches(self.indices(step))
        seq_len = np.array([len(sketch) for sketch in sketches], dtype=int)
        steps = int(bucket_length(seq_len.max(), loader.max_seq_length))
        return sketches, loader.pad_batch(sketches, steps), seq_len
