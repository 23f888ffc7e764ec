"""Recognisability: the share of a model's sketches that a small classifier,
trained on renders of the run's own training sketches, recognises.

The classes are the run's data sets when it trains on several, or the
labels of a single data set that names them (`{split}_labels` indices into
`label_names`, as datasets/shapes.npz has).  One more class, `unrecognised`,
is trained on partial and scrambled training sketches, so an open outline
or a scribble does not count as a shape, however sure a softmax over the
real classes would be.  A sketch is recognised when the classifier gives a
real class a probability of at least CONFIDENCE; an empty sketch (fewer
than MIN_POINTS points, or no pen-down line of any length) never is.
"""
from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from sketchgen import loading, raster, safe_npz, sampling
from sketchgen.batches import DataLoader
from sketchgen.strokes import SketchDataError, pen_runs, to_big_strokes, to_normal_strokes

IMAGE_SIZE = 28       # pixels of the square renders the classifier reads
CONFIDENCE = 0.9      # the least probability of a recognised sketch's class
MIN_POINTS = 3        # fewer points: an empty sketch
PER_CLASS = 2000      # at most this many training sketches of each class
EPOCHS = 16
PARTIAL = (0.2, 0.8)  # the share of its points a partial sketch keeps
TEMPERATURES = (0.2, 0.6, 1.0)
RECONSTRUCT_TEMPERATURE = 0.3  # the README's reconstruct command's
EMPTY, UNRECOGNISED = -2, -1   # what `Classifier.recognise` returns besides class indices


@dataclasses.dataclass
class Labelled:
    """Sketches (stroke-3, in the model's normalised units) with class indices."""
    names: list
    sketches: list
    labels: np.ndarray


def labelled_split(data_dir, hps, split, scale_factor, per_class=None, seed=0):
    """The run's sketches of `split` in classes: one per data set when
    hps.data_set names several, else the file's own labels.  None when the
    sketches fall into fewer than two classes (nothing to tell apart).
    per_class: keep at most this many sketches of each class (a seeded
    choice).  Offsets are divided by `scale_factor`, as the loader does."""
    data_dir = os.fspath(data_dir)
    data_sets = [hps.data_set] if isinstance(hps.data_set, str) else list(hps.data_set)
    if len(data_sets) > 1:
        names = [name[:-4] if name.endswith('.npz') else name for name in data_sets]
        groups = [_read_split(data_dir, name, split) for name in data_sets]
    else:
        names, groups = _labelled_groups(data_dir, data_sets[0], split)
    if len(names) < 2:
        return None
    rng = np.random.default_rng(seed)
    sketches, labels = [], []
    for label, group in enumerate(groups):
        if per_class is not None and len(group) > per_class:
            group = [group[i] for i in np.sort(rng.choice(len(group), per_class, replace=False))]
        # The loader's own preprocessing: clamped, no longer than max_seq_len, normalised.
        loader = DataLoader(group, batch_size=1, max_seq_length=hps.max_seq_len)
        loader.normalize(scale_factor)
        sketches += loader.strokes
        labels += [label] * len(loader.strokes)
    return Labelled(names, sketches, np.array(labels))


def _read_split(data_dir, name, split):
    return loading.read_data_set(data_dir, name)[2][split]


def _labelled_groups(data_dir, name, split):
    """(label names, sketches of each label) of one file; ([], []) if unlabelled."""
    path, source, splits = loading.read_data_set(data_dir, name)
    sketches = splits[split]
    key = f'{split}_labels'
    with safe_npz.NpzReader(path) as archive:
        if key not in archive.files or 'label_names' not in archive.files:
            return [], []
        labels, names = archive[key], archive['label_names']
    if (labels.shape != (len(sketches),) or not np.issubdtype(labels.dtype, np.integer)
            or names.ndim != 1 or not np.isin(labels, np.arange(len(names))).all()):
        raise SketchDataError(f"{source}: '{key}' must hold one index into label_names "
                              f'({len(names)} names) for each of its {len(sketches)} {split} '
                              'sketches')
    return [str(n) for n in names], [[sketches[i] for i in np.flatnonzero(labels == label)]
                                     for label in range(len(names))]


