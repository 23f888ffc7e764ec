"""Train sketch-rnn as Magenta's sketch_rnn_train.py does, with experiment
folders, TensorBoard, best/latest checkpoints and exact resume.

    python3 seq2seqVAE_train.py --data_dir datasets --data_set cat --epochs 20
    python3 seq2seqVAE_train.py --resume experiments/cat/exp
    python3 seq2seqVAE_train.py --resume experiments/cat/exp --epochs 40   # a new end
    python3 seq2seqVAE_train.py --evaluate experiments/cat/exp
    python3 seq2seqVAE_train.py --list experiments
"""
import argparse
import contextlib
import functools
import glob
import itertools
import math
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
import time

import seq2seqVAE as S  # first: it sets TensorFlow's CPU options before TensorFlow loads
import numpy as np
import tensorflow as tf
import keras

import utils
from sketchgen import atomic, monitor, progress, runs
from sketchgen.run_lock import LockedError, RunLock, describe
from sketchgen.run_settings import (DEFAULT_DATA_SET, SettingsError, check_resume_matches,
                                    new_run_hparams, read_experiment)

DESCRIPTION = __doc__.split('\n\n')[0]
DEFAULT_EPOCHS = 20
DEFAULT_DATA_DIR = 'datasets'
LOG_EVERY = 20  # steps between training summaries, as Magenta


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=DESCRIPTION,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--data_dir', default=None,
                   help=f'folder or http(s) URL holding the .npz files; default: {DEFAULT_DATA_DIR} '
                        '(with --resume/--evaluate: the run\'s own)')
    p.add_argument('--data_set', nargs='+', default=None,
                   help='one or more QuickDraw .npz names (".npz" optional), concatenated; '
                        f'default: {DEFAULT_DATA_SET}')
    p.add_argument('--experiment_dir', default='experiments',
                   help='runs go to <experiment_dir>/<data sets>/exp, exp_0, ...')
    p.add_argument('--epochs', type=int, default=None,
                   help=f"passes over the training set; default: {DEFAULT_EPOCHS}; with --resume: "
                        "the run's new end (default: the end it recorded)")
    p.add_argument('--hparams', default='', help='hyper-parameters "name=value,name=value"')
    p.add_argument('--resume', metavar='PATH', help='experiment folder to continue exactly')
    p.add_argument('--max_steps', type=int, default=None,
                   help="total training steps (Magenta's num_steps); default: from --epochs; "
                        "with --resume: the run's new end")
    p.add_argument('--save_every', type=int, default=None,
                   help='steps between validations and checkpoints; default: once an epoch')
    p.add_argument('--seed', type=int, default=None, help='random seed; default: a random one')
    p.add_argument('--samples', type=int, default=None, metavar='N',
                   help='at each validation draw N samples per temperature and N reconstructions '
                        f'(samples/ and TensorBoard); 0: none; default: {monitor.DEFAULT_SAMPLES} '
                        "(with --resume: the run's own)")
    p.add_argument('--list', nargs='?', const='experiments', metavar='DIR',
                   help='list the runs under DIR (default: experiments) and exit')
    p.add_argument('--evaluate', metavar='PATH',
                   help="print valid and test costs of an experiment's best checkpoint, and exit")
    p.add_argument('--checkpoint', metavar='FILE',
                   help='start from these weights (.weights.h5, experiment or Magenta folder)')
    p.add_argument('--initial_epoch', type=int, default=0,
                   help='with --checkpoint: the epoch the schedules continue from')
    p.add_argument('--strategy', choices=('default', 'mirrored', 'multi_worker'),
                   default='default', help='tf.distribute strategy; multi_worker reads TF_CONFIG')
    p.add_argument('--precision', choices=tuple(S.PRECISIONS), default=None,
                   help='bfloat16: networks in bfloat16 (for GPUs and bf16 CPUs), weights, z and '
                        "losses in float32; default: float32 (with --resume: the run's own)")
    return p.parse_args(argv)


