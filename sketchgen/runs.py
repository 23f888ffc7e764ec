"""`seq2seqVAE_train.py --list`: one line per experiment folder under a root;
a run's TensorBoard scalars read back."""
import glob
import os

from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import tensorflow as tf

from sketchgen.errors import SketchGenError
from sketchgen.experiment import LAYOUT, Experiment
from sketchgen.messages import first_line

COLUMNS = ('run', 'data', 'hyper-parameters', 'steps', 'best valid cost', 'state')
SETTINGS_FILE = os.path.basename(LAYOUT['flags'])
SKIPPED = {relative.split('/')[0] for relative in LAYOUT.values()} - {'logs'}


def find_runs(root):
    """Experiment folders under root: those holding logs/flags.json."""
    runs = []
    for folder, subfolders, files in os.walk(root):
        if os.path.basename(folder) == 'logs' and SETTINGS_FILE in files:
            runs.append(os.path.dirname(folder))
        subfolders[:] = [d for d in subfolders if d not in SKIPPED]
    return sorted(runs)


def list_runs(root):
    """The table's lines: a header, then one line per run under root."""
    rows = [list(COLUMNS)]
    for folder in find_runs(root):
        name = os.path.relpath(folder, root)
        try:
            rows.append([name] + Experiment(folder).summary())
        except (SketchGenError, OSError, ValueError, KeyError, tf.errors.OpError) as err:
            rows.append([name, f'unreadable: {first_line(err)}'])
    widths = [max(len(row[i]) for row in rows if len(row) > i) for i in range(len(COLUMNS))]
    return ['  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in rows]


def read_scalars(folder):
    """{tag: {step: value}} of the TensorBoard event files in `folder` (a
    run's tensorboard/train or tensorboard/validation)."""
    result = {}
    for path in glob.glob(os.path.join(folder, 'events.out.tfevents.*')):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                number = (float(tf.make_ndarray(value.tensor)) if value.HasField('tensor')
                          else value.simple_value)
                result.setdefault(value.tag, {})[event.step] = number
    return result