# --------------------------------------------------------------------------
# The classifier
# --------------------------------------------------------------------------
def is_empty(strokes):
    """Fewer than MIN_POINTS points, or no pen-down line of any length."""
    if len(strokes) < MIN_POINTS:
        return True
    points, _ = raster.pen_points(strokes)
    return not any(stop - start > 1 and np.ptp(points[start:stop], axis=0).any()
                   for start, stop, _ in pen_runs(strokes))


def rasters(sketches):
    """Stroke-3 sketches -> float32 [N, IMAGE_SIZE, IMAGE_SIZE, 1], ink 1, paper 0,
    each scaled to fit (so the classes are told apart by shape, not size)."""
    images = [np.asarray(raster.render(s, IMAGE_SIZE, margin=2, line_width=1)) for s in sketches]
    return (1.0 - np.stack(images).astype(np.float32) / 255.0)[..., None]


def partial_and_scrambled(sketches, rng):
    """Sketches that are no class: alternately the first PARTIAL share of a
    sketch's points (an open, partial outline) and its offsets in a
    random order (a scribble of its own step sizes)."""
    made = []
    for i, sketch in enumerate(sketches):
        if i % 2:
            made.append(sketch[rng.permutation(len(sketch))])
        else:
            made.append(sketch[:max(MIN_POINTS, int(rng.uniform(*PARTIAL) * len(sketch)))])
    return made


def _network(num_classes, seed):
    init = lambda k: keras.initializers.GlorotUniform(seed=seed + k)  # noqa: E731
    return keras.Sequential([
        keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1)),
        keras.layers.Conv2D(16, 3, padding='same', activation='relu', kernel_initializer=init(0)),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding='same', activation='relu', kernel_initializer=init(1)),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation='relu', kernel_initializer=init(2)),
        keras.layers.Dense(num_classes, activation='softmax', kernel_initializer=init(3)),
    ], name='sketch_classifier')


class Classifier:
    """A small CNN over IMAGE_SIZE renders: the data's classes plus `unrecognised`."""

    def __init__(self, names, seed=0):
        self.names = list(names)
        self.network = _network(len(self.names) + 1, seed)
        self.seed = seed

    def fit(self, labelled, epochs=None):
        """Trains on `labelled` and as many partial and scrambled sketches."""
        rng = np.random.default_rng(self.seed)
        negatives = partial_and_scrambled(labelled.sketches, rng)
        images = rasters(labelled.sketches + negatives)
        targets = np.concatenate([labelled.labels, np.full(len(negatives), len(self.names))])
        batches = (tf.data.Dataset.from_tensor_slices((images, targets))
                   .shuffle(len(images), seed=self.seed).batch(64))
        self.network.compile(optimizer=keras.optimizers.Adam(0.003),
                             loss='sparse_categorical_crossentropy')
        self.network.fit(batches, epochs=epochs or EPOCHS, shuffle=False, verbose=0)
        return self

    def probabilities(self, sketches):
        """[N, classes + 1] for non-empty stroke-3 sketches."""
        images = rasters(sketches)
        # Called eagerly: `predict` would trace a function for every new count.
        return np.concatenate([self.network(images[i:i + 1024], training=False).numpy()
                               for i in range(0, len(images), 1024)])

    def recognise(self, sketches):
        """Each sketch's class index where recognised with CONFIDENCE, else
        UNRECOGNISED, or EMPTY."""
        result = np.full(len(sketches), EMPTY)
        drawn = [i for i, s in enumerate(sketches) if not is_empty(s)]
        if drawn:
            p = self.probabilities([sketches[i] for i in drawn])
            best = p.argmax(-1)
            sure = (best < len(self.names)) & (p.max(-1) >= CONFIDENCE)
            result[drawn] = np.where(sure, best, UNRECOGNISED)
        return result


