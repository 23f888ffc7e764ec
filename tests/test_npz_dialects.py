"""Every .npz dialect that numpy's writers produced loads as
`np.load(f, encoding='latin1', allow_pickle=True)` reads it, through every
entry point: NpzReader, utils.load_dataset, utils.load_sketch (--sketch
FILE.npz:KEY:INDEX) and the training and sampling commands.

Each dialect is written here byte for byte as its writer wrote it:
- Python 2's numpy: pickle protocol 2, byte strings as BINSTRING /
  SHORT_BINSTRING (read back with latin1), numpy.core names, the dtype's
  flags as ints (QuickDraw's sketch-rnn files, aaron_sheep);
- Python 3's numpy before 1.17: protocol 2, which stores bytes as
  _codecs.encode('<latin-1 text>', 'latin1') (the kanji sets);
- numpy 1.17 to 1.26: protocol 3; numpy 2: protocol 4, numpy._core names;
- arrays of equal-length sketches, which numpy stores as plain 3-D numeric
  arrays, without a pickle: headers as numpy 2 writes them, and as Python 2's
  numpy did (16-byte alignment, shapes as longs).
"""
import io
import pickle
import pickletools
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from needs import needs
from cli import run_main, run_training
from random_sketches import sketch_array
from tiny import TINY_HPARAMS, loader_hps

import seq2seqVAE_sample
from sketchgen.safe_npz import NpzReader
from utils import SPLITS, SketchDataError, load_dataset, load_sketch

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / 'shared' / 'datasets'
REAL_FILES = sorted(SHARED_DATASETS.glob('*.npz')) if SHARED_DATASETS.is_dir() else []
NUMPY_1, NUMPY_2 = 'numpy.core.multiarray', 'numpy._core.multiarray'


# ---------------------------------------------------------------------------
# The writers


class Py3Pickler(pickle._Pickler):
    """Python 3's pickle as np.save calls it (fix_imports on), naming
    numpy's multiarray module as the numpy of the time did; byte for byte
    what CPython writes (checked below against pickle.dumps)."""

    def __init__(self, file, protocol, multiarray):
        super().__init__(file, protocol=protocol)
        self.multiarray = multiarray

    def save_global(self, obj, name=None):
        if getattr(obj, '__module__', None) != NUMPY_2:
            return super().save_global(obj, name)
        if self.proto >= 4:  # as CPython's save_global
            self.save(self.multiarray)
            self.save(obj.__name__)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f'{self.multiarray}\n{obj.__name__}\n'.encode())
        self.memoize(obj)


def py3_pickle(obj, protocol, multiarray):
    out = io.BytesIO()
    Py3Pickler(out, protocol, multiarray).dump(obj)
    return out.getvalue()


class Py2Pickler(Py3Pickler):
    """Python 2's pickle of numpy's arrays: text and bytes alike are Python 2
    str, written as (SHORT_)BINSTRING; numpy.core names; numpy's dtype
    reduces to (descr, 0, 1)."""
    dispatch = pickle._Pickler.dispatch.copy()

    def __init__(self, file):
        super().__init__(file, 2, NUMPY_1)

    def reducer_override(self, obj):
        if isinstance(obj, np.dtype):
            cls, (descr, align, copy), state = obj.__reduce__()
            return cls, (descr, int(align), int(copy)), state
        return NotImplemented

    def save_py2_str(self, data):
        if isinstance(data, str):
            data = data.encode('latin1')
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', len(data)) + data)
        self.memoize(data)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def py2_pickle(obj):
    out = io.BytesIO()
    Py2Pickler(out).dump(obj)
    return out.getvalue()


