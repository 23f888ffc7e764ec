"""Imports seq2seqVAE before any test module imports TensorFlow (it sets
TensorFlow's CPU options, as it does for users), the data sets the test
files share, and the verdict on tests that miss what they need (needs.py).
pytest.ini puts the repository root on the path."""
import pytest

import seq2seqVAE  # noqa: F401
from needs import skip_unless
from random_sketches import write_npz


def pytest_configure(config):
    config.addinivalue_line('markers', 'needs(missing=None): see tests/needs.py')


def pytest_runtest_setup(item):
    for mark in item.iter_markers('needs'):
        if mark.kwargs.get('missing'):
            skip_unless(False, mark.kwargs['missing'])


@pytest.fixture(scope='session')
def data_dir(tmp_path_factory):
    """Three small random data sets: a.npz (48 train sketches), b.npz (32), c.npz (40),
    each with 8 valid and 8 test sketches. Read only: tests that spoil data write their own."""
    folder = tmp_path_factory.mktemp('data')
    for name, seed, train in (('a', 1, 48), ('b', 2, 32), ('c', 3, 40)):
        write_npz(folder / f'{name}.npz', seed=seed, sizes=(train, 8, 8))
    return folder