class Tee:
    """Copies everything printed to the experiment's log.txt."""

    def __init__(self, stream, path):
        self.stream, self.file = stream, open(path, 'a', buffering=1)

    def write(self, text):
        self.stream.write(text)
        if '\r' in text or '\b' in text:  # a progress-bar redraw: log its final state only
            text = text.rsplit('\r', 1)[-1] if text.endswith('\n') else ''
        self.file.write(re.sub(r'\x1b\[[0-9;]*m', '', text))  # no terminal colours

    def flush(self):
        self.stream.flush()
        self.file.flush()

    def isatty(self):
        return self.stream.isatty()

    def close(self):
        """Gives sys.stdout back and closes the log."""
        sys.stdout = self.stream
        self.file.close()


def fail(message):
    """One clear line on stderr, no traceback."""
    print(f'error: {message}', file=sys.stderr)
    sys.exit(2)


def one_line(err):
    """The first line of an error's message (TensorFlow's and h5py's run on)."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


# --------------------------------------------------------------------------
# Experiment folders
# --------------------------------------------------------------------------
def new_experiment_dir(root, data_sets):
    """<root>/<set names joined by _>/exp, then exp_0, exp_1, ... (never reused)."""
    parent = os.path.join(root, '_'.join(name[:-4] for name in data_sets))
    os.makedirs(parent, exist_ok=True)
    candidates = ['exp'] + [f'exp_{i}' for i in range(10 ** 6)]
    for name in candidates:
        path = os.path.join(parent, name)
        try:
            os.makedirs(path)  # atomic: two runs never share a folder
            return path
        except FileExistsError:
            continue


def make_strategy(name):
    if name == 'mirrored':
        return tf.distribute.MirroredStrategy()
    if name == 'multi_worker':
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def cluster_tasks(strategy):
    """{task type: addresses} of a multi-worker strategy's cluster; {} otherwise."""
    resolver = getattr(strategy, 'cluster_resolver', None)
    return resolver.cluster_spec().as_dict() if resolver is not None else {}


def is_chief(strategy):
    """The chief is task 'chief', or worker 0 where no chief is named."""
    resolver = getattr(strategy, 'cluster_resolver', None)
    if not cluster_tasks(strategy):
        return True
    if resolver.task_type == 'chief':
        return True
    return (resolver.task_type == 'worker' and resolver.task_id == 0
            and 'chief' not in resolver.cluster_spec().as_dict())


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------
def batch_dataset(train_set, seed, start_step, end_step, strategy=None):
    """Batches for global steps [start_step, end_step): the batch of step k
    depends only on (seed, k), so a resumed run sees the same batches; the
    next batch is prepared while the current one trains.

    With several replicas (a tf.distribute strategy) the batch of step k is
    still the global batch of batch_size sketches: every worker makes it and
    keeps its own replicas' consecutive slices of batch_size / replicas."""
    hps_len = train_set.max_seq_length

    def make_batch(step):
        train_set.rng.seed([seed, int(step)])
        _, x, seq_len = train_set.random_batch()
        return x, seq_len.astype(np.int32)

    def to_inputs(step):
        x, seq_len = tf.numpy_function(make_batch, [step], (tf.float32, tf.int32))
        x.set_shape([train_set.batch_size, hps_len + 1, 5])
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
                                     [local, per_replica] + value.shape[1:].as_list())
                    for name, value in inputs.items()}

        return (tf.data.Dataset.range(start_step, end_step).map(to_inputs)
                .map(own_slices).unbatch().prefetch(2 * local))

    return strategy.distribute_datasets_from_function(worker_dataset)


class ValidationCheckpoint(keras.callbacks.Callback):
    """At the end of each interval: validate without dropout, keep the best
    weights (evaluating the test set when they improve), write the latest
    checkpoint.  Stops training on a NaN/inf cost or on SIGINT/SIGTERM."""

    def __init__(self, trainer):
        super().__init__()
        self.trainer = trainer
        self.interrupted = None  # name of the signal received
        self.nan_step = None

    def on_train_batch_end(self, batch, logs=None):
        if logs and not math.isfinite(float(logs['cost'])):
            self.nan_step = self.trainer.step
        elif logs and self.trainer.step % LOG_EVERY == 0:
            self.trainer.log_training(logs)
        if self.nan_step is not None or self.interrupted:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.nan_step is None and not self.interrupted:
            self.trainer.validate()


