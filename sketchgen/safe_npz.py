"""Reads .npz files without running code from them.

QuickDraw's sketch-rnn files hold object arrays, which numpy stores as
pickles, and `np.load(allow_pickle=True)` runs whatever a pickle calls.
Here an object array is unpickled by an unpickler that can only build numpy
arrays, dtypes and scalars; anything else it asks for is refused.  Numeric
arrays are read by numpy itself with pickles off.
"""
import pickle
import zipfile
import zlib

import numpy as np

from sketchgen.errors import NpzError
from sketchgen.messages import one_line

# Reached through public objects: numpy moved these from numpy.core to numpy._core.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]
_SCALAR = np.float64(0).__reduce__()[0]
# What numpy's pickles of arrays of numbers name: Python 2 files (QuickDraw's)
# and numpy 1 say numpy.core, numpy 2 says numpy._core.
ALLOWED = {
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
    **{(module, '_reconstruct'): _RECONSTRUCT
       for module in ('numpy.core.multiarray', 'numpy._core.multiarray')},
    **{(module, 'scalar'): _SCALAR
       for module in ('numpy.core.multiarray', 'numpy._core.multiarray')},
}
_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return ALLOWED[module, name]
        except KeyError:
            raise NpzError(f"refused: the file's pickled data asks for {module}.{name}, "
                           'which a sketch data set never needs') from None


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
            with self.zip.open(self.members[key]) as member:
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
