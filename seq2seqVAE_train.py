"""Train sketch-rnn as Magenta's sketch_rnn_train.py does, with experiment
folders, TensorBoard, best/latest checkpoints and exact resume.

    python3 seq2seqVAE_train.py --data_dir datasets --data_set cat --epochs 20
    python3 seq2seqVAE_train.py --resume experiments/cat/exp
    python3 seq2seqVAE_train.py --resume experiments/cat/exp --epochs 40   # a new end
    python3 seq2seqVAE_train.py --evaluate experiments/cat/exp
    python3 seq2seqVAE_train.py --list experiments
"""
import contextlib
import os
import shlex
import shutil
import sys
import tempfile

from sketchgen import cli
from sketchgen.errors import SketchGenError, UsageError, WriteError
from sketchgen.hparams import PRECISIONS
from sketchgen.length_buckets import BUCKET_STEPS
from sketchgen.run_settings import (BEST_ON, DEFAULT_DATA_DIR, DEFAULT_DATA_SET, DEFAULT_EPOCHS,
                                    DEFAULT_EXPERIMENT_DIR, DEFAULT_ON_NONFINITE,
                                    DEFAULT_PRECISION, DEFAULT_SAMPLES, DEFAULT_STRATEGY,
                                    NONFINITE_POLICIES, check_resume_matches, new_run_hparams,
                                    new_run_settings, resumed_settings)

DESCRIPTION = __doc__.split('\n\n')[0]
RESUME = 'python3 seq2seqVAE_train.py --resume'


def parse_args(argv=None):
    p = cli.ArgumentParser(description=DESCRIPTION)
    p.add_argument('--data_dir', help='folder or http(s) URL holding the .npz files (default: '
                                      f"{DEFAULT_DATA_DIR}; with --resume/--evaluate: the run's own)")
    p.add_argument('--data_set', nargs='+', help='one or more .npz names (".npz" optional), '
                   "concatenated; a missing one of QuickDraw's 345 categories is downloaded "
                   f'(default: {DEFAULT_DATA_SET})')
    p.add_argument('--experiment_dir', default=DEFAULT_EXPERIMENT_DIR,
                   help=f'runs go to EXPERIMENT_DIR/<data sets>/exp, exp_0, ... '
                        f'(default: {DEFAULT_EXPERIMENT_DIR})')
    p.add_argument('--epochs', type=int, help='passes over the training set (default: '
                   f"{DEFAULT_EPOCHS}; with --resume: the run's new end, else the recorded one)")
    p.add_argument('--hparams', default='', help='hyper-parameters "name=value,name=value", '
                   "Magenta's names (default: Magenta's values)")
    p.add_argument('--resume', metavar='PATH', help='experiment folder to continue exactly')
    p.add_argument('--max_steps', type=int, help="total training steps (Magenta's num_steps; "
                   "default: from --epochs; with --resume: the run's new end)")
    p.add_argument('--save_every', type=int,
                   help='steps between validations and checkpoints (default: once an epoch)')
    p.add_argument('--seed', type=int, help='random seed (default: a random one, recorded)')
    p.add_argument('--samples', type=int, metavar='N',
                   help='at each validation draw N samples per temperature and N reconstructions '
                        f'(samples/ and TensorBoard); 0: none (default: {DEFAULT_SAMPLES}; '
                        "with --resume: the run's own)")
    p.add_argument('--list', nargs='?', const=DEFAULT_EXPERIMENT_DIR, metavar='DIR',
                   help=f'list the runs under DIR (default: {DEFAULT_EXPERIMENT_DIR}) and exit')
    p.add_argument('--evaluate', metavar='PATH',
                   help="print valid and test costs of an experiment's best checkpoint, and exit")
    p.add_argument('--checkpoint', metavar='FILE',
                   help='start from these weights (.weights.h5, experiment or Magenta folder)')
    p.add_argument('--initial_epoch', type=int, default=0,
                   help='with --checkpoint: the epoch the schedules continue from (default: 0)')
    p.add_argument('--strategy', choices=('default', 'mirrored', 'multi_worker'),
                   default=DEFAULT_STRATEGY,
                   help='tf.distribute strategy: default (one device, as TensorFlow places '
                        'it; the default), mirrored (every GPU of this machine) or multi_worker '
                        '(across machines, from TF_CONFIG)')
    p.add_argument('--best_on', choices=BEST_ON,
                   help='the validation cost that picks the best weights: sampled_z, '
                        "Magenta's (z drawn from the posterior for every batch; the default), "
                        'or mean_z (z at the posterior mean); both are logged')
    p.add_argument('--length_buckets', action='store_true', default=None,
                   help='train on batches of sketches of similar length, the decoder run only '
                        'to the longest one\'s end (rounded up to a multiple of '
                        f'{BUCKET_STEPS}); validation unchanged (default: off, Magenta\'s '
                        "full-length batches; with --resume: the run's own)")
    p.add_argument('--precision', choices=tuple(PRECISIONS),
                   help='bfloat16: networks in bfloat16, weights, z and losses in float32 '
                        f"(default: {DEFAULT_PRECISION}; with --resume: the run's own)")
    p.add_argument('--on_nonfinite', choices=NONFINITE_POLICIES,
                   help='a step whose cost or gradients are NaN or inf is never applied; '
                        'recover: train on with the next batch (a burst of them: roll back '
                        'once to the last checkpoint with a lower learning rate), each '
                        'batch reported in nonfinite/; stop: stop there (default: '
                        f"{DEFAULT_ON_NONFINITE}; with --resume: the run's own)")
    args = p.parse_args(argv)
    if args.samples is not None and args.samples < 0:
        p.error(f'--samples {args.samples}: give 0 (none) or more')
    if args.initial_epoch and not args.checkpoint:
        p.error('--initial_epoch needs --checkpoint (the weights to start from)')
    if args.strategy == 'multi_worker' and not args.resume and args.seed is None:
        p.error('--strategy multi_worker needs --seed (the same on every worker: it picks the '
                'batches)')
    return args