def npy_header(dtype, shape, py2=False, longs=False):
    """A version 1.0 .npy header: numpy 2's, or Python 2 numpy's (padded to
    16 bytes; with `longs`, shapes as longs, as on Windows)."""
    if not py2:
        out = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            out, {'descr': np.lib.format.dtype_to_descr(dtype), 'fortran_order': False,
                  'shape': shape})
        return out.getvalue()
    dims = [f'{n}L' if longs else str(n) for n in shape]
    shape_text = f'({dims[0]},)' if len(dims) == 1 else f"({', '.join(dims)})"
    text = (f"{{'descr': '{np.lib.format.dtype_to_descr(dtype)}', 'fortran_order': False, "
            f"'shape': {shape_text}, }}")
    text += ' ' * (-(len(text) + 11) % 16) + '\n'
    return b'\x93NUMPY\x01\x00' + struct.pack('<H', len(text)) + text.encode('latin1')


def pickled_member(pickle_of, py2=False):
    return lambda array: npy_header(np.dtype(object), array.shape, py2) + pickle_of(array)


def numeric_member(py2):
    return lambda array: npy_header(array.dtype, array.shape, py2, longs=py2) + array.tobytes()


OBJECT_DIALECTS = {  # name: writes an object array as its writer did
    'python 2 numpy': pickled_member(py2_pickle, py2=True),
    'python 3 numpy < 1.17, protocol 2': pickled_member(lambda a: py3_pickle(a, 2, NUMPY_1)),
    'numpy 1.17-1.26, protocol 3': pickled_member(lambda a: py3_pickle(a, 3, NUMPY_1)),
    'numpy 2, protocol 4': pickled_member(lambda a: py3_pickle(a, 4, NUMPY_2)),
    'numpy 2 names, protocol 2 by hand': pickled_member(lambda a: py3_pickle(a, 2, NUMPY_2)),
}
PLAIN_DIALECTS = {  # name: writes a 3-D numeric array as its writer did
    'python 2 numpy (Windows), 3-D': numeric_member(py2=True),
    'numpy 2, 3-D': numeric_member(py2=False),
}
DTYPES = [np.int16, np.int32, np.float64]


def random_splits(dtype, equal_lengths, seed=0):
    """{split: list of 6 sketches}: offsets beyond int8 (int16), beyond int16
    (int32) or fractional (float64), sketches of one length or of many."""
    rng = np.random.default_rng(seed)
    spread = {np.int16: 300, np.int32: 40000, np.float64: 300}[dtype]
    splits = {}
    for split in SPLITS:
        sketches = []
        for _ in range(6):
            length = 12 if equal_lengths else rng.integers(3, 30)
            sketch = np.zeros((length, 3))
            sketch[:, :2] = rng.uniform(-spread, spread, (length, 2))
            sketch[:, 2] = rng.random(length) < 0.2
            sketch[-1, 2] = 1
            sketches.append(sketch.astype(dtype))
        splits[split] = sketches
    return splits


def write_dialect(path, dialect, dtype):
    """An .npz of train/valid/test in `dialect`; -> the splits written."""
    plain = dialect in PLAIN_DIALECTS
    splits = random_splits(dtype, equal_lengths=plain)
    write = (PLAIN_DIALECTS if plain else OBJECT_DIALECTS)[dialect]
    with zipfile.ZipFile(path, 'w') as archive:
        for split, sketches in splits.items():
            array = np.stack(sketches) if plain else sketch_array(sketches)
            archive.writestr(f'{split}.npy', write(array))
    return splits


DIALECTS = [*OBJECT_DIALECTS, *PLAIN_DIALECTS]
CASES = [pytest.param(d, t, id=f'{d}, {np.dtype(t).name}') for d in DIALECTS for t in DTYPES]


# ---------------------------------------------------------------------------
# The writers write what their writers wrote


def opcodes_and_globals(data):
    """The set of opcode names and of GLOBAL arguments of a pickle."""
    ops = list(pickletools.genops(data))
    return ({op.name for op, _, _ in ops},
            {arg for op, arg, _ in ops if op.name == 'GLOBAL'})


@pytest.mark.parametrize('protocol', [2, 3, 4])
def test_the_python3_writer_is_cpythons_pickle(protocol):
    array = sketch_array(random_splits(np.int16, False)['train'])
    assert py3_pickle(array, protocol, NUMPY_2) == pickle.dumps(array, protocol=protocol)


