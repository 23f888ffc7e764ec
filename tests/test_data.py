"""Data loading and stroke helpers: Magenta's semantics, bad-input errors."""

import contextlib
import json
import socket
import types
from pathlib import Path

import numpy as np
import pytest
from needs import needs

import utils
from utils import DataLoader, SketchDataError, load_dataset

import random_sketches
from random_sketches import random_splits, write_splits
from loopback import serving
from tiny import loader_hps

SHARED = Path(__file__).resolve().parents[1].parent / 'shared'


def make_splits(seed=0, sizes=(12, 8, 8), dtype=np.int16):
    return random_splits(seed, sizes, lengths=(5, 40), spread=30, dtype=dtype)


def random_sketch(rng, length):
    return random_sketches.random_sketch(rng, length, spread=30)


def abs_offsets(sketches):
    return np.abs(np.concatenate([s[:, 0:2] for s in sketches])).sum()


# ---------------------------------------------------------------------------
# load_dataset and DataLoader


def test_load_dataset_sets_max_seq_len_and_train_scale_everywhere(tmp_path):
    splits = make_splits()
    splits['valid'][3] = random_sketch(np.random.default_rng(1), 55)
    write_splits(tmp_path / 'a.npz', **splits)
    train, valid, test, hps = load_dataset(str(tmp_path), loader_hps('a.npz'))

    assert hps.max_seq_len == 55  # longest of all splits, here a valid one
    assert train.max_seq_length == valid.max_seq_length == 55
    offsets = np.concatenate([s[:, 0:2] for s in splits['train']])
    scale = np.std(offsets.astype(np.float32).ravel())
    assert train.scale_factor == valid.scale_factor == test.scale_factor
    np.testing.assert_allclose(train.scale_factor, scale, rtol=1e-6)
    for loader, split in ((train, 'train'), (valid, 'valid'), (test, 'test')):
        assert len(loader.strokes) == len(splits[split])
        np.testing.assert_allclose(abs_offsets(loader.strokes),
                                   abs_offsets(splits[split]) / scale,
                                   rtol=1e-5)
        assert loader.num_batches == len(splits[split]) // 4
    assert (train.random_scale_factor, train.augment_stroke_prob) == (0, 0)


def test_only_train_set_gets_random_factors(tmp_path):
    write_splits(tmp_path / 'a.npz', **make_splits())
    hps = loader_hps('a.npz', random_scale_factor=0.15, augment_stroke_prob=0.1)
    train, valid, test, _ = load_dataset(str(tmp_path), hps, seed=3)
    assert (train.random_scale_factor, train.augment_stroke_prob) == (
        0.15, 0.1)
    for loader in (valid, test):
        assert (loader.random_scale_factor, loader.augment_stroke_prob) == (
            0, 0)
    assert train.batch_size == valid.batch_size == test.batch_size == 4
    reloaded = load_dataset(str(tmp_path), hps, seed=3)[0]
    np.testing.assert_array_equal(train.random_batch()[1],
                                  reloaded.random_batch()[1])


def test_preprocess_clamps_drops_long_sketches_and_sorts():
    sketches = [np.zeros((n, 3), np.int16) for n in (7, 3, 12, 5, 3)]
    sketches[0][2] = [5000, -3000, 0]
    loader = DataLoader(sketches, batch_size=2, max_seq_length=10,
                        scale_factor=2.0)
    assert [len(s) for s in loader.strokes] == [3, 3, 5, 7]  # 12 is dropped
    assert loader.num_batches == 2
    assert all(s.dtype == np.float32 for s in loader.strokes)
    # clamped to +-limit, then divided by scale_factor
    np.testing.assert_array_equal(loader.strokes[3][2], [500, -500, 0])


