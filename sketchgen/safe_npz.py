"""Reads .npz files without running code from them.

QuickDraw's sketch-rnn files hold object arrays, which numpy stores as
pickles, and `np.load(allow_pickle=True)` runs whatever a pickle calls.
Here an object array is unpickled by an unpickler that can only build numpy
arrays, dtypes and scalars, and the bytes inside them as Python 3's pickle
writes bytes at protocol 2; anything else it asks for is refused.  Numeric
arrays are read by numpy itself with pickles off.
"""
import pickle
import warnings
import zipfile
import zlib

import numpy as np

from sketchgen.errors import NpzError
from sketchgen.messages import one_line

# Reached through public objects: numpy moved these from numpy.core to numpy._core.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]
_SCALAR = np.float64(0).__reduce__()[0]
# Python 3's pickle writes `bytes` at protocols 0-2 (which numpy before 1.17
# used, for Python 2's sake) as _codecs.encode(the bytes as latin-1 text,
# 'latin1'), and empty bytes as __builtin__.bytes().  CPython spells it
# 'latin1'; 'latin-1' is the same codec.
LATIN1 = ('latin1', 'latin-1')
# numpy's advice to save a Python 2 file again: such files are a dialect
# read here on purpose, and the advice is not the user's to act on.
PYTHON2_HEADER_WARNING = 'Reading `.npy` or `.npz` file required additional header parsing'


def _refused(asked_for):
    return NpzError(f"refused: the file's pickled data asks for {asked_for}, "
                    'which a sketch data set never needs')


def _describe(args):
    """A call's arguments for a message: the first (the data) by its type, the
    others (an encoding) as text, cut short, if text."""
    return ', '.join(repr(a[:20]) if type(a) is str and i else type(a).__name__
                     for i, a in enumerate(args))


def _latin1_bytes(*args):
    """_codecs.encode as pickle calls it for bytes: (text, 'latin1') only."""
    if len(args) == 2 and type(args[0]) is str and type(args[1]) is str and args[1] in LATIN1:
        return args[0].encode('latin-1')
    raise _refused(f'_codecs.encode({_describe(args)})')


def _empty_bytes(*args):
    """__builtin__.bytes as pickle calls it for b'': without arguments."""
    if args:
        raise _refused(f'__builtin__.bytes({_describe(args)})')
    return b''


# What numpy's pickles of arrays of numbers name: Python 2 files (QuickDraw's)
# and numpy 1 say numpy.core, numpy 2 says numpy._core.
ALLOWED = {
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
    **{(module, '_reconstruct'): _RECONSTRUCT
       for module in ('numpy.core.multiarray', 'numpy._core.multiarray')},
    **{(module, 'scalar'): _SCALAR
       for module in ('numpy.core.multiarray', 'numpy._core.multiarray')},
    ('_codecs', 'encode'): _latin1_bytes,
    ('__builtin__', 'bytes'): _empty_bytes,
}
_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return ALLOWED[module, name]
        except KeyError:
            raise _refused(f'{module}.{name}') from None


class NpzReader:
    """The arrays of an .npz archive, read one at a time: `reader[key]`.

    Object arrays are unpickled with numpy's Python 2 (latin1) semantics, as
    np.load(encoding='latin1') does, so QuickDraw's files read the same.
    """

    def __init__(self, path):
        with open(path, 'rb') as f:
            if f.read(6) == b'\x93NUMPY':
                raise NpzError('a .npy file, not an .npz archive of train, valid and test')
        try:
            self.zip = zipfile.ZipFile(path)
        except _READ_ERRORS as err:
            raise NpzError(f'cannot read it as .npz: {one_line(err)}') from None
        self.members = {name[:-4]: name for name in self.zip.namelist() if name.endswith('.npy')}
        if not self.members:
            self.zip.close()
            raise NpzError('a zip archive without .npy arrays, not an .npz')

    @property
    def files(self):
        return list(self.members)

    def __getitem__(self, key):
        try:
            with self.zip.open(self.members[key]) as member, warnings.catch_warnings():
                warnings.filterwarnings('ignore', PYTHON2_HEADER_WARNING, UserWarning)
                return _read_array(member, key)
        except NpzError:
            raise
        except _READ_ERRORS as err:
            raise NpzError(f"cannot read its '{key}' array: {one_line(err)}") from None

    def close(self):
        self.zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _read_array(member, key):
    version = np.lib.format.read_magic(member)
    # Version 3 differs from 2 only in allowing utf-8 in the header text.
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    _, _, dtype = read_header(member)
    if not dtype.hasobject:
        member.seek(0)
        return np.lib.format.read_array(member, allow_pickle=False)
    try:
        array = _ArrayUnpickler(member, encoding='latin1').load()
    except NpzError:
        raise
    except Exception as err:  # a damaged pickle fails in many ways
        raise NpzError(f"cannot unpickle its '{key}' array: {one_line(err)}") from err
    if not isinstance(array, np.ndarray):
        raise NpzError(f"its '{key}' member holds a {type(array).__name__}, not an array")
    return array