def test_python3_protocol_2_stores_bytes_as_codecs_encode():
    data = py3_pickle(sketch_array(random_splits(np.int16, False)['train']), 2, NUMPY_1)
    ops, names = opcodes_and_globals(data)
    assert names == {f'{NUMPY_1} _reconstruct', 'numpy ndarray', 'numpy dtype', '_codecs encode'}
    assert not ops & {'BINSTRING', 'SHORT_BINSTRING', 'BINBYTES', 'SHORT_BINBYTES'}
    assert b"X\x06\x00\x00\x00latin1" in data


@needs((SHARED_DATASETS / 'aaron_sheep.npz').is_file(),
       '../shared/datasets/aaron_sheep.npz (a Python 2 file) is absent')
def test_the_python2_writer_uses_what_a_real_python2_file_uses():
    with zipfile.ZipFile(SHARED_DATASETS / 'aaron_sheep.npz') as archive:
        real = archive.read('valid.npy')
    header = npy_header(np.dtype(object), (300,), py2=True)
    assert real[:len(header)] == header
    real = real[len(header):]
    with np.load(SHARED_DATASETS / 'aaron_sheep.npz', encoding='latin1',
                 allow_pickle=True) as data:
        ours = py2_pickle(data['valid'])
    real_ops, real_names = opcodes_and_globals(real)
    our_ops, our_names = opcodes_and_globals(ours)
    assert our_names == real_names
    # Python 2's cPickle memoizes by reference count: which objects get a
    # BINPUT and which a BINGET differs, every other opcode is the same.
    memo = {'BINPUT', 'LONG_BINPUT', 'BINGET', 'LONG_BINGET'}
    assert our_ops - memo == real_ops - memo


def test_the_python2_headers_are_read_as_numpy_reads_them():
    header = npy_header(np.dtype(np.int16), (6, 12, 3), py2=True, longs=True)
    assert b"'shape': (6L, 12L, 3L), }" in header and len(header) % 16 == 0
    assert np.lib.format.read_array_header_1_0(io.BytesIO(header[8:])) \
        == ((6, 12, 3), False, np.dtype(np.int16))


# ---------------------------------------------------------------------------
# Every entry point reads them as np.load does


def np_load(path):
    with np.load(path, encoding='latin1', allow_pickle=True) as data:
        return {key: data[key] for key in data.files}


def assert_same_as_np_load(path):
    want = np_load(path)
    with NpzReader(path) as ours:
        got = {key: ours[key] for key in ours.files}
    assert sorted(got) == sorted(want)
    for key, array in want.items():
        assert (got[key].dtype, got[key].shape) == (array.dtype, array.shape)
        if array.dtype != object:
            np.testing.assert_array_equal(got[key], array)
            continue
        for a, b in zip(got[key], array):
            assert type(a) is type(b) and np.asarray(a).dtype == np.asarray(b).dtype
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('dialect, dtype', CASES)
def test_npz_reader_reads_what_np_load_reads(tmp_path, dialect, dtype):
    splits = write_dialect(tmp_path / 'd.npz', dialect, dtype)
    assert_same_as_np_load(tmp_path / 'd.npz')
    with NpzReader(tmp_path / 'd.npz') as data:  # and that is what was written
        for split, sketches in splits.items():
            for got, want in zip(data[split], sketches):
                assert got.dtype == dtype
                np.testing.assert_array_equal(got, want)


@pytest.mark.filterwarnings('error')
def test_a_python2_file_loads_without_numpys_advice_to_save_it_again(tmp_path):
    write_dialect(tmp_path / 'd.npz', 'python 2 numpy (Windows), 3-D', np.int16)
    with NpzReader(tmp_path / 'd.npz') as data:
        assert all(len(data[split]) for split in SPLITS)


