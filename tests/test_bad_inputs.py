"""A corpus of bad data files, generated here: each one ends the training
command in one line on stderr naming the file and the problem (exit status
2, no traceback, no experiment file changed), or is handled as Magenta
handles it.  The command runs in this process: a subprocess each would cost
seconds."""
import io
import os
import zipfile

import numpy as np
import pytest
import tensorflow as tf
from cli import run_training
from experiment_files import files
from random_sketches import write_npz, write_npz_with
from tiny import TINY_HPARAMS, loader_hps, tiny_hps

import seq2seqVAE as S
from utils import SketchDataError, load_dataset, load_sketch

NAME = 'sketches'  # the data set every case writes, as the experiment below recorded it


def arrays_of(path):
    with np.load(path, allow_pickle=True) as data:  # a file this test wrote
        return {key: data[key] for key in data.files}


def with_sketch(split, sketch):
    """A writer: a good file whose split[1] is `sketch`."""
    return lambda path: write_npz_with(path, split, sketch)


def with_arrays(**changes):
    def write(path):
        write_npz(path, seed=0, sizes=(8, 8, 8))
        arrays = {**arrays_of(path), **changes}
        np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return write


def truncated(path):
    write_npz(path, seed=0, sizes=(8, 8, 8))
    path.write_bytes(path.read_bytes()[:300])


def damaged(path):
    write_npz(path, seed=0, sizes=(8, 8, 8))
    data = bytearray(path.read_bytes())
    data[200:260] = bytes(60)  # inside train.npy's pickle
    path.write_bytes(bytes(data))


def zip_of(**members):
    def write(path):
        with zipfile.ZipFile(path, 'w') as archive:
            for name, content in members.items():
                archive.writestr(name.replace('_', '.'), content)
    return write


def runs_code(path):
    class RunsCode:
        def __reduce__(self):
            return os.system, (f'touch {path.parent / "ran"}',)
    with_sketch('valid', RunsCode())(path)


def npy_bytes(array):
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def pens(value):
    sketch = np.zeros((5, 3), np.int16)
    sketch[:, 2] = [0, 1, value, 0, 1]
    return sketch


REFUSED = {
    'truncated npz': (truncated, 'cannot read it as .npz'),
    'damaged member': (damaged, 'cannot'),
    'text file': (lambda p: p.write_text('train,valid,test\n'), 'cannot read it as .npz'),
    'npy file': (lambda p: p.write_bytes(npy_bytes(np.zeros(3))), 'a .npy file, not an .npz'),
    'zip that is not an npz': (zip_of(notes_txt=b'hello'), 'zip archive without .npy arrays'),
    'zip of non-npy members': (zip_of(train_npy=b'not numpy', valid_npy=b'', test_npy=b''),
                               "cannot read its 'train' array"),
    'missing keys': (with_arrays(valid=None, test=None), 'no valid, test array'),
    'split not an array': (with_arrays(train=np.array(5)), "'train' is not an array of sketches"),
    'string sketch': (with_sketch('train', 'dx dy pen'), 'train[1] is a str'),
    'dict sketch': (with_sketch('valid', {'dx': 1}), 'valid[1] is a dict'),
    'None sketch': (with_sketch('test', None), 'test[1] is a NoneType'),
    '(N, 2) sketch': (with_sketch('train', np.zeros((5, 2), np.int16)), 'has shape (5, 2)'),
    '(N, 4) sketch': (with_sketch('train', np.zeros((5, 4), np.int16)), 'has shape (5, 4)'),
    'flat sketch': (with_sketch('test', np.zeros(6, np.int16)), 'test[1] has shape (6,)'),
    'text sketch': (with_sketch('train', np.array([['a', 'b', 'c']])), 'train[1] has dtype'),
    'empty split': (with_arrays(test=np.empty(0, object)), "'test' split has no sketches"),
    'pen value 2': (with_sketch('train', pens(2)), 'pen_lifted values other than 0 and 1'),
    'pen value -1': (with_sketch('test', pens(-1)), 'pen_lifted values other than 0 and 1'),
    'NaN offset': (with_sketch('valid', np.array([[1.0, np.nan, 0]] * 3)), 'NaN or infinite'),
    'inf offset': (with_sketch('train', np.array([[np.inf, 1.0, 0]] * 3)), 'NaN or infinite'),
    'empty sketch': (with_sketch('train', np.zeros((0, 3), np.int16)), 'train[1] is empty'),
    'split smaller than batch_size': (lambda p: write_npz(p, seed=0, sizes=(8, 3, 8)),
                                      "'valid' split has 3 sketches, fewer than batch_size=4"),
    'code in the pickle': (runs_code, "refused: the file's pickled data asks for"),
}


@pytest.fixture(scope='module')
def experiment(tmp_path_factory):
    """An experiment folder made from good data, and the bytes of its files."""
    root = tmp_path_factory.mktemp('good')
    write_npz(root / f'{NAME}.npz', seed=0, sizes=(8, 8, 8))
    code, err = run_training('--data_dir', root, '--data_set', NAME, '--max_steps', 0, '--seed', 1,
                    '--experiment_dir', root / 'experiments', '--hparams', TINY_HPARAMS)
    assert code == 0, err
    exp_dir = root / 'experiments' / NAME / 'exp'
    return exp_dir, files(exp_dir)


def assert_one_line(code, err, path, phrase):
    assert code == 2, err
    assert err.startswith('error: ') and err.count('\n') == 1 and 'Traceback' not in err, err
    assert str(path) in err and phrase in err, err


