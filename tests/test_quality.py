"""The recognisability score (sketchgen/quality.py): its classifier
recognises held-out real shapes, rejects partial and scrambled ones, and
the score reads its classes from the run's data."""
import importlib.util
import os

import numpy as np
import pytest

import seq2seqVAE as S
import seq2seqVAE_train as T
from cli import run_main
from random_sketches import random_splits, sketch_array, write_splits
from sketchgen import quality
from sketchgen.safe_npz import NpzReader
from sketchgen.strokes import SketchDataError
from tiny import TINY_HPARAMS, tiny_hps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES_DIR = os.path.join(ROOT, 'datasets')
SHAPE_NAMES = ['circle', 'square', 'triangle', 'star', 'cross']


def test_shape_labels_are_the_generators():
    """datasets/make_shapes.py draws shapes.npz again, labels included: each
    label is the shape its sketch was drawn as, and the sketches are the file's."""
    path = os.path.join(SHAPES_DIR, 'make_shapes.py')
    spec = importlib.util.spec_from_file_location('make_shapes', path)
    make_shapes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_shapes)
    made = make_shapes.arrays()
    with NpzReader(os.path.join(SHAPES_DIR, 'shapes.npz')) as stored:
        assert sorted(stored.files) == sorted(made)
        assert list(stored['label_names']) == SHAPE_NAMES
        for split in ('train', 'valid', 'test'):
            assert [s.tobytes() for s in stored[split]] == [s.tobytes() for s in made[split]]
            np.testing.assert_array_equal(stored[f'{split}_labels'], made[f'{split}_labels'])


def shapes_hps():
    return tiny_hps(data_set=['shapes.npz'], max_seq_len=60)


@pytest.fixture(scope='module')
def shapes_classifier():
    """(classifier trained on shapes.npz's train split, its test split), seed 0."""
    return quality.train_classifier(SHAPES_DIR, shapes_hps(), scale_factor=1.0, seed=0)


def test_classifier_recognises_held_out_shapes(shapes_classifier):
    classifier, test = shapes_classifier
    assert classifier.names == test.names == SHAPE_NAMES
    assert len(test.sketches) == 200 and set(test.labels) == set(range(5))
    found = classifier.recognise(test.sketches)
    assert np.mean(found == test.labels) >= 0.95
    for label in range(5):  # no shape is left to the others
        assert np.mean(found[test.labels == label] == label) >= 0.85, SHAPE_NAMES[label]


def test_classifier_rejects_partial_and_scrambled_shapes(shapes_classifier):
    classifier, test = shapes_classifier
    made = quality.partial_and_scrambled(test.sketches, np.random.default_rng(123))
    assert np.mean(classifier.recognise(made) == quality.UNRECOGNISED) >= 0.9


def test_classifier_is_seeded():
    """The same seed trains the same classifier (a small one, to stay cheap)."""
    hps = shapes_hps()
    train = quality.labelled_split(SHAPES_DIR, hps, 'train', 1.0, per_class=20, seed=3)
    probe = quality.labelled_split(SHAPES_DIR, hps, 'test', 1.0, per_class=4).sketches
    first, second, other = (quality.Classifier(train.names, seed).fit(train, epochs=2)
                            .probabilities(probe) for seed in (0, 0, 1))
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_empty_sketches():
    drawn = np.array([[1.0, 0, 0], [0, 1, 0], [-1, 0, 1]])
    assert not quality.is_empty(drawn)
    assert quality.is_empty(drawn[:2])                      # two points
    assert quality.is_empty(np.array([[1.0, 0, 1]] * 5))    # every point lifts the pen
    assert quality.is_empty(np.array([[0.0, 0, 0]] * 5))    # a line of no length
    assert quality.is_empty(np.zeros((0, 3)))
    classifier = quality.Classifier(['a', 'b'])
    found = classifier.recognise([drawn[:2], np.zeros((0, 3))])
    assert list(found) == [quality.EMPTY, quality.EMPTY]


