"""Reading .npz files never runs code from them, and reads numpy's own files
(int16, float, Python 2 latin1 pickles as QuickDraw's) as np.load does."""
import builtins
import io
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from needs import needs
from random_sketches import random_splits, sketch_array, write_npz_with, write_splits
from tiny import loader_hps

import utils
from sketchgen.safe_npz import NpzError, NpzReader
from utils import SketchDataError, load_dataset, load_sketch

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / 'shared' / 'datasets'
REAL_FILES = sorted(SHARED_DATASETS.glob('*.npz')) if SHARED_DATASETS.is_dir() else []


class RunsCode:
    """Unpickles as a call: what a malicious data file holds."""

    def __init__(self, call, marker):
        self.call, self.marker = call, marker

    def __reduce__(self):
        if self.call == 'os.system':
            return os.system, (f'touch {self.marker}',)
        return builtins.exec, (f'open({str(self.marker)!r}, "w").close()',)


def write_malicious_npz(path, split, call, marker):
    """A QuickDraw-like file whose `split` array holds a pickled call."""
    write_npz_with(path, split, RunsCode(call, marker))


def assert_refused(err, path, asked_for):
    message = str(err.value)
    assert message == (f"{path}: refused: the file's pickled data asks for {asked_for}, "
                       'which a sketch data set never needs'), message


@pytest.mark.parametrize('call', ['os.system', 'builtins.exec'])
def test_the_malicious_file_does_run_code_under_np_load(tmp_path, call):
    """The files below are really dangerous: numpy's own loader runs them."""
    marker = tmp_path / 'ran'
    write_malicious_npz(tmp_path / 'evil.npz', 'train', call, marker)
    with np.load(tmp_path / 'evil.npz', allow_pickle=True) as data:
        data['train']
    assert marker.exists()


READERS = {  # (reader of the file at path, the split it reads code from)
    **{f'load_dataset {split}': (
        lambda path: load_dataset(str(path.parent), loader_hps(path.name)), split)
       for split in utils.SPLITS},
    'load_sketch FILE:valid:1': (lambda path: load_sketch(f'{path}:valid:1'), 'valid'),
    'load_sketch FILE:valid': (lambda path: load_sketch(f'{path}:valid'), 'valid'),
}


def write_member_call(path, split, call, marker):
    """Not inside an object array: each member is the pickled call itself."""
    with zipfile.ZipFile(path, 'w') as archive:
        for name in utils.SPLITS:
            archive.writestr(f'{name}.npy', npy_member(pickle.dumps(RunsCode(call, marker))))


@pytest.mark.parametrize('write', [write_malicious_npz, write_member_call])
@pytest.mark.parametrize('call, asked_for', [('os.system', f'{os.system.__module__}.system'),
                                             ('builtins.exec', 'builtins.exec')])
@pytest.mark.parametrize('reader', READERS)
def test_code_in_a_split_is_refused(tmp_path, reader, call, asked_for, write):
    read, split = READERS[reader]
    marker = tmp_path / 'ran'
    path = tmp_path / 'evil.npz'
    write(path, split, call, marker)
    with pytest.raises(SketchDataError) as err:
        read(path)
    assert_refused(err, path, asked_for)
    assert not marker.exists()


def test_an_extra_array_is_never_unpickled(tmp_path):
    """Only train, valid and test are read, as Magenta does."""
    marker = tmp_path / 'ran'
    write_splits(tmp_path / 'extra.npz', **random_splits(0, (8, 8, 8)),
                 notes=[RunsCode('os.system', marker)])
    train = load_dataset(str(tmp_path), loader_hps('extra.npz'))[0]
    assert len(train.strokes) == 8 and not marker.exists()


# ---------------------------------------------------------------------------
# numpy's own files read as np.load reads them


def assert_same_as_np_load(path):
    with NpzReader(path) as ours, np.load(path, allow_pickle=True, encoding='latin1') as theirs:
        assert sorted(ours.files) == sorted(theirs.files)
        for key in theirs.files:
            mine, want = ours[key], theirs[key]
            assert (mine.dtype, mine.shape) == (want.dtype, want.shape)
            if want.dtype != object:
                np.testing.assert_array_equal(mine, want)
                continue
            for a, b in zip(mine, want):
                assert type(a) is type(b) and np.asarray(a).dtype == np.asarray(b).dtype
                np.testing.assert_array_equal(a, b)


def py2_pickle(obj):
    """`obj` pickled as Python 2's numpy wrote it: protocol 2, byte strings
    as Python 2 str (BINSTRING, read back with latin1) and numpy.core names."""

    class Py2Pickler(pickle._Pickler):
        dispatch = pickle._Pickler.dispatch.copy()

        def save_str(self, text):
            self.save_bytes(text.encode('latin1'))

        def save_bytes(self, data):
            if len(data) < 256:
                self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
            else:
                self.write(pickle.BINSTRING + struct.pack('<i', len(data)) + data)
            self.memoize(data)

        dispatch[str] = save_str
        dispatch[bytes] = save_bytes

    out = io.BytesIO()
    Py2Pickler(out, protocol=2).dump(obj)
    return out.getvalue().replace(b'numpy._core.multiarray\n', b'numpy.core.multiarray\n')


def npy_member(payload, length=8):
    """An object-array .npy: numpy's header, then `payload` as its pickle."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        member, {'descr': '|O', 'fortran_order': False, 'shape': (length,)})
    return member.getvalue() + payload


def write_py2_npz(path, splits):
    with zipfile.ZipFile(path, 'w') as archive:
        for split, sketches in splits.items():
            archive.writestr(f'{split}.npy',
                             npy_member(py2_pickle(sketch_array(sketches)), len(sketches)))


def wide_splits(dtype):
    """Six sketches a split, offsets up to 300: beyond int8, as QuickDraw's."""
    return random_splits(3, (6, 6, 6), lengths=(3, 30), spread=300, dtype=dtype)


def test_python2_latin1_pickles_load_as_np_load_reads_them(tmp_path):
    splits = wide_splits(np.int16)
    write_py2_npz(tmp_path / 'py2.npz', splits)
    assert b'numpy.core.multiarray' in (tmp_path / 'py2.npz').read_bytes()
    assert_same_as_np_load(tmp_path / 'py2.npz')
    with NpzReader(tmp_path / 'py2.npz') as data:
        for split, sketches in splits.items():
            for got, want in zip(data[split], sketches):
                assert got.dtype == np.int16
                np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize('dtype', [np.int16, np.int32, np.float32, np.float64])
def test_numpy_object_arrays_load_as_np_load_reads_them(tmp_path, dtype):
    write_splits(tmp_path / 'a.npz', **wide_splits(dtype))
    assert_same_as_np_load(tmp_path / 'a.npz')


def test_numeric_arrays_and_scalars_load(tmp_path):
    np.savez(tmp_path / 'b.npz', grid=np.arange(12.0).reshape(4, 3),
             scalars=sketch_array([np.float64(1.5), np.int16(-3), 7]))
    assert_same_as_np_load(tmp_path / 'b.npz')


@needs(REAL_FILES, '../shared/datasets is absent')
@pytest.mark.parametrize('path', REAL_FILES, ids=[p.name for p in REAL_FILES])
def test_real_quickdraw_style_files_load_as_np_load_reads_them(path):
    assert_same_as_np_load(path)


def test_an_npy_file_is_not_an_npz(tmp_path):
    np.save(tmp_path / 'a.npy', np.zeros(3))
    with pytest.raises(NpzError, match='a .npy file, not an .npz'):
        NpzReader(tmp_path / 'a.npy')