@pytest.mark.parametrize('case', REFUSED)
def test_a_bad_file_ends_a_new_run_in_one_line(tmp_path, case):
    write, phrase = REFUSED[case]
    path = tmp_path / f'{NAME}.npz'
    write(path)
    code, err = run_training('--data_dir', tmp_path, '--data_set', NAME, '--hparams', TINY_HPARAMS,
                    '--experiment_dir', tmp_path / 'experiments')
    assert_one_line(code, err, path, phrase)
    assert not (tmp_path / 'experiments').exists()
    assert not (tmp_path / 'ran').exists()


@pytest.mark.parametrize('command', ['--resume', '--evaluate'])
@pytest.mark.parametrize('case', REFUSED)
def test_a_bad_file_changes_no_experiment_file(tmp_path, experiment, case, command):
    exp_dir, before = experiment
    write, phrase = REFUSED[case]
    write(tmp_path / f'{NAME}.npz')
    more = ('--epochs', 3) if command == '--resume' else ()
    code, err = run_training(command, exp_dir, '--data_dir', tmp_path, *more)
    assert_one_line(code, err, tmp_path / f'{NAME}.npz', phrase)
    assert files(exp_dir) == before
    assert not (tmp_path / 'ran').exists()


# ---------------------------------------------------------------------------
# Handled as Magenta handles them


def test_extra_arrays_are_ignored(tmp_path):
    with_arrays(labels=np.arange(8), notes=np.array(['x'], dtype=object))(
        tmp_path / f'{NAME}.npz')
    train = load_dataset(str(tmp_path), loader_hps(f'{NAME}.npz'))[0]
    assert len(train.strokes) == 8


@pytest.mark.parametrize('dtype, big', [(np.int32, 70000), (np.float64, 1e9)])
def test_offsets_beyond_int16_are_clamped_to_1000(tmp_path, dtype, big):
    sketch = np.array([[big, -big, 0], [3, 4, 1]], dtype=dtype)
    with_sketch('train', sketch)(tmp_path / f'{NAME}.npz')
    train = load_dataset(str(tmp_path), loader_hps(f'{NAME}.npz'))[0]
    raw = [s[:, 0:2] * train.scale_factor for s in train.strokes]
    assert np.isclose(max(np.abs(r).max() for r in raw), 1000, rtol=1e-6)


def test_max_seq_len_is_the_longest_sketch_so_no_split_is_emptied(tmp_path):
    """Magenta's load_dataset sets max_seq_len from the data: a smaller one
    given in --hparams cannot filter every sketch out."""
    write_npz(tmp_path / f'{NAME}.npz', seed=0, sizes=(8, 8, 8), lengths=(10, 20))
    train, valid, test, loaded = load_dataset(str(tmp_path),
                                              loader_hps(f'{NAME}.npz', max_seq_len=3))
    assert loaded.max_seq_len >= 10
    assert [len(s.strokes) for s in (train, valid, test)] == [8, 8, 8]


def test_one_point_sketches_give_finite_costs_and_gradients(tmp_path):
    """Magenta keeps them; the encoder and the masked losses handle length 1."""
    write_npz(tmp_path / f'{NAME}.npz', seed=0, sizes=(8, 8, 8), lengths=(1, 2))
    train, _, _, loaded = load_dataset(str(tmp_path), loader_hps(f'{NAME}.npz'))
    assert loaded.max_seq_len == 1
    model = S.Seq2seqModel(tiny_hps(max_seq_len=loaded.max_seq_len), seed=1)
    _, x, seq_len = train.random_batch()
    with tf.GradientTape() as tape:
        costs = model.compute_costs(tf.constant(x), tf.constant(seq_len, tf.int32))
    gradients = tape.gradient(costs[0], model.trainable_variables)
    assert all(np.isfinite(float(c)) for c in costs)
    assert all(np.isfinite(g.numpy()).all() for g in gradients if g is not None)


# ---------------------------------------------------------------------------
# load_sketch (--sketch FILE.npz:KEY:INDEX of seq2seqVAE_sample.py)


SKETCH_CASES = {
    'truncated npz': (truncated, ':train:0', 'cannot read it as .npz'),
    'zip that is not an npz': (zip_of(notes_txt=b'hi'), ':train:0', 'zip archive without .npy'),
    'missing key': (with_arrays(), ':nope:0', "no array 'nope'"),
    'index out of range': (with_arrays(), ':train:99', 'cannot read a sketch'),
    'string sketch': (with_sketch('train', 'dx dy pen'), ':train:1', 'has shape ()'),
    'None sketch': (with_sketch('train', None), ':train:1', 'has shape ()'),
    '(N, 4) sketch': (with_sketch('train', np.zeros((5, 4))), ':train:1', 'has shape (5, 4)'),
    'pen value 2': (with_sketch('train', pens(2)), ':train:1', 'must be 0 or 1'),
    'NaN offset': (with_sketch('train', np.array([[np.nan, 0, 1]])), ':train:1', 'finite'),
    'empty sketch': (with_sketch('train', np.zeros((0, 3))), ':train:1', 'has shape (0, 3)'),
    'a whole split': (with_arrays(), ':train', 'holds 8 sketches, not one'),
    'code in the pickle': (runs_code, ':valid:1', 'refused'),
}


@pytest.mark.parametrize('case', SKETCH_CASES)
def test_load_sketch_refuses_bad_files_in_one_line(tmp_path, case):
    write, suffix, phrase = SKETCH_CASES[case]
    path = tmp_path / 'one.npz'
    write(path)
    with pytest.raises(SketchDataError) as err:
        load_sketch(f'{path}{suffix}')
    message = str(err.value)
    assert str(path) in message and phrase in message and '\n' not in message, message
    assert not (tmp_path / 'ran').exists()
