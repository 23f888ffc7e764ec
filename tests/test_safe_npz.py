"""Reading .npz files never runs code from them: a pickle that asks for
anything but numpy's arrays, dtypes and scalars and the bytes inside them
is refused in one line (tests/test_npz_dialects.py: what is read)."""
import builtins
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
from random_sketches import random_splits, sketch_array, write_npz_with, write_splits
from tiny import loader_hps

import utils
from sketchgen.safe_npz import NpzError, NpzReader
from utils import SketchDataError, load_dataset, load_sketch



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


def npy_member(payload, length=8):
    """An object-array .npy: numpy's header, then `payload` as its pickle."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        member, {'descr': '|O', 'fortran_order': False, 'shape': (length,)})
    return member.getvalue() + payload


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
# Near misses of what genuine files ask for: Python 3's pickle stores bytes
# at protocol 2 as _codecs.encode(text, 'latin1') and b'' as
# __builtin__.bytes(); nothing else of the kind is admitted.


def call_pickle(module, name, *args):
    """A pickle of the call module.name(*args), as a hand-made file holds it."""
    return (pickle.PROTO + b'\x02' + pickle.GLOBAL + f'{module}\n{name}\n'.encode()
            + pickle.dumps(args, protocol=3)[2:-1] + pickle.REDUCE + pickle.STOP)


NEAR_MISSES = {  # name: (module, name, args, what the refusal names)
    'another encoding': ('_codecs', 'encode', ('x', 'utf-8'), "_codecs.encode(str, 'utf-8')"),
    'a bytes-to-bytes codec': ('_codecs', 'encode', ('eJwDAAAAAAE=', 'base64'),
                               "_codecs.encode(str, 'base64')"),
    'an alias of latin-1': ('_codecs', 'encode', ('x', 'iso-8859-1'),
                            "_codecs.encode(str, 'iso-8859-1')"),
    'the default encoding': ('_codecs', 'encode', ('x',), '_codecs.encode(str)'),
    'an error handler': ('_codecs', 'encode', ('x', 'latin1', 'strict'),
                         "_codecs.encode(str, 'latin1', 'strict')"),
    'a bytes argument': ('_codecs', 'encode', (b'x', 'latin1'), "_codecs.encode(bytes, 'latin1')"),
    'a list argument': ('_codecs', 'encode', (['x'], 'latin1'), "_codecs.encode(list, 'latin1')"),
    'a non-text encoding': ('_codecs', 'encode', ('x', ['latin1']), '_codecs.encode(str, list)'),
    '_codecs.decode': ('_codecs', 'decode', (b'x', 'latin1'), '_codecs.decode'),
    'codecs.encode': ('codecs', 'encode', ('x', 'latin1'), 'codecs.encode'),
    'bytes of a list': ('__builtin__', 'bytes', ([120],), '__builtin__.bytes(list)'),
    'bytes of text': ('__builtin__', 'bytes', ('x', 'latin1'), "__builtin__.bytes(str, 'latin1')"),
    'builtins.bytes': ('builtins', 'bytes', (), 'builtins.bytes'),
    'builtins.eval': ('builtins', 'eval', ('1',), 'builtins.eval'),
    '__builtin__.getattr': ('__builtin__', 'getattr', ('x', 'upper'), '__builtin__.getattr'),
}


@pytest.mark.parametrize('case', NEAR_MISSES)
def test_near_misses_of_the_bytes_calls_are_refused(tmp_path, case):
    module, name, args, asked_for = NEAR_MISSES[case]
    path = tmp_path / 'near.npz'
    with zipfile.ZipFile(path, 'w') as archive:
        for split in utils.SPLITS:
            archive.writestr(f'{split}.npy', npy_member(call_pickle(module, name, *args)))
    with pytest.raises(SketchDataError) as err:
        load_dataset(str(tmp_path), loader_hps('near.npz'))
    assert_refused(err, path, asked_for)


def test_protocol_5_which_no_numpy_writer_uses_is_refused(tmp_path):
    array = sketch_array(random_splits(0, (8,))['train'])
    with zipfile.ZipFile(tmp_path / 'p5.npz', 'w') as archive:
        for split in utils.SPLITS:
            archive.writestr(f'{split}.npy', npy_member(pickle.dumps(array, protocol=5)))
    with pytest.raises(SketchDataError) as err:
        load_dataset(str(tmp_path), loader_hps('p5.npz'))
    frombuffer = array[0].__reduce_ex__(5)[0]
    assert_refused(err, tmp_path / 'p5.npz', f'{frombuffer.__module__}.{frombuffer.__name__}')


@pytest.mark.parametrize('encoding', [b'utf-8', b'utf_16', b'rot13'])
def test_a_genuine_protocol_2_file_with_another_encoding_is_refused(tmp_path, encoding):
    """The kanji sets' dialect with one thing changed: the encoding of the bytes."""
    array = sketch_array(random_splits(0, (8,))['train'])
    latin1 = pickle.BINUNICODE + struct.pack('<I', 6) + b'latin1'
    genuine = pickle.dumps(array, protocol=2)
    assert genuine.count(latin1) == 1  # memoized: every inner array's bytes reuse it
    member = npy_member(genuine.replace(
        latin1, pickle.BINUNICODE + struct.pack('<I', len(encoding)) + encoding))
    with zipfile.ZipFile(tmp_path / 'near.npz', 'w') as archive:
        for split in utils.SPLITS:
            archive.writestr(f'{split}.npy', member)
    with pytest.raises(SketchDataError) as err:
        load_sketch(f'{tmp_path / "near.npz"}:train:0')
    assert_refused(err, tmp_path / 'near.npz', f'_codecs.encode(str, {encoding.decode()!r})')


def test_an_npy_file_is_not_an_npz(tmp_path):
    np.save(tmp_path / 'a.npy', np.zeros(3))
    with pytest.raises(NpzError, match='a .npy file, not an .npz'):
        NpzReader(tmp_path / 'a.npy')