@cli.command
def main(argv=None):
    """The command: --list, --evaluate, or a run (a new one, or --resume)."""
    args = parse_args(argv)
    if args.list is not None:
        return list_experiments(args.list)
    if args.evaluate:
        return evaluate(args.evaluate, args.data_dir)
    command = shlex.join(['seq2seqVAE_train.py'] + (sys.argv[1:] if argv is None else list(argv)))
    return run_training(args, command)


def list_experiments(folder):
    from sketchgen.runs import list_runs  # TensorFlow: reads checkpoints
    if not os.path.isdir(folder):
        raise UsageError(f'{folder}: no such folder')
    print('\n'.join(list_runs(folder)))


def evaluate(folder, data_dir=None):
    """Valid and test costs of the best weights: Magenta's (z drawn, with the
    noise the run validated them with), at the posterior mean, and with the
    pen loss masked after each sketch's end."""
    from sketchgen import quality
    from sketchgen.experiment import Experiment  # TensorFlow from here on
    from sketchgen.loading import load_dataset
    from sketchgen.model import evaluate_costs
    from sketchgen.trainer import TEST, VALID, measure, noise_seed
    experiment = Experiment(folder)
    hps, settings = experiment.read_run()
    _, valid_set, test_set, _ = load_dataset(data_dir or settings.data_dir, hps, seed=0)
    model = experiment.load_model()
    best_step = experiment.progress()[2] or 0
    for name, data, split in (('valid', valid_set, VALID), ('test', test_set, TEST)):
        costs = measure(model, data, settings.seed, best_step, split)
        masked = evaluate_costs(model, data, mask_pen_loss=True,
                                noise_seed=noise_seed(settings.seed, best_step, split))
        for label, cost in (('', costs['sampled_z']), (' (z = posterior mean)', costs['mean_z']),
                            (' (pen loss masked)', masked)):
            print(f'{name}{label}: cost {cost["cost"]:.4f} r_cost {cost["r_cost"]:.4f} '
                  f'kl_cost {cost["kl_cost"]:.4f}')
    score = quality.score(model, data_dir or settings.data_dir, test_set.scale_factor)
    if score is not None:  # several data sets, or one that labels its sketches
        print('\n'.join(score.lines()))


# --------------------------------------------------------------------------
# A run: a new one, or a recorded one resumed
# --------------------------------------------------------------------------
def run_training(args, command):
    from sketchgen import distribute  # TensorFlow from here on
    strategy = distribute.make_strategy(args.strategy)
    chief = distribute.is_chief(strategy)
    with contextlib.ExitStack() as cleanup:  # main() may run again in this process
        # Workers other than the chief write only to a scratch folder, removed at the end.
        scratch = None if chief else tempfile.mkdtemp(prefix='sketchgen_worker_')
        if scratch:
            cleanup.callback(shutil.rmtree, scratch, ignore_errors=True)
        start = resumed_run if args.resume else new_run
        experiment, hps, settings, data = start(args, command, strategy, chief, scratch, cleanup)
        log = experiment.paths['log'] if chief else os.path.join(scratch, 'log.txt')
        tee = sys.stdout = cli.Tee(sys.stdout, log)
        cleanup.callback(tee.close)
        try:
            return train(args, experiment, hps, settings, data, strategy, chief, scratch)
        except WriteError as err:  # the last checkpoint is kept
            raise WriteError(f'{err}. Free some space, then: {RESUME} {experiment.folder}') from None


def seeded_data(data_dir, hps, seed, strategy):
    """The data sets, after seeding every generator with the run's seed."""
    import keras
    from sketchgen.loading import load_dataset
    replicas = strategy.num_replicas_in_sync
    if hps.batch_size % replicas:
        raise UsageError(f'batch_size {hps.batch_size} is the global batch: it must divide among '
                         f'the {replicas} replicas of the tf.distribute strategy')
    keras.utils.set_random_seed(seed)
    return load_dataset(data_dir, hps, seed=seed)[:3]


