"""What a run does at a step whose cost or gradients are NaN or inf
(`--on_nonfinite`), and the report it writes for each such step.

The step itself never applies such an update (Seq2seqModel.train_step,
model.apply_where): the weights, Adam's moments and its iteration count
stay as they were, so the run's step, which counts applied updates as
Magenta's global step does, stays too, and the schedules go on from it.
The batch is used up: the next step trains on the next batch of the run's
stream (batch number = step + batch_offset).

- `recover` (the default): the run goes on with the next batch.  When
  LIMIT of the last WINDOW batches were non-finite, it rolls back to its
  latest checkpoint, once, with the learning rate times ROLLBACK_LR_FACTOR,
  and draws on from the stream's next batch (no batch is trained twice);
  LIMIT within WINDOW again after that stops it.
- `stop`: the run stops at the first one.

The policy's state lives in the training checkpoint (NonfiniteState), so a
resumed run makes the same decisions as one never stopped."""
import math

from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import numpy as np
import tensorflow as tf

from sketchgen.drawing import draw_grid
from sketchgen.errors import SettingsError
from sketchgen.run_settings import NONFINITE_POLICIES as POLICIES

LIMIT = 5  # non-finite batches ...
WINDOW = 100  # ... among this many consecutive ones roll the run back
ROLLBACK_LR_FACTOR = 0.1  # Keras' ReduceLROnPlateau's default factor
REPORT_COLUMNS = 10


class NonfiniteState(tf.Module):
    """The policy's state, saved in each training checkpoint."""

    def __init__(self):
        super().__init__(name='nonfinite')
        int64 = dict(dtype=tf.int64, trainable=False)
        # Batches of the stream that no applied step counts: the skipped
        # ones, and those of the steps a rollback undid.
        self.batch_offset = tf.Variable(0, name='batch_offset', **int64)
        self.events = tf.Variable(0, name='events', **int64)  # non-finite steps so far
        self.rollbacks = tf.Variable(0, name='rollbacks', **int64)
        self.lr_scale = tf.Variable(1.0, name='lr_scale', dtype=tf.float32, trainable=False)
        # The numbers of the last LIMIT non-finite batches since the last
        # rollback, oldest first; -1: none.
        self.recent = tf.Variable(tf.fill([LIMIT], tf.constant(-1, tf.int64)), name='recent',
                                  **int64)


class NonfinitePolicy:
    """The decisions of policy `name` (one of POLICIES) from its state."""

    def __init__(self, name):
        if name not in POLICIES:
            raise SettingsError(f'on_nonfinite {name!r}: give one of {", ".join(POLICIES)}')
        self.name = name
        self.state = NonfiniteState()

    @property
    def batch_offset(self):
        return int(self.state.batch_offset.numpy())

    @property
    def events(self):
        return int(self.state.events.numpy())

    @property
    def rollbacks(self):
        return int(self.state.rollbacks.numpy())

    def burst(self):
        """The recent non-finite batches, in words."""
        batches = [str(b) for b in self.state.recent.numpy() if b >= 0]
        return (f'{len(batches)} of the last {WINDOW} batches were NaN or inf '
                f'(batches {", ".join(batches)})')

    def decide(self, batch):
        """Records that batch number `batch` was non-finite; -> what the run
        does now: 'skip' (go on with the next batch), 'rollback' or 'stop'."""
        self.state.events.assign_add(1)
        if self.name == 'stop':
            return 'stop'
        self.state.batch_offset.assign_add(1)
        recent = np.append(self.state.recent.numpy()[1:], batch)
        self.state.recent.assign(recent)
        if recent[0] < 0 or batch - recent[0] >= WINDOW:
            return 'skip'
        return 'stop' if self.rollbacks else 'rollback'

    def rolled_back(self, step, next_batch, events):
        """After the checkpoint of `step` is restored: the stream goes on at
        next_batch, the count of events goes on, the learning rate is scaled."""
        self.state.batch_offset.assign(next_batch - step)
        self.state.events.assign(events)
        self.state.rollbacks.assign_add(1)
        self.state.lr_scale.assign(ROLLBACK_LR_FACTOR)
        self.state.recent.assign(tf.fill([LIMIT], tf.constant(-1, tf.int64)))


# --------------------------------------------------------------------------
# The report of one non-finite step.
# --------------------------------------------------------------------------
def nonfinite_parts(logs):
    """Which of r_cost, kl_cost and the gradients were NaN or inf in a step's logs."""
    parts = [name for name in ('r_cost', 'kl_cost') if not math.isfinite(logs[name])]
    return parts + ([] if math.isfinite(logs['grad_norm']) else ['gradients'])


def _number(value):
    """A JSON number, or 'nan' / 'inf' / '-inf' (JSON has no such numbers)."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


def report(step, batch, logs, action, train_set, positions):
    """(the report as a dict, its drawing as SVG) of a non-finite step:
    the batch's sketches (positions in train_set.strokes) largest offset
    first, then most points, each named by where it came from."""
    sketches = sorted(
        ((train_set.sources[p], train_set.strokes[p]) for p in positions),
        key=lambda item: (-float(np.abs(item[1][:, :2]).max()), -len(item[1])))
    listed = []
    for source, sketch in sketches:
        file, split, index = source
        listed.append(dict(file=file, split=split, index=int(index), points=len(sketch),
                           largest_offset=float(np.abs(sketch[:, :2]).max()
                                                * train_set.scale_factor)))
    values = dict(step=step, batch=batch, action=action, non_finite=nonfinite_parts(logs),
                  **{name: _number(logs[name])
                     for name in ('cost', 'r_cost', 'kl_cost', 'grad_norm', 'lr', 'kl_weight')},
                  sketches=listed)
    svg = draw_grid([sketch for _, sketch in sketches], min(REPORT_COLUMNS, len(sketches)))
    return values, svg
