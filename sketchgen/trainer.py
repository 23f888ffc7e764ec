"""The training loop: batches by step, validation and checkpoints at the end
of each validation interval, exact resume, a clean stop on NaN or on
SIGINT/SIGTERM.

A validation interval is `save_every` steps (once an epoch by default).
Keras' fit calls each of its "epochs" what is one interval here."""
import contextlib
import functools
import glob
import itertools
import math
import os
import shutil
import signal
import time

from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import keras
import numpy as np
import tensorflow as tf

from sketchgen import progress
from sketchgen.checkpoints import training_checkpoint
from sketchgen.distribute import across_workers, fit_across_workers
from sketchgen.errors import CheckpointError, WriteError
from sketchgen.hparams import PRECISIONS
from sketchgen.length_buckets import LengthBucketedBatches
from sketchgen.messages import first_line
from sketchgen.model import Seq2seqModel, evaluate_costs, make_optimizer

LOG_EVERY = 20  # steps between training summaries, as Magenta


def batch_dataset(train_set, seed, start_step, end_step, strategy=None, length_buckets=False):
    """Batches for global steps [start_step, end_step): the batch of step k
    depends only on (seed, k), so a resumed run sees the same batches; the
    next batch is prepared while the current one trains.  length_buckets:
    batches of similar lengths, each cut to its length bucket
    (sketchgen.length_buckets), whose number of steps the dataset leaves
    unknown, so that the training step is traced once for all of them.

    With several replicas (a tf.distribute strategy) the batch of step k is
    still the global batch of batch_size sketches: every worker makes it and
    keeps its own replicas' consecutive slices of batch_size / replicas."""
    hps_len = train_set.max_seq_length
    bucketed = LengthBucketedBatches(train_set, seed) if length_buckets else None

    def make_batch(step):
        if bucketed:
            _, x, seq_len = bucketed.batch(int(step))
        else:
            train_set.rng.seed([seed, int(step)])
            _, x, seq_len = train_set.random_batch()
        return x, seq_len.astype(np.int32)

    def to_inputs(step):
        x, seq_len = tf.numpy_function(make_batch, [step], (tf.float32, tf.int32))
        x.set_shape([train_set.batch_size, None if bucketed else hps_len + 1, 5])
        seq_len.set_shape([train_set.batch_size])
        return dict(strokes=x, seq_len=seq_len)

    if strategy is None or strategy.num_replicas_in_sync == 1:
        return tf.data.Dataset.range(start_step, end_step).map(to_inputs).prefetch(2)

    def worker_dataset(context):
        per_replica = context.get_per_replica_batch_size(train_set.batch_size)
        local = context.num_replicas_in_sync // context.num_input_pipelines
        first = context.input_pipeline_id * local * per_replica

        def own_slices(inputs):  # -> one element per local replica, in order
            return {name: tf.reshape(value[first:first + local * per_replica],
                                     [local, per_replica] + [-1 if size is None else size
                                                             for size in value.shape[1:]])
                    for name, value in inputs.items()}

        return (tf.data.Dataset.range(start_step, end_step).map(to_inputs)
                .map(own_slices).unbatch().prefetch(2 * local))

    return strategy.distribute_datasets_from_function(worker_dataset)


class TrainerEvents(keras.callbacks.Callback):
    """Passes fit's events on to the Trainer, and stops fit when it stops."""

    def __init__(self, trainer):
        super().__init__()
        self.trainer = trainer

    def on_train_batch_end(self, batch, logs=None):
        self.trainer.after_step(logs or {})
        self.model.stop_training = self.trainer.stopping

    def on_epoch_end(self, epoch, logs=None):  # the end of a validation interval
        self.trainer.end_interval()
        self.model.stop_training = self.trainer.stopping