def new_run(args, command, strategy, chief, scratch, cleanup):
    """A new run's folder, settings and data."""
    import numpy as np
    from sketchgen.experiment import Experiment
    hps = new_run_hparams(args)
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2 ** 31)
    data = seeded_data(args.data_dir or DEFAULT_DATA_DIR, hps, seed, strategy)
    settings = new_run_settings(args, hps, seed, data[0].num_batches, command)
    experiment = (Experiment.create(args.experiment_dir, hps.data_set) if chief
                  else Experiment(scratch))
    if chief:
        take_lock(experiment, cleanup)
    experiment.write(hps, settings, normalizing_scale_factor=float(data[0].scale_factor))
    return experiment, hps, settings, data


def resumed_run(args, command, strategy, chief, scratch, cleanup):
    """A recorded run, its end moved by --epochs/--max_steps."""
    from sketchgen.experiment import Experiment
    experiment = Experiment(args.resume)
    hps, recorded = experiment.read_run()
    check_resume_matches(args, hps, recorded, experiment.paths['flags'])
    if chief:
        take_lock(experiment, cleanup)
    data = seeded_data(args.data_dir or recorded.data_dir, hps, recorded.seed, strategy)
    return experiment, hps, resumed_settings(args, recorded, data[0].num_batches), data


def take_lock(experiment, cleanup):
    previous = experiment.lock(cleanup)
    if previous:
        print(f'{experiment.folder}: taking over the lock of {previous}, which is no longer '
              'running')


def train(args, experiment, hps, settings, data, strategy, chief, scratch):
    from sketchgen import monitor, trainer as training
    grid = (monitor.Monitor(experiment.paths['samples'], monitor.SampleGrid(
        hps, data[1], settings.samples, settings.seed)) if chief and settings.samples else None)
    trainer = training.Trainer(experiment, hps, data, settings, strategy, chief, scratch, grid)
    start(trainer, experiment, settings, bool(args.resume))
    if args.resume and chief:  # only once the checkpoint has loaded: a refused resume changes nothing
        experiment.write_settings(settings)
    if chief:
        monitor.write_run_summary(experiment.paths['tensorboard'], experiment.folder, hps,
                                  trainer.step, settings.command, experiment.paths['config'],
                                  seed=settings.seed, precision=settings.precision,
                                  on_nonfinite=settings.on_nonfinite,
                                  length_buckets=settings.length_buckets)
    buckets = ' of similar lengths' if settings.length_buckets else ''
    print(f'Experiment {experiment.folder}: {data[0].num_batches} batches{buckets} an epoch, '
          f'validating every {settings.save_every} steps, training to step {settings.end_step}')

    outcome = trainer.train(settings.end_step)
    if outcome == 'nan':
        raise SketchGenError(f'{trainer.stop_message}. Last good checkpoint: '
                             f'{trainer.manager.latest_checkpoint or "none yet"}')
    if outcome != 'done':
        print(f'\n{outcome}: saved step {trainer.step} to {trainer.manager.latest_checkpoint}. '
              f'Resume with: {RESUME} {experiment.folder}', flush=True)
        return 130 if outcome == 'SIGINT' else 143
    print(f'Done at step {trainer.step}; best valid cost '
          f'{float(trainer.best_valid_cost.numpy()):.4f} at step '
          f'{int(trainer.best_step.numpy())}. Best weights: {experiment.paths["best"]}')


def start(trainer, experiment, settings, resume):
    """Restores the latest checkpoint of a resumed run; a new run, or one
    stopped before its first checkpoint, starts from step 0 with its settings."""
    latest = experiment.latest_checkpoint() if resume else None
    if latest:
        trainer.restore(latest)
        print(f'Resumed {experiment.folder} at step {trainer.step}')
        return
    if resume:
        print(f'{experiment.paths["latest"]}: no checkpoint yet (the run stopped before its '
              'first validation): starting it again from step 0 with its recorded settings '
              'and seed')
    if settings.checkpoint:
        start_weights(trainer.model, settings.checkpoint)
        trainer.model.optimizer.iterations.assign(settings.initial_epoch
                                                  * trainer.train_set.num_batches)


def start_weights(model, path):
    """Weights to start from: a .weights.h5, an experiment or a Magenta folder."""
    from sketchgen.checkpoints import load_model
    from sketchgen.errors import CheckpointError
    from sketchgen.messages import first_line
    refusal = f'{path}: cannot start from these weights'
    if path.endswith('.weights.h5'):
        if not os.path.exists(path):
            raise CheckpointError(f'{path}: no such file')
        try:
            model.load_weights(path)
        except (OSError, ValueError) as err:
            raise CheckpointError(f'{refusal} (corrupt, or written for another configuration): '
                                  f'{first_line(err)}') from None
        return
    source = load_model(path)
    if [v.shape for v in source.trainable_variables] != [v.shape for v in model.trainable_variables]:
        raise CheckpointError(f'{refusal}: written for another configuration')
    for target, value in zip(model.trainable_variables, source.trainable_variables):
        target.assign(value)


if __name__ == '__main__':
    sys.exit(main())