def fit_across_workers(model):
    """The one adapter to private Keras API, for fit across workers, which
    Keras 3 gets wrong twice: its symbolic build all-reduces a first batch,
    which fails on dict inputs (keras-team/keras#20329; the model and
    optimizer are built: skip it), and it averages the step's results along
    an axis 0 that scalars lack (tensorflow/tensorflow#72388: give them one).
    tests/test_distribute.py fails when Keras drops the method replaced here."""
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    train_step = model.train_step
    model.train_step = lambda data: {name: tf.reshape(value, [1])
                                     for name, value in train_step(data).items()}


class Trainer:
    """Owns the model, its checkpoints and the loop over validation intervals."""

    def __init__(self, exp_dir, hps, data, seed, steps_per_epoch, strategy, chief,
                 scratch_dir=None, precision='float32'):
        self.hps, self.seed, self.steps_per_epoch = hps, seed, steps_per_epoch
        self.train_set, self.valid_set, self.test_set = data
        self.strategy, self.chief = strategy, chief
        self.exp_dir, self.paths = exp_dir, S.experiment_paths(exp_dir)
        with strategy.scope():
            self.model = S.Seq2seqModel(hps, seed=seed, dtype=S.PRECISIONS[precision])
            self.model.compile(optimizer=S.make_optimizer(hps))
            self.model.optimizer.build(self.model.trainable_variables)
            self.best_valid_cost = tf.Variable(np.inf, dtype=tf.float64, trainable=False)
            self.best_step = tf.Variable(-1, dtype=tf.int64, trainable=False)
        if sum(len(tasks) for tasks in cluster_tasks(strategy).values()) > 1:
            fit_across_workers(self.model)
        self.checkpoint = S.training_checkpoint(self.model, best_valid_cost=self.best_valid_cost,
                                                best_step=self.best_step)
        # Only the chief writes where users look; other workers write to
        # their scratch folder (tf.distribute needs every worker to save).
        latest_dir = self.paths['latest'] if chief else os.path.join(scratch_dir, 'latest')
        self.manager = tf.train.CheckpointManager(self.checkpoint, latest_dir, max_to_keep=2)
        self.callback = ValidationCheckpoint(self)
        self.monitor = None  # a monitor.Monitor drawing at each validation
        self.last_time, self.last_step = time.time(), 0

    @property
    def step(self):
        return int(self.model.optimizer.iterations.numpy())

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
            fail(f'{path}: cannot resume from this checkpoint (corrupt, or written for '
                 f'another configuration): {str(err).splitlines()[0]}')

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
        valid = S.evaluate_costs(model, self.valid_set)
        if not math.isfinite(valid['cost']):
            self.callback.nan_step = step
            model.stop_training = True
            return
        scalars = dict(valid_cost=valid['cost'], valid_r_cost=valid['r_cost'],
                       valid_kl_cost=valid['kl_cost'], steps_per_second=steps_per_second)
        line = (f'step {step}: valid cost {valid["cost"]:.4f} (r {valid["r_cost"]:.4f}, '
                f'kl {valid["kl_cost"]:.4f}), {steps_per_second:.2f} steps/s')
        if valid['cost'] < float(self.best_valid_cost.numpy()):
            self.best_valid_cost.assign(valid['cost'])
            self.best_step.assign(step)
            test = S.evaluate_costs(model, self.test_set)
            scalars.update(test_cost=test['cost'], test_r_cost=test['r_cost'],
                           test_kl_cost=test['kl_cost'])
            line += f'; new best, test cost {test["cost"]:.4f}'
            if self.chief:
                self.write_or_stop(self.paths['best'],
                                   lambda: atomic.replace_file(self.paths['best'], model.save_weights))
        else:
            line += (f'; best {float(self.best_valid_cost.numpy()):.4f} '
                     f'at step {int(self.best_step.numpy())}')
        scalars.update(best_valid_cost=float(self.best_valid_cost.numpy()))
        with self.writer.as_default(step=step):
            for name, value in scalars.items():
                tf.summary.scalar(name, value)
        self.writer.flush()
        if self.monitor:
            self.monitor.draw(step)
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
        stop the run with one line: the previous checkpoint is untouched."""
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
            fail(f'{path}: cannot write it ({one_line(err)}); stopped at step {self.step}. '
                 f'Kept: {previous}. Free some space, then: python3 seq2seqVAE_train.py '
                 f'--resume {self.exp_dir}')

    def train(self, end_step):
        """Trains up to end_step in validation intervals of steps_per_epoch
        (a partial first or last interval where the run starts or ends
        between boundaries).  Returns 'done', 'nan' or the signal's name."""
        # The progress line first, so it closes its line before validation prints.
        callbacks = ([progress.RunProgress(lambda: self.step, end_step), self.callback]
                     if self.chief else [self.callback])
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        self.last_time, self.last_step = time.time(), self.step
        try:
            while self.step < end_step and self.callback.nan_step is None and not self.callback.interrupted:
                start = self.step
                epoch = start // self.steps_per_epoch
                stop = min(end_step, (epoch + 1) * self.steps_per_epoch)
                if stop - start == self.steps_per_epoch:  # whole intervals: one fit call
                    whole = (end_step - start) // self.steps_per_epoch
                    stop = start + whole * self.steps_per_epoch
                    epochs, steps = epoch + whole, self.steps_per_epoch
                else:
                    epochs, steps = epoch + 1, stop - start
                self.model.fit(batch_dataset(self.train_set, self.seed, start, stop, self.strategy),
                               initial_epoch=epoch, epochs=epochs, steps_per_epoch=steps,
                               callbacks=callbacks, shuffle=False, verbose=0)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.train_writer.flush()
        if self.callback.nan_step is not None:
            return 'nan'
        if self.callback.interrupted:
            self.save_latest()
            return self.callback.interrupted
        return 'done'

    def _on_signal(self, signum, frame):
        self.callback.interrupted = signal.Signals(signum).name


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------
def load_data(data_dir, hps, seed):
    try:
        return utils.load_dataset(data_dir, hps, seed=seed)
    except utils.SketchDataError as err:
        fail(str(err))


