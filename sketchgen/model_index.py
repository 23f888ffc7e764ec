"""models.json: the list of @magenta/sketch models in a folder that a static
web page beside them offers (examples/browser/draw.html), kept by
seq2seqVAE_export.py as it writes each model there.

The index is [{"file": NAME, "name": info.name}, ...], sorted by file;
files that are gone are dropped whenever a model is added."""
import json
import os

from sketchgen import atomic
from sketchgen.sketch_js import SketchJSError

INDEX_NAME = 'models.json'


def read_index(folder):
    """The entries of folder/models.json ([] without one); SketchJSError
    naming the file when it is not such a list."""
    path = os.path.join(folder, INDEX_NAME)
    if not os.path.exists(path):
        return []
    try:
        with open(path, 'rb') as f:
            entries = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise SketchJSError(f'{path}: not a JSON index of models '
                            f'({" ".join(str(err).split())}); remove it') from None
    if not (isinstance(entries, list) and all(
            isinstance(e, dict) and isinstance(e.get('file'), str) and isinstance(e.get('name'), str)
            and e['file'] == os.path.basename(e['file']) for e in entries)):
        raise SketchJSError(f'{path}: not a list of {{"file", "name"}} entries naming files '
                            'beside it; remove it')
    return entries


def add_to_index(model_path, info):
    """Lists the model written to model_path (its info) in the models.json
    beside it, replacing an entry for the same file.  Returns the index's path."""
    folder, file = os.path.split(os.path.abspath(model_path))
    entries = [e for e in read_index(folder)
               if e['file'] != file and os.path.isfile(os.path.join(folder, e['file']))]
    entries = sorted(entries + [dict(file=file, name=str(info.get('name', file)))],
                     key=lambda e: e['file'])
    atomic.write_json(os.path.join(folder, INDEX_NAME), entries)
    return os.path.join(os.path.dirname(model_path), INDEX_NAME)
