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
import math
import os
import shlex
import shutil
import sys
import tempfile

import seq2seqVAE as S  # first: it sets TensorFlow's CPU options before TensorFlow loads
import numpy as np
import tensorflow as tf
import keras

import utils
from sketchgen import atomic, monitor, quality, runs
from sketchgen.cli import Tee, fail, failing_on, write_or_fail
from sketchgen.distribute import fit_across_workers, is_chief, make_strategy
from sketchgen.experiments import lock_experiment, new_experiment_dir
from sketchgen.messages import first_line
from sketchgen.run_lock import LockedError
from sketchgen.run_settings import (DEFAULT_DATA_SET, SettingsError, check_resume_matches,
                                    new_run_hparams, read_experiment)
from sketchgen.trainer import Trainer, ValidationCheckpoint, batch_dataset

# Importable from here, as tests and users reach them: seq2seqVAE_train.<name>.
__all__ = ['Trainer', 'ValidationCheckpoint', 'batch_dataset', 'fit_across_workers', 'is_chief',
           'main', 'make_strategy', 'new_experiment_dir']

DESCRIPTION = __doc__.split('\n\n')[0]
DEFAULT_EPOCHS = 20
DEFAULT_DATA_DIR = 'datasets'


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


# --------------------------------------------------------------------------
# Runs: a new one, or a recorded one resumed
# --------------------------------------------------------------------------
def load_data(data_dir, hps, seed):
    try:
        return utils.load_dataset(data_dir, hps, seed=seed)
    except utils.SketchDataError as err:
        fail(str(err))


def seeded_data(data_dir, hps, seed, strategy):
    """The data sets, after seeding every generator with the run's seed."""
    replicas = strategy.num_replicas_in_sync
    if hps.batch_size % replicas:
        fail(f'batch_size {hps.batch_size} is the global batch: it must divide among the '
             f'{replicas} replicas of the tf.distribute strategy')
    keras.utils.set_random_seed(seed)
    return load_data(data_dir, hps, seed)[:3]


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
@contextlib.contextmanager
def loading_weights(refusal):
    """fail()s on missing weights, or with `refusal` (the file and what cannot
    be done) on weights that are corrupt or written for another configuration."""
    try:
        yield
    except FileNotFoundError as err:
        fail(str(err))
    except (OSError, ValueError) as err:
        fail(f'{refusal} (corrupt, or written for another configuration): {first_line(err)}')


def evaluate(exp_dir, data_dir=None):
    hps, flags = read_experiment(exp_dir)
    _, valid_set, test_set, _ = load_data(data_dir or flags['data_dir'], hps, seed=0)
    with loading_weights(f'{S.experiment_paths(exp_dir)["best"]}: cannot load it'):
        model = S.load_model(exp_dir)
    for name, data in (('valid', valid_set), ('test', test_set)):
        for masked in (False, True):
            costs = S.evaluate_costs(model, data, mask_pen_loss=masked)
            print(f'{name}{" (pen loss masked)" if masked else ""}: cost {costs["cost"]:.4f} '
                  f'r_cost {costs["r_cost"]:.4f} kl_cost {costs["kl_cost"]:.4f}')
    score = quality.score(model, data_dir or flags['data_dir'], test_set.scale_factor)
    if score is not None:  # several data sets, or one that labels its sketches
        print('\n'.join(score.lines()))


def start_weights(model, path):
    """Weights to start from: a .weights.h5, an experiment or a Magenta folder."""
    with loading_weights(f'{path}: cannot start from these weights'):
        if path.endswith('.weights.h5'):
            model.load_weights(path)
            return
        source = S.load_model(path)
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
    """The command: --list, --evaluate, or a run (a new one, or --resume)."""
    args = parse_args(argv)
    if args.list is not None:
        return list_experiments(args.list)
    if args.samples is not None and args.samples < 0:
        fail(f'--samples {args.samples}: give 0 (none) or more')
    if args.evaluate:
        with failing_on(SettingsError):
            return evaluate(args.evaluate, args.data_dir)
    if args.initial_epoch and not args.checkpoint:
        fail('--initial_epoch needs --checkpoint (the weights to start from)')
    if args.strategy == 'multi_worker' and not args.resume and args.seed is None:
        fail('--strategy multi_worker needs --seed (the same on every worker: '
             'it picks the batches)')
    args.command = shlex.join(['seq2seqVAE_train.py'] + (sys.argv[1:] if argv is None else list(argv)))
    strategy = make_strategy(args.strategy)
    with failing_on(SettingsError, LockedError):
        run_training(args, strategy)


def list_experiments(folder):
    if not os.path.isdir(folder):
        fail(f'{folder}: no such folder')
    print('\n'.join(runs.list_runs(folder)))


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