# --------------------------------------------------------------------------
# Runs: a new one, or a recorded one resumed
# --------------------------------------------------------------------------
def seeded_data(data_dir, hps, seed, strategy):
    """The data sets, after seeding every generator with the run's seed."""
    replicas = strategy.num_replicas_in_sync
    if hps.batch_size % replicas:
        fail(f'batch_size {hps.batch_size} is the global batch: it must divide among the '
             f'{replicas} replicas of the tf.distribute strategy')
    keras.utils.set_random_seed(seed)
    return load_data(data_dir, hps, seed)[:3]


def lock_experiment(exp_dir, cleanup):
    """Holds the run's lock until `cleanup` closes; refuses a live holder."""
    lock = RunLock(S.experiment_paths(exp_dir)['lock'])
    try:
        cleanup.enter_context(lock)
    except OSError as err:
        fail(f'{lock.path}: cannot lock the experiment: {one_line(err)}')
    if lock.previous:  # a killed run's: what it was writing when killed goes too
        print(f'{exp_dir}: taking over the lock of {describe(lock.previous)}, '
              'which is no longer running')
        paths = S.experiment_paths(exp_dir)
        for folder in (os.path.dirname(paths['config']), os.path.dirname(paths['best']),
                       paths['samples']):
            atomic.remove_leftovers(folder, lock.previous.get('pid'))


def write_or_fail(path, write):
    try:
        write()
    except OSError as err:
        fail(f'{path}: cannot write it: {one_line(err)}')


