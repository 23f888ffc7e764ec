"""QuickDraw's sketch-rnn data sets by name: where a data set's file is, and
downloading it when it is one of QuickDraw's 345 categories.

$SKETCHGEN_QUICKDRAW_URL replaces the public bucket's address (tests point it
at a local server)."""
import difflib
import functools
import os
import re
import urllib.parse

from sketchgen import download

URL = 'https://storage.googleapis.com/quickdraw_dataset/sketchrnn'
OFFLINE = 'train offline on the embedded set with --data_set shapes'


def base_url():
    return os.environ.get('SKETCHGEN_QUICKDRAW_URL', URL).rstrip('/')


@functools.cache
def categories():
    """The 345 category names, as QuickDraw spells them ('The Eiffel Tower')."""
    path = os.path.join(os.path.dirname(__file__), 'quickdraw_categories.txt')
    with open(path, encoding='utf-8') as f:
        return frozenset(line.strip() for line in f if line.strip())


def file_url(base, name):
    """The URL of file `name` under `base`, spaces and all escaped."""
    return f"{base.rstrip('/')}/{urllib.parse.quote(name)}"


def locate(data_dir, name):
    """(local path, name for messages) of data set file `name` ('cat.npz').

    A folder's missing file is downloaded into it when it is a QuickDraw
    category; an http(s) data_dir is downloaded once into the cache.  Raises
    DownloadError with one line: what was looked for where, the URL to fetch
    by hand, and the offline alternative."""
    if data_dir.startswith(('http://', 'https://')):
        url = file_url(data_dir, name)
        path = os.path.join(download.cache_dir('datasets'), _folder_for(data_dir), name)
        try:
            _fetch(url, path)
        except download.DownloadError as err:
            raise download.DownloadError(f'{err}; {OFFLINE}') from None
        return path, f'{url} (cached at {path}; delete it to download again)'
    path = os.path.join(data_dir, name)
    if os.path.isfile(path):
        return path, path
    stem, base = name.removesuffix('.npz'), base_url()
    url = file_url(base, name)
    if stem not in categories():
        close = difflib.get_close_matches(stem, categories(), n=1, cutoff=0.75)
        hint = f" (did you mean '{close[0]}'?)" if close else ''
        raise download.DownloadError(
            f"{path}: file not found, and '{stem}' is not one of QuickDraw's 345 categories{hint}, "
            f'so there is no {url} to download; put the file there, or {OFFLINE}')
    try:
        _fetch(url, path)
    except download.DownloadError as err:
        raise download.DownloadError(
            f'{path}: file not found, and {err}; fetch it by hand into {data_dir}, '
            f'or {OFFLINE}') from None
    return path, path


def _fetch(url, path):
    if not os.path.isfile(path):
        print(f'Downloading {url} to {path}', flush=True)
    download.fetch(url, path)


def _folder_for(url):
    """A cache folder per server and path, so equal names from two places differ."""
    parts = urllib.parse.urlsplit(url.rstrip('/'))
    return re.sub(r'[^A-Za-z0-9._-]+', '_', f'{parts.netloc}{parts.path}').strip('_')
