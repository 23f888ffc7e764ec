"""The training loop: batches by number, validation and checkpoints at the
end of each validation interval, exact resume, the policy for non-finite
steps (sketchgen.nonfinite), a clean stop on SIGINT/SIGTERM.

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
import threading
import time

from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import keras
import numpy as np
import tensorflow as tf

from sketchgen import nonfinite, progress
from sketchgen.checkpoints import training_checkpoint
from sketchgen.distribute import across_workers, fit_across_workers
from sketchgen.errors import CheckpointError, WriteError
from sketchgen.hparams import PRECISIONS
from sketchgen.length_buckets import LengthBucketedBatches
from sketchgen.messages import first_line
from sketchgen.model import Seq2seqModel, evaluate_costs, make_optimizer

LOG_EVERY = 20  # steps between training summaries, as Magenta
VALID, TEST = 0, 1  # which split's validation noise (see measure)
_DRAWING = threading.Lock()  # a batch is drawn whole: an ended fit's prefetch may still draw


def batch_dataset(train_set, seed, start_step, end_step, strategy=None, length_buckets=False):
    """The run's batches number [start_step, end_step): batch k depends only
    on (seed, k), so a resumed run sees the same batches; the next batch is
    prepared while the current one trains.  Batch k trains step k until a
    non-finite step is skipped (sketchgen.nonfinite: the Trainer's
    batch_offset).  length_buckets: batches of similar lengths, each cut to
    its length bucket (sketchgen.length_buckets), whose number of steps the
    dataset leaves unknown, so that the training step is traced once for all.

    With several replicas (a tf.distribute strategy) batch k is still the
    global batch of batch_size sketches: every worker makes it and keeps its
    own replicas' consecutive slices of batch_size / replicas."""
    hps_len = train_set.max_seq_length
    bucketed = LengthBucketedBatches(train_set, seed) if length_buckets else None

    def make_batch(step):
        with _DRAWING:
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


def batch_sketches(train_set, seed, number, length_buckets=False):
    """Where in train_set.strokes the sketches of batch `number` are, as
    batch_dataset draws them."""
    if length_buckets:
        return LengthBucketedBatches(train_set, seed).indices(int(number))
    return train_set.random_indices(np.random.RandomState([seed, int(number)]))


class TrainerEvents(keras.callbacks.Callback):
    """Passes fit's events on to the Trainer, and stops fit when it stops."""

    def __init__(self, trainer):
        super().__init__()
        self.trainer = trainer

    def on_train_batch_end(self, batch, logs=None):
        self.trainer.after_step(logs or {})
        self.model.stop_training = self.trainer.ending_fit

    def on_epoch_end(self, epoch, logs=None):  # the end of a validation interval
        self.trainer.end_interval()
        self.model.stop_training = self.trainer.ending_fit