def test_sources_follow_the_sketches_through_filtering_and_sorting(tmp_path):
    sketches = [np.full((n, 3), n, np.int16) for n in (7, 3, 12, 5)]
    loader = DataLoader(sketches, batch_size=2, max_seq_length=10)
    assert loader.sources == [1, 3, 0]  # where each kept sketch was, 12 points dropped
    labelled = DataLoader(sketches, batch_size=2, max_seq_length=10, sources=list('abcd'))
    assert labelled.sources == ['b', 'd', 'a']
    # load_dataset: each sketch's file, split and index there, across files.
    splits = [make_splits(seed) for seed in (1, 2)]
    for name, split in zip(('x.npz', 'y.npz'), splits):
        write_splits(tmp_path / name, **split)
    train, valid, _, _ = load_dataset(str(tmp_path), loader_hps(['x.npz', 'y.npz']))
    assert len(train.sources) == len(train.strokes) == 24
    for (name, split, index), sketch in zip(train.sources + valid.sources,
                                            train.strokes + valid.strokes):
        raw = splits[('x.npz', 'y.npz').index(name)][split][index]
        np.testing.assert_allclose(sketch[:, 0:2] * train.scale_factor, raw[:, 0:2], rtol=1e-5)


def test_random_indices_are_the_sketches_random_batch_draws():
    sketches = [np.full((n, 3), n, np.int16) for n in range(2, 12)]
    loader = DataLoader(sketches, batch_size=4, max_seq_length=20, seed=5)
    indices = loader.random_indices(np.random.RandomState(5))
    batch, _, _ = loader.random_batch()
    assert [len(s) for s in batch] == [len(loader.strokes[i]) for i in indices]


def test_batch_is_stroke5_with_start_token_and_end_padding():
    sketches = [np.array([[1, 2, 0], [3, 4, 1]], np.float32),
                np.array([[5, 6, 0], [7, 8, 0], [9, 10, 1]], np.float32)]
    loader = DataLoader(sketches, batch_size=2, max_seq_length=4)
    strokes3, x, seq_len = loader.get_batch(0)

    assert x.shape == (2, 5, 5) and x.dtype == np.float32
    np.testing.assert_array_equal(seq_len, [2, 3])
    np.testing.assert_array_equal(x[:, 0], [[0, 0, 1, 0, 0]] * 2)  # S_0
    np.testing.assert_array_equal(x[:, 1:], [
        [[1, 2, 1, 0, 0], [3, 4, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1]],
        [[5, 6, 1, 0, 0], [7, 8, 1, 0, 0], [9, 10, 0, 1, 0], [0, 0, 0, 0, 1]]])
    for sketch, original in zip(strokes3, sketches):
        np.testing.assert_array_equal(sketch, original)


def test_int16_and_float64_files_load_the_same(tmp_path):
    splits = make_splits()
    write_splits(tmp_path / 'int.npz', **splits)
    write_splits(tmp_path / 'float.npz',
              **{k: [s.astype(np.float64) for s in v]
                 for k, v in splits.items()})
    from_int = load_dataset(str(tmp_path), loader_hps('int.npz'))
    from_float = load_dataset(str(tmp_path), loader_hps('float.npz'))
    for a, b in zip(from_int[:3], from_float[:3]):
        assert a.scale_factor == b.scale_factor
        for sa, sb in zip(a.strokes, b.strokes):
            np.testing.assert_array_equal(sa, sb)


def test_first_point_at_origin_is_normal_data(tmp_path):
    splits = make_splits()
    for sketches in splits.values():
        sketches[0][0] = [0, 0, 0]
    write_splits(tmp_path / 'a.npz', **splits)
    train = load_dataset(str(tmp_path), loader_hps('a.npz'))[0]
    assert len(train.strokes) == len(splits['train'])


def test_several_data_sets_are_concatenated_in_order(tmp_path, monkeypatch):
    first, second = make_splits(seed=1), make_splits(seed=2)
    write_splits(tmp_path / 'a.npz', **first)
    write_splits(tmp_path / 'b.npz', **second)
    received = []
    original = DataLoader.preprocess

    def spy(loader, strokes):
        received.append(list(strokes))
        original(loader, strokes)

    monkeypatch.setattr(DataLoader, 'preprocess', spy)
    hps = loader_hps(['a.npz', 'b.npz'])
    load_dataset(str(tmp_path), hps)
    for got, split in zip(received, utils.SPLITS):
        want = first[split] + second[split]
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    assert hps.max_seq_len == utils.get_max_len(
        sum((first[s] + second[s] for s in utils.SPLITS), []))