def test_float32_object_arrays_numeric_arrays_and_scalars_load(tmp_path):
    float32 = [s.astype(np.float32) for s in random_splits(np.float64, False)['train']]
    np.savez(tmp_path / 'b.npz', float32=sketch_array(float32),
             grid=np.arange(12.0).reshape(4, 3),
             scalars=sketch_array([np.float64(1.5), np.int16(-3), 7]))
    assert_same_as_np_load(tmp_path / 'b.npz')


def test_an_empty_array_in_protocol_2_reads_and_is_named(tmp_path):
    """Its empty bytes are __builtin__.bytes(); the loader then names the sketch."""
    sketches = random_splits(np.int16, False)['train']
    sketches[1] = np.zeros((0, 3), np.int16)
    member = pickled_member(lambda a: py3_pickle(a, 2, NUMPY_1))(sketch_array(sketches))
    assert b'__builtin__\nbytes\n' in member
    with zipfile.ZipFile(tmp_path / 'd.npz', 'w') as archive:
        for split in SPLITS:
            archive.writestr(f'{split}.npy', member)
    assert_same_as_np_load(tmp_path / 'd.npz')
    with pytest.raises(SketchDataError, match=r'd.npz: train\[1\] is empty'):
        load_dataset(str(tmp_path), loader_hps('d.npz'))


def loaded(data_dir, name):
    return [(s.strokes, s.scale_factor)
            for s in load_dataset(str(data_dir), loader_hps(name))[:3]]


@pytest.mark.parametrize('dialect, dtype', CASES)
def test_load_dataset_reads_what_np_load_reads(tmp_path, dialect, dtype):
    """The same as load_dataset of np.load's arrays saved again by today's numpy."""
    write_dialect(tmp_path / 'd.npz', dialect, dtype)
    np.savez(tmp_path / 'again.npz', **np_load(tmp_path / 'd.npz'))
    for (got, got_scale), (want, want_scale) in zip(loaded(tmp_path, 'd.npz'),
                                                    loaded(tmp_path, 'again.npz')):
        assert got_scale == want_scale and len(got) == len(want) == 6
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('dialect, dtype', CASES)
def test_load_sketch_reads_what_np_load_reads(tmp_path, dialect, dtype):
    write_dialect(tmp_path / 'd.npz', dialect, dtype)
    want = np_load(tmp_path / 'd.npz')
    for split in SPLITS:
        for index in (0, 5):
            got = load_sketch(f'{tmp_path / "d.npz"}:{split}:{index}')
            np.testing.assert_array_equal(got, want[split][index].astype(np.float32))


@pytest.mark.parametrize('dialect', ['python 3 numpy < 1.17, protocol 2',
                                     'python 2 numpy (Windows), 3-D'])
def test_the_commands_train_on_it_and_draw_from_it(tmp_path, dialect):
    """The issue's kanji dialect and a Python 2 3-D array, through
    seq2seqVAE_train.py --data_set and seq2seqVAE_sample.py --sketch FILE.npz:KEY:INDEX."""
    write_dialect(tmp_path / 'old.npz', dialect, np.int16)
    code, err = run_training('--data_dir', tmp_path, '--data_set', 'old', '--max_steps', 1,
                             '--seed', 1, '--hparams', TINY_HPARAMS,
                             '--experiment_dir', tmp_path / 'experiments')
    assert code == 0, err
    exp_dir = next((tmp_path / 'experiments').glob('*/*/logs')).parent
    result = run_main(seq2seqVAE_sample.main, exp_dir, '--mode', 'reconstruct', '--sketch',
                      f'{tmp_path / "old.npz"}:valid:3', '--out', tmp_path / 'out.svg')
    assert result.code == 0, result.err
    assert '<path' in (tmp_path / 'out.svg').read_text()


@needs(REAL_FILES, '../shared/datasets is absent')
@pytest.mark.parametrize('path', REAL_FILES, ids=[p.name for p in REAL_FILES])
def test_every_shared_data_set_loads_as_np_load_reads_it(path):
    assert_same_as_np_load(path)