class Trainer:
    """Owns the model, its checkpoints, the run's state (step, best validation
    cost, why it stopped) and the loop over validation intervals.

    experiment: a sketchgen.experiment.Experiment; data: (train, valid, test)
    DataLoaders; settings: the run's RunSettings (seed, save_every,
    precision, on_nonfinite, length_buckets); monitor: None, or what draws at
    each validation (draw(model, step, writer))."""

    def __init__(self, experiment, hps, data, settings, strategy, chief, scratch_dir=None,
                 monitor=None):
        self.hps, self.seed, self.interval = hps, settings.seed, settings.save_every
        self.best_on = settings.best_on  # the validation cost that picks the best weights
        self.length_buckets = settings.length_buckets
        self.train_set, self.valid_set, self.test_set = data
        self.strategy, self.chief, self.monitor = strategy, chief, monitor
        self.experiment, self.paths = experiment, experiment.paths
        with strategy.scope():
            self.policy = nonfinite.NonfinitePolicy(settings.on_nonfinite)
            self.model = Seq2seqModel(hps, seed=self.seed, dtype=PRECISIONS[settings.precision],
                                      length_buckets=self.length_buckets)
            self.model.compile(optimizer=make_optimizer(hps, self.policy.state.lr_scale))
            self.model.optimizer.build(self.model.trainable_variables)
            self.best_valid_cost = tf.Variable(np.inf, dtype=tf.float64, trainable=False)
            self.best_step = tf.Variable(-1, dtype=tf.int64, trainable=False)
        if across_workers(strategy):
            fit_across_workers(self.model)
        bookkeeping = dict(best_valid_cost=self.best_valid_cost, best_step=self.best_step)
        self.checkpoint = training_checkpoint(self.model, nonfinite=self.policy.state,
                                              **bookkeeping)
        # Checkpoints written before the policy existed hold no state of it.
        self.checkpoint_without_policy = training_checkpoint(self.model, **bookkeeping)
        # Only the chief writes where users look; other workers write to
        # their scratch folder (tf.distribute needs every worker to save).
        latest_dir = self.paths['latest'] if chief else os.path.join(scratch_dir, 'latest')
        self.manager = tf.train.CheckpointManager(self.checkpoint, latest_dir, max_to_keep=2)
        self.callback = TrainerEvents(self)
        self.stop_message = None  # why the run stopped at a non-finite value
        self.interrupted = None  # the name of the signal received
        self.replan = False  # a skipped batch ended the fit call: plan the rest again
        self.rollback_due = False
        self.notices = []  # lines to print once the fit call ends
        self.last_time, self.last_step = time.time(), 0
        self.interval_steps = self.clipped_steps = 0  # this interval's applied, clipped steps

    @property
    def step(self):
        """The run's step: the updates applied (Adam's iteration count)."""
        return int(self.model.optimizer.iterations.numpy())

    @property
    def stopping(self):
        return self.stop_message is not None or self.interrupted is not None

    @property
    def ending_fit(self):
        return self.stopping or self.replan

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
            names = tf.train.list_variables(path)
            checkpoint = (self.checkpoint if any(name.startswith('nonfinite/') for name, _ in names)
                          else self.checkpoint_without_policy)
            checkpoint.restore(path).assert_existing_objects_matched()
        # IndexError: the reader's error for a truncated data file.
        except (tf.errors.OpError, ValueError, AssertionError, IndexError) as err:
            raise CheckpointError(f'{path}: cannot resume from this checkpoint (corrupt, or '
                                  f'written for another configuration): {first_line(err)}') from None

    # -- fit's events --------------------------------------------------------
    def after_step(self, logs):
        if logs['skipped']:
            self.on_nonfinite(logs)
            return
        self.interval_steps += 1
        self.clipped_steps += int(logs['clipped'])
        if self.step % LOG_EVERY == 0:
            self.log_training(logs)

    def end_interval(self):
        if not self.ending_fit:  # the interval ran to its end
            self.validate()

    def on_nonfinite(self, logs):
        """A step whose update was not applied: its report, then the policy's decision."""
        step = self.step
        batch = step + self.policy.batch_offset
        action = self.policy.decide(batch)
        latest = self.manager.latest_checkpoint
        if action == 'rollback' and latest is None:
            action = 'stop'
        values, svg = nonfinite.report(step, batch, logs, action, self.train_set,
                                       batch_sketches(self.train_set, self.seed, batch,
                                                      self.length_buckets))
        path = (self.experiment.save_nonfinite_report(batch, values, svg) if self.chief
                else 'the chief')
        with self.train_writer.as_default(step=step):
            tf.summary.scalar('nonfinite_steps', self.policy.events)
        what = f'{", ".join(values["non_finite"])} NaN or inf at step {step} (batch {batch})'
        self.replan = True
        if action == 'skip':
            self.notices.append(f'{what}: its update skipped, training goes on. Its sketches: '
                                f'{path}')
        elif action == 'rollback':
            self.rollback_due = True
            self.notices.append(f'{what}: {self.policy.burst()}. Its sketches: {path}')
        elif self.policy.name == 'stop':
            self.stop_message = f'{what}; stopped (--on_nonfinite stop). Its sketches: {path}'
        else:
            why = ('again after the rollback' if self.policy.rollbacks
                   else 'with no checkpoint yet to roll back to')
            self.stop_message = (f'{self.policy.burst()} {why}; stopped at step {step}. Each '
                                 f'batch\'s sketches: {os.path.dirname(path)}/batch_NNNNNNN.json '
                                 f'(this one: {path})')

    def rollback(self):
        """Back to the latest checkpoint, once, with the learning rate scaled
        down; the stream of batches goes on where it was."""
        self.rollback_due = False
        next_batch, events = self.step + self.policy.batch_offset, self.policy.events
        latest = self.manager.latest_checkpoint
        self.restore(latest)
        self.policy.rolled_back(self.step, next_batch, events)
        self.interval_steps = self.clipped_steps = 0
        self.last_time, self.last_step = time.time(), self.step
        with self.train_writer.as_default(step=self.step):
            tf.summary.scalar('rollbacks', self.policy.rollbacks)
        print(f'Rolled back to step {self.step} ({latest}), learning rate x'
              f'{nonfinite.ROLLBACK_LR_FACTOR:g} from here on; training goes on from batch '
              f'{next_batch}', flush=True)

    def log_training(self, logs):
        """Training summaries at the global step, as Magenta (Keras' TensorBoard
        callback restarts its count in each fit call, and the record_if it
        leaves on during fit dropped the validation summaries)."""
        with self.train_writer.as_default(step=self.step):
            for name in ('cost', 'r_cost', 'kl_cost'):
                tf.summary.scalar(f'train_{name}', logs[name])
            for name in ('lr', 'kl_weight', 'grad_norm'):
                tf.summary.scalar(name, logs[name])

    def validate(self):
        step, model = self.step, self.model
        now = time.time()
        steps_per_second = (step - self.last_step) / max(now - self.last_time, 1e-9)
        valid = measure(model, self.valid_set, self.seed, step, VALID)
        cost = valid[self.best_on]['cost']
        if not math.isfinite(cost):
            self.stop_message = f'valid cost became NaN or inf at step {step}; stopped'
            return
        with self.train_writer.as_default(step=step):
            tf.summary.scalar('clipped_fraction', self.clipped_steps / max(self.interval_steps, 1))
            tf.summary.scalar('nonfinite_steps', self.policy.events)
            tf.summary.scalar('rollbacks', self.policy.rollbacks)
        self.interval_steps = self.clipped_steps = 0
        scalars = dict(_scalars('valid', valid), steps_per_second=steps_per_second)
        sampled, mean = valid['sampled_z'], valid['mean_z']
        line = (f'step {step}: valid cost {sampled["cost"]:.4f} (r {sampled["r_cost"]:.4f}, '
                f'kl {sampled["kl_cost"]:.4f}), at the posterior mean {mean["cost"]:.4f}, '
                f'{steps_per_second:.2f} steps/s')
        if cost < float(self.best_valid_cost.numpy()):
            self.best_valid_cost.assign(cost)
            self.best_step.assign(step)
            test = measure(model, self.test_set, self.seed, step, TEST)
            scalars.update(_scalars('test', test))
            line += f'; new best, test cost {test["sampled_z"]["cost"]:.4f}'
            if self.chief:
                record = dict(step=step, best_on=self.best_on, valid=valid, test=test)
                self.write_or_stop(self.paths['best'],
                                   lambda: self.experiment.save_best(model, record))
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
        Returns 'done', 'nan' (see stop_message) or the signal's name."""
        # The progress line first, so it closes its line before validation prints.
        callbacks = ([progress.RunProgress(lambda: self.step, end_step), self.callback]
                     if self.chief else [self.callback])
        self.last_time, self.last_step = time.time(), self.step
        try:
            with signals_to(self._on_signal):
                while self.step < end_step and not self.stopping:
                    self.replan = False
                    self.fit_intervals(end_step, callbacks)
                    for line in self.notices:
                        print(line, flush=True)
                    self.notices = []
                    if self.rollback_due:
                        self.rollback()
        finally:
            self.train_writer.flush()
        if self.stop_message is not None:
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
        offset = self.policy.batch_offset
        self.model.fit(batch_dataset(self.train_set, self.seed, start + offset, stop + offset,
                                     self.strategy, self.length_buckets),
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


def measure(model, data, seed, step, split):
    """{measure: costs} of `data` as a run validates at `step`: 'sampled_z',
    Magenta's (z drawn with noise_seed's noise, so a resumed run validates as
    an uninterrupted one and --evaluate repeats it), and 'mean_z', at the
    posterior mean (the same for a decoder-only model)."""
    sampled = evaluate_costs(model, data, noise_seed=noise_seed(seed, step, split))
    mean = evaluate_costs(model, data, use_mean_z=True) if model.hps.conditional else sampled
    return dict(sampled_z=sampled, mean_z=mean)


def noise_seed(seed, step, split):
    """evaluate_costs' noise_seed for a run's validation of `split` at `step`."""
    return seed, step, split


def _scalars(split, measures):
    """TensorBoard's names for a split's costs: valid_cost (Magenta's), ...,
    valid_cost_mean_z (at the posterior mean), ..."""
    names = {}
    for measure, costs in measures.items():
        suffix = '' if measure == 'sampled_z' else '_mean_z'
        names.update({f'{split}_{name}{suffix}': value for name, value in costs.items()})
    return names