def new_run(args, strategy, chief, scratch, cleanup):
    """A new run's folder and data -> (exp_dir, hps, flags, data)."""
    hps, save_every = new_run_hparams(args)
    data_dir = args.data_dir or DEFAULT_DATA_DIR
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2 ** 31)
    data = seeded_data(data_dir, hps, seed, strategy)
    num_batches = data[0].num_batches
    hps.save_every = save_every = save_every or num_batches  # the effective interval
    args.epochs = DEFAULT_EPOCHS if args.epochs is None else args.epochs
    args.precision = args.precision or 'float32'
    args.samples = monitor.DEFAULT_SAMPLES if args.samples is None else args.samples
    end_step = min(hps.num_steps, args.epochs * num_batches)
    exp_dir = new_experiment_dir(args.experiment_dir, hps.data_set) if chief else scratch
    paths = S.experiment_paths(exp_dir)
    for folder in ('logs', 'checkpoints', 'tensorboard'):
        os.makedirs(os.path.join(exp_dir, folder), exist_ok=True)
    if chief:
        lock_experiment(exp_dir, cleanup)
    write_or_fail(paths['config'], lambda: S.write_model_config(
        paths['config'], hps, normalizing_scale_factor=float(data[0].scale_factor)))
    flags = dict(vars(args), data_dir=data_dir, seed=seed, save_every=save_every,
                 end_step=end_step)
    write_or_fail(paths['flags'], lambda: atomic.write_json(paths['flags'], flags))
    return exp_dir, hps, flags, data


def resumed_run(args, strategy, chief, cleanup):
    """A recorded run, its end moved by --epochs/--max_steps -> (exp_dir, hps, flags, data)."""
    exp_dir = args.resume
    hps, flags = read_experiment(exp_dir)
    check_resume_matches(args, hps, flags)
    if chief:
        lock_experiment(exp_dir, cleanup)
    data = seeded_data(args.data_dir or flags['data_dir'], hps, flags['seed'], strategy)
    given = {name: value for name, value in (('epochs', args.epochs), ('max_steps', args.max_steps),
                                             ('precision', args.precision), ('samples', args.samples))
             if value is not None}
    if 'epochs' in given or 'max_steps' in given:  # a new end, recorded for a later --resume
        given['end_step'] = min(given.get('max_steps', math.inf),
                                given.get('epochs', math.inf) * data[0].num_batches)
    return exp_dir, hps, dict(flags, **given), data


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------
def evaluate(exp_dir, data_dir=None):
    hps, flags = read_experiment(exp_dir)
    _, valid_set, test_set, _ = load_data(data_dir or flags['data_dir'], hps, seed=0)
    try:
        model = S.load_model(exp_dir)
    except FileNotFoundError as err:
        fail(str(err))
    except (OSError, ValueError) as err:
        fail(f'{S.experiment_paths(exp_dir)["best"]}: cannot load it (corrupt, or written for '
             f'another configuration): {one_line(err)}')
    for name, data in (('valid', valid_set), ('test', test_set)):
        for masked in (False, True):
            costs = S.evaluate_costs(model, data, mask_pen_loss=masked)
            print(f'{name}{" (pen loss masked)" if masked else ""}: cost {costs["cost"]:.4f} '
                  f'r_cost {costs["r_cost"]:.4f} kl_cost {costs["kl_cost"]:.4f}')


def start_weights(model, path):
    """Weights to start from: a .weights.h5, an experiment or a Magenta folder."""
    try:
        if path.endswith('.weights.h5'):
            model.load_weights(path)
            return
        source = S.load_model(path)
    except FileNotFoundError as err:
        fail(str(err))
    except (OSError, ValueError) as err:
        fail(f'{path}: cannot start from these weights (corrupt, or written for another '
             f'configuration): {one_line(err)}')
    shapes = [v.shape for v in source.trainable_variables]
    if shapes != [v.shape for v in model.trainable_variables]:
        fail(f'{path}: cannot start from these weights: written for another configuration')
    for target, value in zip(model.trainable_variables, source.trainable_variables):
        target.assign(value)


def start(trainer, exp_dir, flags, resume):
    """Restores the latest checkpoint of a resumed run; a new run, or one
    stopped before its first checkpoint, starts from step 0 with its flags."""
    latest = tf.train.latest_checkpoint(trainer.paths['latest']) if resume else None
    if latest:
        trainer.restore(latest)
        print(f'Resumed {exp_dir} at step {trainer.step}')
        return
    if resume:
        print(f'{trainer.paths["latest"]}: no checkpoint yet (the run stopped before its first '
              'validation): starting it again from step 0 with its recorded settings and seed')
    if flags.get('checkpoint'):
        start_weights(trainer.model, flags['checkpoint'])
        trainer.model.optimizer.iterations.assign(flags.get('initial_epoch', 0)
                                                  * trainer.train_set.num_batches)