def test_get_batch_is_deterministic_for_valid_sets(tmp_path):
    write_splits(tmp_path / 'a.npz', **make_splits())
    hps = loader_hps('a.npz', random_scale_factor=0.2, augment_stroke_prob=0.3)
    valid = load_dataset(str(tmp_path), hps)[1]
    first = valid.get_batch(1)
    again = valid.get_batch(1)
    np.testing.assert_array_equal(first[1], again[1])
    np.testing.assert_array_equal(first[2], again[2])
    with pytest.raises(IndexError):
        valid.get_batch(valid.num_batches)


def test_random_batch_augments_but_keeps_shape():
    rng = np.random.default_rng(0)
    sketches = [random_sketch(rng, 40) for _ in range(10)]
    for sketch in sketches:
        sketch[:, 2] = 0  # one long stroke: most points may be dropped
        sketch[-1, 2] = 1
    plain = DataLoader(sketches, batch_size=10, max_seq_length=40, seed=0)
    augmented = DataLoader(sketches, batch_size=10, max_seq_length=40,
                           random_scale_factor=0.2, augment_stroke_prob=0.5,
                           seed=0)
    _, x_plain, len_plain = plain.random_batch()
    strokes3, x, seq_len = augmented.random_batch()
    assert x.shape == x_plain.shape == (10, 41, 5)
    np.testing.assert_array_equal(seq_len, [len(s) for s in strokes3])
    assert np.all(seq_len <= len_plain) and np.any(seq_len < len_plain)
    assert not np.array_equal(x, x_plain)
    # every row is still one-hot in its pen state
    np.testing.assert_array_equal(x[:, :, 2:].sum(axis=2), 1)


def test_seeded_rng_is_reproducible_and_resumable():
    rng = np.random.default_rng(0)
    sketches = [random_sketch(rng, int(n)) for n in rng.integers(5, 30, 20)]

    def loader(seed):
        return DataLoader(sketches, batch_size=5, max_seq_length=30,
                          random_scale_factor=0.15, augment_stroke_prob=0.1,
                          seed=seed)

    a, b, c = loader(7), loader(7), loader(8)
    np.testing.assert_array_equal(a.random_batch()[1], b.random_batch()[1])
    assert not np.array_equal(a.random_batch()[1], c.random_batch()[1])
    state = a.rng.get_state()
    expected = a.random_batch()[1]
    a.rng.set_state(state)
    np.testing.assert_array_equal(a.random_batch()[1], expected)
    sample = a.random_sample()
    assert any(np.array_equal(sample, s) for s in a.strokes)


def test_normalize_uses_own_scale_by_default():
    sketches = [np.array([[3, -4, 0], [6, 8, 1]], np.int16)] * 2
    loader = DataLoader(sketches, batch_size=1)
    scale = loader.calculate_normalizing_scale_factor()
    assert scale == pytest.approx(np.std([3, -4, 6, 8]))
    loader.normalize()
    assert loader.scale_factor == scale
    assert loader.calculate_normalizing_scale_factor() == pytest.approx(1.0)


def test_embedded_shapes_dataset_loads():
    folder = Path(__file__).resolve().parents[1] / 'datasets'
    hps = loader_hps('shapes.npz', batch_size=100)
    train, valid, test, hps = load_dataset(str(folder), hps)
    assert (train.num_batches, valid.num_batches, test.num_batches) == (
        20, 2, 2)
    assert 15 <= len(train.strokes[0]) and hps.max_seq_len <= 60
    assert train.scale_factor > 1  # pixel-scale offsets


# ---------------------------------------------------------------------------
# Bad input: one SketchDataError, one line, naming the file