# --------------------------------------------------------------------------
# The score of a model
# --------------------------------------------------------------------------
@dataclasses.dataclass
class Score:
    names: list
    held_out: float          # the classifier's share of held-out real sketches recognised as theirs
    held_out_count: int
    samples: dict            # temperature -> Classifier.recognise's result for its samples
    reconstructed: float     # share of reconstructions recognised as their input's class (None: decoder-only)
    reconstructed_count: int

    def recognised(self, temperature):
        return float(np.mean(self.samples[temperature] >= 0))

    def empty(self, temperature):
        return float(np.mean(self.samples[temperature] == EMPTY))

    def lines(self):
        """The score, as --evaluate and bench/quality.py print it."""
        out = [f'recognisability: a classifier of {", ".join(self.names)} (or unrecognised) on '
               f'{IMAGE_SIZE}px renders recognises {self.held_out:.1%} of {self.held_out_count} '
               f'held-out real sketches as theirs (recognised: p >= {CONFIDENCE}; empty: '
               f'< {MIN_POINTS} points or nothing drawn)']
        for t, found in self.samples.items():
            classes = ', '.join(f'{name} {np.sum(found == i)}' for i, name in enumerate(self.names))
            out.append(f'  {len(found)} samples at temperature {t}: recognised {self.recognised(t):.1%}, '
                       f'empty {self.empty(t):.1%} ({classes}, unrecognised '
                       f'{np.sum(found == UNRECOGNISED)})')
        if self.reconstructed_count:
            out.append(f'  {self.reconstructed_count} test sketches reconstructed at temperature '
                       f'{RECONSTRUCT_TEMPERATURE}: {self.reconstructed:.1%} recognised as their '
                       "input's class")
        return out


def train_classifier(data_dir, hps, scale_factor, seed=0):
    """(Classifier trained on the run's training sketches, the test split),
    or None when the run's data has fewer than two classes."""
    train = labelled_split(data_dir, hps, 'train', scale_factor, PER_CLASS, seed)
    if train is None:
        return None
    test = labelled_split(data_dir, hps, 'test', scale_factor, PER_CLASS, seed)
    return Classifier(train.names, seed).fit(train), test


def posterior_means(model, sketches):
    """z = the posterior mean of each stroke-3 sketch (normalised), [N, z_size]."""
    padded = np.stack([to_big_strokes(s, model.hps.max_seq_len) for s in sketches])
    mu, _ = model.encode(tf.constant(padded, tf.float32),
                         tf.constant([len(s) for s in sketches], tf.int32))
    return mu.numpy()


def score(model, data_dir, scale_factor, seed=0, **counts):
    """The model's Score with a classifier trained on its data (see
    `measure` for counts), or None when its data has fewer than two classes."""
    trained = train_classifier(data_dir, model.hps, scale_factor, seed)
    return None if trained is None else measure(model, *trained, seed=seed, **counts)


def measure(model, classifier, test, num_samples=200, num_reconstructions=200, seed=0):
    """The model's Score.  Samples: num_samples at each of TEMPERATURES from
    the prior; reconstructions (conditional models): up to num_reconstructions
    of the `test` sketches, evenly spaced, each decoded once from its
    posterior mean."""
    held_out = classifier.recognise(test.sketches) == test.labels
    samples = {}
    for t in TEMPERATURES:
        drawn = sampling.sample_batch(model, num_samples, model.hps.max_seq_len, t, seed=seed)
        samples[t] = classifier.recognise([to_normal_strokes(s) for s in drawn])
    reconstructed = np.zeros(0, bool)
    if model.hps.conditional:
        chosen = np.unique(np.linspace(0, len(test.sketches) - 1, num_reconstructions).astype(int))
        inputs = [test.sketches[i] for i in chosen]
        decoded = sampling.sample_batch(model, len(inputs), model.hps.max_seq_len,
                                        RECONSTRUCT_TEMPERATURE, z=posterior_means(model, inputs),
                                        seed=seed)
        reconstructed = classifier.recognise([to_normal_strokes(s) for s in decoded]) == test.labels[chosen]
    return Score(classifier.names, float(held_out.mean()), len(held_out), samples,
                 float(reconstructed.mean()) if len(reconstructed) else None, len(reconstructed))