class Trainer:
    """Owns the model, its checkpoints, the run's state (step, best validation
    cost, why it stopped) and the loop over validation intervals.

    experiment: a sketchgen.experiment.Experiment; data: (train, valid, test)
    DataLoaders; settings: the run's RunSettings (seed, save_every,
    precision, length_buckets); monitor: None, or what draws at each validation
    (draw(model, step, writer))."""

    def __init__(self, experiment, hps, data, settings, strategy, chief, scratch_dir=None,
                 monitor=None):
        self.hps, self.seed, self.interval = hps, settings.seed, settings.save_every
        self.length_buckets = settings.length_buckets
        self.train_set, self.valid_set, self.test_set = data
        self.strategy, self.chief, self.monitor = strategy, chief, monitor
        self.experiment, self.paths = experiment, experiment.paths
        with strategy.scope():
            self.model = Seq2seqModel(hps, seed=self.seed, dtype=PRECISIONS[settings.precision],
                                      length_buckets=self.length_buckets)
            self.model.compile(optimizer=make_optimizer(hps))
            self.model.optimizer.build(self.model.trainable_variables)
            self.best_valid_cost = tf.Variable(np.inf, dtype=tf.float64, trainable=False)
            self.best_step = tf.Variable(-1, dtype=tf.int64, trainable=False)
        if across_workers(strategy):
            fit_across_workers(self.model)
        self.checkpoint = training_checkpoint(self.model, best_valid_cost=self.best_valid_cost,
                                              best_step=self.best_step)
        # Only the chief writes where users look; other workers write to
        # their scratch folder (tf.distribute needs every worker to save).
        latest_dir = self.paths['latest'] if chief else os.path.join(scratch_dir, 'latest')
        self.manager = tf.train.CheckpointManager(self.checkpoint, latest_dir, max_to_keep=2)
        self.callback = TrainerEvents(self)
        self.nan_step = None  # the step whose cost was NaN or inf
        self.interrupted = None  # the name of the signal received
        self.last_time, self.last_step = time.time(), 0

    @property
    def step(self):
        return int(self.model.optimizer.iterations.numpy())

    @property
    def stopping(self):
        return self.nan_step is not None or self.interrupted is not None

    # Event files are made on first use, so a run refused before training
    # (a corrupt checkpoint) adds nothing to the experiment folder.
    @functools.cached_property
    def writer(self):
        return self._summary_writer('validation')

    @functools.cached_property
    def train_writer(self):
        return self._summary_writer('train')

    def _summary_writer(self, name):
        if not self.chief:
            return tf.summary.create_noop_writer()
        return tf.summary.create_file_writer(os.path.join(self.paths['tensorboard'], name))

    def restore(self, path):
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        # IndexError: the reader's error for a truncated data file.
        except (tf.errors.OpError, ValueError, AssertionError, IndexError) as err:
            raise CheckpointError(f'{path}: cannot resume from this checkpoint (corrupt, or '
                                  f'written for another configuration): {first_line(err)}') from None

    # -- fit's events --------------------------------------------------------
    def after_step(self, logs):
        if not math.isfinite(float(logs['cost'])):
            self.nan_step = self.step
        elif self.step % LOG_EVERY == 0:
            self.log_training(logs)

    def end_interval(self):
        if not self.stopping:
            self.validate()

    def log_training(self, logs):
        """Training summaries at the global step, as Magenta (Keras' TensorBoard
        callback restarts its count in each fit call, and the record_if it
        leaves on during fit dropped the validation summaries)."""
        with self.train_writer.as_default(step=self.step):
            for name in ('cost', 'r_cost', 'kl_cost'):
                tf.summary.scalar(f'train_{name}', logs[name])
            for name in ('lr', 'kl_weight'):
                tf.summary.scalar(name, logs[name])

    def validate(self):
        step, model = self.step, self.model
        now = time.time()
        steps_per_second = (step - self.last_step) / max(now - self.last_time, 1e-9)
        valid = evaluate_costs(model, self.valid_set)
        if not math.isfinite(valid['cost']):
            self.nan_step = step
            return
        scalars = dict(valid_cost=valid['cost'], valid_r_cost=valid['r_cost'],
                       valid_kl_cost=valid['kl_cost'], steps_per_second=steps_per_second)
        line = (f'step {step}: valid cost {valid["cost"]:.4f} (r {valid["r_cost"]:.4f}, '
                f'kl {valid["kl_cost"]:.4f}), {steps_per_second:.2f} steps/s')
        if valid['cost'] < float(self.best_valid_cost.numpy()):
            self.best_valid_cost.assign(valid['cost'])
            self.best_step.assign(step)
            test = evaluate_costs(model, self.test_set)
            scalars.update(test_cost=test['cost'], test_r_cost=test['r_cost'],
                           test_kl_cost=test['kl_cost'])
            line += f'; new best, test cost {test["cost"]:.4f}'
            if self.chief:
                self.write_or_stop(self.paths['best'], lambda: self.experiment.save_best(model))
        else:
            line += (f'; best {float(self.best_valid_cost.numpy()):.4f} '
                     f'at step {int(self.best_step.numpy())}')
        scalars.update(best_valid_cost=float(self.best_valid_cost.numpy()))
        with self.writer.as_default(step=step):
            for name, value in scalars.items():
                tf.summary.scalar(name, value)
        self.writer.flush()
        if self.monitor:
            self.monitor.draw(model, step, self.writer)
        self.save_latest()
        print(line, flush=True)
        self.last_time, self.last_step = time.time(), step

    def save_latest(self):
        # CheckpointManager writes the files first and then swaps the
        # `checkpoint` index atomically, so a kill leaves the previous one.
        prefix = os.path.join(self.manager.directory, f'ckpt-{self.step}')
        self.write_or_stop(prefix, lambda: self.manager.save(checkpoint_number=self.step),
                           leftovers=(prefix + '.*', prefix + '_temp*'))

    def write_or_stop(self, path, write, leftovers=()):
        """write(), or on a failed write (a full disk) remove what it left and
        raise WriteError: the previous checkpoint is untouched."""
        try:
            write()
        except (OSError, tf.errors.OpError) as err:
            if self.manager.latest_checkpoint != path:
                for leftover in itertools.chain(*map(glob.glob, leftovers)):
                    if os.path.isdir(leftover):
                        shutil.rmtree(leftover)
                    else:
                        os.remove(leftover)
            previous = self.manager.latest_checkpoint or 'no checkpoint yet'
            raise WriteError(f'{path}: cannot write it ({first_line(err)}); stopped at step '
                             f'{self.step}. Kept: {previous}') from None

    # -- the loop -------------------------------------------------------------
    def train(self, end_step):
        """Trains up to end_step in validation intervals (a partial first or
        last interval where the run starts or ends between boundaries).
        Returns 'done', 'nan' or the signal's name."""
        # The progress line first, so it closes its line before validation prints.
        callbacks = ([progress.RunProgress(lambda: self.step, end_step), self.callback]
                     if self.chief else [self.callback])
        self.last_time, self.last_step = time.time(), self.step
        try:
            with signals_to(self._on_signal):
                while self.step < end_step and not self.stopping:
                    self.fit_intervals(end_step, callbacks)
        finally:
            self.train_writer.flush()
        if self.nan_step is not None:
            return 'nan'
        if self.interrupted:
            self.save_latest()
            return self.interrupted
        return 'done'

    def fit_intervals(self, end_step, callbacks):
        """One fit call: the rest of the current interval, or all the whole
        intervals from here to end_step (fit's epochs are intervals)."""
        start = self.step
        interval = start // self.interval
        stop = min(end_step, (interval + 1) * self.interval)
        if stop - start == self.interval:  # whole intervals: one fit call
            whole = (end_step - start) // self.interval
            stop = start + whole * self.interval
            intervals, steps = interval + whole, self.interval
        else:
            intervals, steps = interval + 1, stop - start
        self.model.fit(batch_dataset(self.train_set, self.seed, start, stop, self.strategy,
                                     self.length_buckets),
                       initial_epoch=interval, epochs=intervals, steps_per_epoch=steps,
                       callbacks=callbacks, shuffle=False, verbose=0)

    def _on_signal(self, signum, frame):
        self.interrupted = signal.Signals(signum).name


@contextlib.contextmanager
def signals_to(handler, signals=(signal.SIGINT, signal.SIGTERM)):
    """handler(signum, frame) receives these signals, then the previous handlers again."""
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