def test_classes_are_the_data_sets_or_the_labels(tmp_path):
    """Several data sets: one class each, in order, every sketch kept.  One
    data set: its labels, or None without them (nothing to tell apart)."""
    for name, seed in (('a', 1), ('b', 2)):
        write_splits(tmp_path / f'{name}.npz', **random_splits(seed, (6, 5, 4)))
    both = quality.labelled_split(tmp_path, tiny_hps(data_set=['a.npz', 'b.npz']), 'valid', 2.0)
    assert both.names == ['a', 'b'] and list(both.labels) == [0] * 5 + [1] * 5
    a_valid = [s.astype(np.float32) for s in random_splits(1, (6, 5, 4))['valid']]
    for s in a_valid:
        s[:, 0:2] /= 2.0  # the offsets in the model's units
    assert sorted(s.tobytes() for s in both.sketches[:5]) == sorted(s.tobytes() for s in a_valid)
    assert quality.labelled_split(tmp_path, tiny_hps(data_set=['a.npz']), 'valid', 1.0) is None

    splits = random_splits(3, (6, 5, 4))
    np.savez(tmp_path / 'labelled.npz', **{k: sketch_array(v) for k, v in splits.items()},
             train_labels=np.array([0, 1, 2, 0, 1, 2]), valid_labels=np.array([2, 2, 0, 0, 0]),
             test_labels=np.array([1, 1, 1, 1]), label_names=np.array(['x', 'y', 'z']))
    labelled = quality.labelled_split(tmp_path, tiny_hps(data_set=['labelled.npz']), 'valid', 1.0)
    assert labelled.names == ['x', 'y', 'z'] and list(labelled.labels) == [0, 0, 0, 2, 2]


def test_labels_that_do_not_fit_are_one_line(tmp_path):
    splits = random_splits(3, (6, 5, 4))
    np.savez(tmp_path / 'bad.npz', **{k: sketch_array(v) for k, v in splits.items()},
             train_labels=np.array([0, 1, 2, 0, 1, 5]), valid_labels=np.zeros(5, int),
             test_labels=np.zeros(4, int), label_names=np.array(['x', 'y', 'z']))
    with pytest.raises(SketchDataError, match=r"bad.npz: 'train_labels' must hold one index"):
        quality.labelled_split(tmp_path, tiny_hps(data_set=['bad.npz']), 'train', 1.0)


def test_score_of_a_model(shapes_classifier):
    """An untrained tiny model: the score counts every sample and reconstruction
    and says what it measured."""
    classifier, test = shapes_classifier
    model = S.Seq2seqModel(shapes_hps(), seed=0)
    score = quality.measure(model, classifier, test, num_samples=12, num_reconstructions=10)
    assert score.held_out >= 0.95 and score.held_out_count == 200
    assert sorted(score.samples) == list(quality.TEMPERATURES)
    assert all(len(found) == 12 for found in score.samples.values())
    assert score.reconstructed_count == 10 and 0 <= score.reconstructed <= 1
    lines = score.lines()
    assert lines[0].startswith('recognisability: a classifier of circle, square, triangle, star, '
                               'cross (or unrecognised)')
    assert len(lines) == 2 + len(quality.TEMPERATURES)
    assert lines[1].startswith('  12 samples at temperature 0.2: recognised ')
    assert lines[-1].startswith('  10 test sketches reconstructed at temperature 0.3: ')


@pytest.mark.slow
def test_evaluate_prints_the_score_of_a_run_over_two_data_sets(tmp_path, monkeypatch):
    for name, seed in (('a', 1), ('b', 2)):
        write_splits(tmp_path / f'{name}.npz', **random_splits(seed, (16, 8, 8)))
    experiments = tmp_path / 'experiments'
    trained = run_main(T.main, '--data_dir', tmp_path, '--data_set', 'a', 'b', '--epochs', 1,
                       '--experiment_dir', experiments, '--seed', 1, '--samples', 0,
                       '--hparams', TINY_HPARAMS)
    assert trained.code == 0, trained.err
    monkeypatch.setattr(quality, 'EPOCHS', 1)
    result = run_main(T.main, '--evaluate', experiments / 'a_b' / 'exp')
    assert result.code == 0, result.err
    assert 'recognisability: a classifier of a, b (or unrecognised)' in result.out
    assert '16 test sketches reconstructed at temperature 0.3' in result.out