def closed_url():
    """The URL of a loopback port that nothing listens on."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return f'http://127.0.0.1:{s.getsockname()[1]}'


def assert_names_file(err, name):
    message = str(err.value)
    assert name in message and '\n' not in message, message


def test_missing_file_says_where_to_get_it(tmp_path, monkeypatch):
    offline = closed_url()
    monkeypatch.setenv('SKETCHGEN_QUICKDRAW_URL', offline)
    with pytest.raises(SketchDataError) as err:
        load_dataset(str(tmp_path), loader_hps('cat.npz'))
    assert_names_file(err, str(tmp_path / 'cat.npz'))
    assert f'{offline}/cat.npz: download failed' in str(err.value)
    assert f'fetch it by hand into {tmp_path}' in str(err.value)
    assert '--data_set shapes' in str(err.value)
    assert not (tmp_path / 'cat.npz').exists()


def test_second_missing_file_of_a_list_is_named(tmp_path):
    write_splits(tmp_path / 'a.npz', **make_splits())
    with pytest.raises(SketchDataError) as err:
        load_dataset(str(tmp_path), loader_hps(['a.npz', 'b.npz']))
    assert_names_file(err, 'b.npz')


@pytest.mark.parametrize('data_set', [[], '', ['']])
def test_empty_data_set_is_an_error(tmp_path, data_set):
    with pytest.raises(SketchDataError, match='data_set is empty'):
        load_dataset(str(tmp_path), loader_hps(data_set))


# ---------------------------------------------------------------------------
# http(s) data_dir


@pytest.fixture
def http_dir(tmp_path, monkeypatch):
    """(served folder, base URL, stop()) for a loopback HTTP server."""
    served = tmp_path / 'served'
    served.mkdir()
    monkeypatch.setenv('SKETCHGEN_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setenv('no_proxy', '127.0.0.1')
    with contextlib.ExitStack() as server:
        yield served, server.enter_context(serving(served)), server.close


def test_url_data_dir_downloads_once_and_reuses_cache(tmp_path, http_dir):
    served, url, stop = http_dir
    splits = make_splits()
    write_splits(served / 'a.npz', **splits)

    with pytest.raises(SketchDataError) as err:
        load_dataset(url, loader_hps('missing.npz'))
    assert_names_file(err, f'{url}/missing.npz')

    train = load_dataset(url, loader_hps('a.npz'))[0]
    assert len(list((tmp_path / 'cache' / 'datasets').glob('127.0.0.1_*/a.npz'))) == 1
    stop()  # a second load must not need the server
    again = load_dataset(url + '/', loader_hps('a.npz'))[0]
    assert len(again.strokes) == len(train.strokes) == len(splits['train'])
    assert again.scale_factor == train.scale_factor


# ---------------------------------------------------------------------------
# Stroke helpers


def test_stroke3_stroke5_round_trip():
    sketch = random_sketch(np.random.default_rng(0), 9).astype(float)
    big = utils.to_big_strokes(sketch, max_len=12)
    assert big.shape == (12, 5)
    np.testing.assert_array_equal(big[:9, 2] + big[:9, 3], 1)
    np.testing.assert_array_equal(big[9:], [[0, 0, 0, 0, 1]] * 3)
    np.testing.assert_array_equal(utils.to_normal_strokes(big), sketch)
    with pytest.raises(SketchDataError):
        utils.to_big_strokes(sketch, max_len=8)


def test_to_normal_strokes_without_end_flag_keeps_all_rows():
    big = np.array([[1, 2, 1, 0, 0], [3, 4, 0, 1, 0]])
    np.testing.assert_array_equal(utils.to_normal_strokes(big),
                                  [[1, 2, 0], [3, 4, 1]])


def test_lines_strokes_round_trip():
    sketch = random_sketch(np.random.default_rng(0), 15)
    lines = utils.strokes_to_lines(sketch)
    assert sum(len(line) for line in lines) == 15
    assert lines[0][0] == sketch[0, 0:2].tolist()  # absolute positions
    np.testing.assert_array_equal(utils.lines_to_strokes(lines), sketch)


def test_strokes_to_lines_drops_points_after_last_lift():
    sketch = np.array([[1, 1, 0], [1, 1, 1], [2, 2, 0]])
    assert utils.strokes_to_lines(sketch) == [[[1.0, 1.0], [2.0, 2.0]]]


def test_augment_strokes_keeps_stroke_ends_and_total_offset():
    sketch = np.zeros((30, 3), np.float32)
    sketch[:, 0:2] = np.random.default_rng(0).normal(size=(30, 2))
    sketch[[9, 29], 2] = 1
    result = utils.augment_strokes(sketch, prob=1.0,
                                   rng=np.random.RandomState(0))
    # per stroke: its first three points and the lifting point survive
    np.testing.assert_array_equal(result[:, 2], [0, 0, 0, 1, 0, 0, 0, 1])
    np.testing.assert_allclose(result[:, 0:2].sum(axis=0),
                               sketch[:, 0:2].sum(axis=0), rtol=1e-5)
    unchanged = utils.augment_strokes(sketch, prob=0.0)
    np.testing.assert_array_equal(unchanged, sketch)


def test_slerp_and_lerp_endpoints():
    p0, p1 = np.array([1.0, 0.0, 2.0]), np.array([0.0, 3.0, 1.0])
    for interpolate in (utils.slerp, utils.lerp):
        np.testing.assert_allclose(interpolate(p0, p1, 0.0), p0, atol=1e-12)
        np.testing.assert_allclose(interpolate(p0, p1, 1.0), p1, atol=1e-12)
    unit0, unit1 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    np.testing.assert_allclose(utils.slerp(unit0, unit1, 0.5),
                               np.sqrt([0.5, 0.5]))


def test_clean_strokes_cuts_at_end_and_rounds():
    sample = np.array([[0.014, -0.026, 1, 0, 0],
                       [0.125, 0.5, 0, 1, 0],
                       [0.3, 0.3, 0, 0, 1],
                       [9.0, 9.0, 1, 0, 0]])
    assert utils.clean_strokes(sample) == [[1, -3, 1, 0, 0],
                                           [12, 50, 0, 1, 0],
                                           [0, 0, 0, 0, 1]]
    assert utils.clean_strokes(sample[:2])[-1] == [0, 0, 0, 0, 1]


def test_bounds_scale_bound_and_max_len():
    sketch = np.array([[10.0, -20.0, 0], [-30.0, 50.0, 1]])
    assert utils.get_bounds(sketch, factor=10) == (-2.0, 1.0, -2.0, 3.0)
    utils.scale_bound(sketch, average_dimension=5.0)
    min_x, max_x, min_y, max_y = utils.get_bounds(sketch, factor=1)
    assert max(max_x - min_x, max_y - min_y) == pytest.approx(5.0)
    assert utils.get_max_len([np.zeros((3, 3)), np.zeros((8, 3))]) == 8
    assert utils.get_max_len([]) == 0


# ---------------------------------------------------------------------------
# Facts about the real data sets that Magenta's loader computed


REFERENCES = sorted((SHARED / 'reference').glob('*/expected.json'))


@needs(REFERENCES, '../shared/reference is absent')
@pytest.mark.parametrize('expected_file', REFERENCES,
                         ids=[p.parent.name for p in REFERENCES])
def test_reference_data_facts(expected_file):
    config = json.loads((expected_file.parent / 'model_config.json')
                        .read_text())
    expected = json.loads(expected_file.read_text())
    hps = types.SimpleNamespace(**config)
    train, valid, test, hps = load_dataset(str(SHARED / 'datasets'), hps)

    assert hps.max_seq_len == expected['max_seq_len']
    assert train.scale_factor == pytest.approx(
        expected['normalizing_scale_factor'], rel=1e-4)
    assert {'train': train.num_batches, 'valid': valid.num_batches,
            'test': test.num_batches} == expected['num_batches']
    _, x, seq_len = valid.get_batch(0)
    assert seq_len.tolist() == expected['valid_batch0_seq_len']

    x_sum = np.abs(x.astype(np.float64)).sum()
    if x_sum == pytest.approx(expected['valid_batch0_x_sum'], rel=1e-6):
        return
    # Magenta sorts by length with numpy's default (unstable) argsort, whose
    # order of equal lengths depends on numpy's build and CPU. If batch 0
    # ends inside such a tie (here the kanji sets, on CPUs without AVX-512),
    # the expected sum must be one that some choice of the tied sketches gives.
    last = seq_len[-1]
    tied = np.sort([np.abs(s[:, 0:2]).sum(dtype=np.float64)
                    for s in valid.strokes if len(s) == last])
    if len(tied) == np.count_nonzero(seq_len == last):
        pytest.fail(f'valid_batch0_x_sum {x_sum} != '
                    f"{expected['valid_batch0_x_sum']}")
    shorter = sum(np.abs(s[:, 0:2]).sum(dtype=np.float64)
                  for s in valid.strokes if len(s) < last)
    padding = x.shape[0] * x.shape[1]  # S_0, pen and end rows: one 1 each
    taken = np.count_nonzero(seq_len == last)
    assert (shorter + tied[:taken].sum() + padding
            <= expected['valid_batch0_x_sum'] * (1 + 1e-6))
    assert (shorter + tied[-taken:].sum() + padding
            >= expected['valid_batch0_x_sum'] * (1 - 1e-6))
