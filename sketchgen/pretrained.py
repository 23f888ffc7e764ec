"""Magenta's pretrained sketch-rnn decoders by name: the NAME.gen.json files
(@magenta/sketch format) that its demos load from the quickdraw-models
bucket, downloaded once into download.cache_dir('models')."""
import difflib
import os

from sketchgen import download
from sketchgen.errors import DownloadError, PretrainedError

BASE_URL = 'https://storage.googleapis.com/quickdraw-models/sketchRNN/models/'
URL_VARIABLE = 'SKETCHGEN_MODELS_URL'  # another base URL: a mirror, or a test's server
NAMES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pretrained_models.txt')


def names():
    """The published model names, sorted."""
    with open(NAMES_FILE) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith('#')]


def model_url(name):
    base = os.environ.get(URL_VARIABLE) or BASE_URL
    return f'{base.rstrip("/")}/{name}.gen.json'


def fetch_model(name, progress=True):
    """Path of the cached NAME.gen.json, downloaded first if absent."""
    known = names()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f'did you mean {", ".join(close)}? ' if close else ''
        raise PretrainedError(f"no pretrained model named '{name}'; {hint}"
                              f'the {len(known)} names are in {NAMES_FILE}')
    path = os.path.join(download.cache_dir('models'), f'{name}.gen.json')
    try:
        return download.fetch(model_url(name), path, progress=progress)
    except DownloadError as err:
        raise PretrainedError(f"pretrained model '{name}' is not cached and could not be "
                              f'downloaded ({err}); fetch {model_url(name)} once with network '
                              f'access, or save it as {path}') from None


def load_pretrained(name, progress=True, **overrides):
    """Magenta's pretrained decoder-only model NAME (one of names(), e.g.
    'cat'), downloaded once into the cache (download.cache_dir('models'));
    see sketch_js.load_sketch_js.  Raises PretrainedError (unknown name,
    offline) or SketchJSError (a bad file)."""
    from sketchgen.sketch_js import load_sketch_js  # TensorFlow: only when a model is built
    return load_sketch_js(fetch_model(name, progress), **overrides)