def train_run(args, exp_dir, hps, flags, data, strategy, chief, scratch):
    paths = S.experiment_paths(exp_dir)
    save_every = flags['save_every'] or data[0].num_batches
    trainer = Trainer(exp_dir, hps, data, flags['seed'], save_every, strategy, chief, scratch,
                      flags.get('precision') or 'float32')
    start(trainer, exp_dir, flags, bool(args.resume))
    if args.resume and chief:  # only once the checkpoint has loaded: a refused resume changes nothing
        write_or_fail(paths['flags'], lambda: atomic.write_json(paths['flags'], flags))
    if chief:
        monitor.watch(trainer, exp_dir, data[1], flags.get('samples', monitor.DEFAULT_SAMPLES),
                      args.command, seed=flags['seed'], precision=flags.get('precision') or 'float32')
    end_step = flags['end_step']
    print(f'Experiment {exp_dir}: {data[0].num_batches} batches an epoch, '
          f'validating every {save_every} steps, training to step {end_step}')

    outcome = trainer.train(end_step)
    if outcome == 'nan':
        latest = trainer.manager.latest_checkpoint or 'none yet'
        fail(f'cost became NaN or inf at step {trainer.callback.nan_step}; stopped. '
             f'Last good checkpoint: {latest}')
    if outcome != 'done':
        print(f'\n{outcome}: saved step {trainer.step} to {trainer.manager.latest_checkpoint}. '
              f'Resume with: python3 seq2seqVAE_train.py --resume {exp_dir}', flush=True)
        sys.exit(130 if outcome == 'SIGINT' else 143)
    print(f'Done at step {trainer.step}; best valid cost '
          f'{float(trainer.best_valid_cost.numpy()):.4f} at step '
          f'{int(trainer.best_step.numpy())}. Best weights: {paths["best"]}')


def main(argv=None):
    args = parse_args(argv)
    args.command = shlex.join(['seq2seqVAE_train.py'] + (sys.argv[1:] if argv is None else list(argv)))
    if args.list is not None:
        if not os.path.isdir(args.list):
            fail(f'{args.list}: no such folder')
        print('\n'.join(runs.list_runs(args.list)))
        return
    if args.samples is not None and args.samples < 0:
        fail(f'--samples {args.samples}: give 0 (none) or more')
    if args.evaluate:
        try:
            evaluate(args.evaluate, args.data_dir)
        except SettingsError as err:
            fail(one_line(err))
        return
    if args.initial_epoch and not args.checkpoint:
        fail('--initial_epoch needs --checkpoint (the weights to start from)')
    if args.strategy == 'multi_worker' and not args.resume and args.seed is None:
        fail('--strategy multi_worker needs --seed (the same on every worker: '
             'it picks the batches)')
    strategy = make_strategy(args.strategy)
    try:
        run_training(args, strategy)
    except (SettingsError, LockedError) as err:
        fail(one_line(err))


def run_training(args, strategy):
    chief = is_chief(strategy)
    with contextlib.ExitStack() as cleanup:  # main() may run again in this process
        # Workers other than the chief write only to a scratch folder, removed at the end.
        scratch = None if chief else tempfile.mkdtemp(prefix='sketchgen_worker_')
        if scratch:
            cleanup.callback(shutil.rmtree, scratch, ignore_errors=True)
        if args.resume:
            exp_dir, hps, flags, data = resumed_run(args, strategy, chief, cleanup)
        else:
            exp_dir, hps, flags, data = new_run(args, strategy, chief, scratch, cleanup)
        log = S.experiment_paths(exp_dir)['log'] if chief else os.path.join(scratch, 'log.txt')
        tee = sys.stdout = Tee(sys.stdout, log)
        cleanup.callback(tee.close)
        train_run(args, exp_dir, hps, flags, data, strategy, chief, scratch)


if __name__ == '__main__':
    main()
