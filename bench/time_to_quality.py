"""Time to a good model: our default training mode and --length_buckets
against the same validation cost, and Magenta's time for as many steps.

    python3 bench/time_to_quality.py [--data_sets aaron_sheep short_kanji] [--steps 600]
        [--eval_every 50] [--seeds 1 2 3] [--magenta_rounds 1] [--hparams ...]
    python3 bench/time_to_quality.py --saved_only   # decoder steps saved, from the data alone

Per data set, rounds alternate, one per seed: seq2seqVAE_train.py in the
default mode, then with --length_buckets (each in its own process, a new
experiment folder in a temporary directory, no sample grids), then
Magenta's own training loop (bench/magenta_worker.py train_curve) in the
first --magenta_rounds rounds.  All train --steps steps at Magenta's
defaults (+ --hparams) from the seed, validating every --eval_every steps
with Magenta's full cost.

Time is the training loop's wall clock without the validations (the same
work in both modes): ours from the steps_per_second each validation
records (tracing and XLA's compilations included), Magenta's from its loop
(its batches and sess.run).  One JSON line per run (its validation curve)
and per data set: the target, the median over seeds of the default mode's
valid cost at the last step; the step and median time at which each mode's
median curve first reaches it, and the ratio; Magenta's median time for the
default mode's steps; every seed's final cost in both modes and whether the
bucketed median ends within the default mode's seed-to-seed range; the
fraction of decoder steps the bucketed mode saves (from the data alone) and
its bucket lengths.  A markdown table closes the run.
"""
import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import common  # noqa: E402
from common import DATA_DIR, ROOT, print_json  # noqa: E402

DATA_SETS = ('aaron_sheep', 'short_kanji')
MODES = ('default', 'bucketed')


def decoder_savings(data_dir, name, hparams):
    """What --length_buckets saves on the train set of `name`: the fraction
    of decoder steps over 5 epochs' plans (no augmentation) and over the
    first epoch's batches as trained (Magenta's augmentation), and its bucket
    lengths."""
    import seq2seqVAE as S
    from sketchgen.length_buckets import (LengthBucketedBatches, bucket_lengths,
                                          decoder_steps_saved)
    from sketchgen.loading import load_dataset
    hps = S.get_default_hparams().parse(hparams)
    hps.data_set = [f'{name}.npz']
    train_set, _, _, hps = load_dataset(data_dir, hps, seed=1)
    batches = LengthBucketedBatches(train_set, seed=1)
    trained = sum(batches.batch(step)[1].shape[1] - 1 for step in range(train_set.num_batches))
    return dict(data_set=name, max_seq_len=hps.max_seq_len, batch_size=hps.batch_size,
                mean_points=round(float(batches.lengths.mean()), 1),
                decoder_steps_saved=round(decoder_steps_saved(
                    batches.lengths, hps.batch_size, hps.max_seq_len, seed=1, epochs=5), 3),
                decoder_steps_saved_augmented=round(
                    1 - trained / (train_set.num_batches * hps.max_seq_len), 3),
                bucket_lengths=bucket_lengths(hps.max_seq_len))


def validation_scalars(folder):
    """{tag: {step: value}} of the run's validation events."""
    from sketchgen.runs import read_scalars
    result = {}
    for events in glob.glob(os.path.join(folder, '*', 'exp', 'tensorboard', 'validation')):
        for tag, values in read_scalars(events).items():
            result.setdefault(tag, {}).update(values)
    return result


def run_ours(args, name, mode, seed, scratch):
    """Our training command -> {steps, valid_cost, train_seconds (cumulative)}."""
    folder = tempfile.mkdtemp(dir=scratch)
    command = [sys.executable, os.path.join(ROOT, 'seq2seqVAE_train.py'),
               '--data_dir', args.data_dir, '--data_set', name, '--experiment_dir', folder,
               '--max_steps', args.steps, '--epochs', args.steps, '--save_every', args.eval_every,
               '--seed', seed, '--samples', 0, '--hparams', args.hparams]
    if mode == 'bucketed':
        command.append('--length_buckets')
    start = time.perf_counter()
    done = subprocess.run(list(map(str, command)), capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f'{" ".join(map(str, command))} failed:\n{done.stderr[-3000:]}')
    scalars = validation_scalars(folder)
    shutil.rmtree(folder)
    steps = sorted(scalars['valid_cost'])
    seconds, elapsed, previous = [], 0.0, 0
    for step in steps:
        elapsed += (step - previous) / scalars['steps_per_second'][step]
        seconds.append(elapsed)
        previous = step
    return dict(steps=steps, valid_cost=[scalars['valid_cost'][s] for s in steps],
                train_seconds=seconds, process_seconds=wall)


def run_magenta(args, name, seed, magenta_env):
    """Magenta's train_curve -> the same record (its step-0 validation left out)."""
    from magenta_env import run_worker
    records = run_worker(['train_curve', '--data_dir', args.data_dir, '--data_set',
                          f'{name}.npz', '--hparams', args.hparams, '--steps', args.steps,
                          '--eval_every', args.eval_every, '--seed', seed],
                         env_overrides=magenta_env)
    evals = [r for r in records if r.get('event') == 'eval' and r['step'] > 0]
    return dict(steps=[r['step'] for r in evals], valid_cost=[r['valid_cost'] for r in evals],
                train_seconds=[r['loop_seconds'] for r in evals])


def median_curve(runs, key):
    return [statistics.median(values) for values in zip(*(run[key] for run in runs))]


def first_reaching(runs, target):
    """(step, median seconds) where the median curve of `runs` first reaches
    target, or (None, None)."""
    costs, seconds = median_curve(runs, 'valid_cost'), median_curve(runs, 'train_seconds')
    for step, cost, elapsed in zip(runs[0]['steps'], costs, seconds):
        if cost <= target:
            return step, elapsed
    return None, None


def summarize(name, runs, saved):
    """The data set's result line (see the module's docstring)."""
    default, bucketed, magenta = (runs[mode] for mode in (*MODES, 'magenta'))
    if len({tuple(run['steps']) for run in default + bucketed + magenta}) != 1:
        raise RuntimeError(f'{name}: the runs validated at different steps')
    target = median_curve(default, 'valid_cost')[-1]
    default_step, default_seconds = first_reaching(default, target)
    bucketed_step, bucketed_seconds = first_reaching(bucketed, target)
    magenta_seconds = None
    if magenta:
        index = magenta[0]['steps'].index(default_step)
        magenta_seconds = statistics.median(run['train_seconds'][index] for run in magenta)
    default_final = [run['valid_cost'][-1] for run in default]
    bucketed_final = [run['valid_cost'][-1] for run in bucketed]
    return dict(
        event='summary', data_set=name, steps=default[0]['steps'][-1], target=round(target, 4),
        default_step=default_step, default_seconds=round(default_seconds, 1),
        bucketed_step=bucketed_step,
        bucketed_seconds=None if bucketed_seconds is None else round(bucketed_seconds, 1),
        bucketed_over_default=(None if bucketed_seconds is None
                               else round(bucketed_seconds / default_seconds, 3)),
        magenta_seconds=None if magenta_seconds is None else round(magenta_seconds, 1),
        default_final=[round(c, 4) for c in default_final],
        bucketed_final=[round(c, 4) for c in bucketed_final],
        bucketed_median_final_within_seed_range=(
            statistics.median(bucketed_final) <= max(default_final)),
        curves={mode: dict(valid_cost=[round(c, 4) for c in median_curve(runs[mode],
                                                                          'valid_cost')],
                           train_seconds=[round(s, 1) for s in median_curve(runs[mode],
                                                                             'train_seconds')])
                for mode in (*MODES, 'magenta') if runs[mode]},
        **{key: saved[key] for key in ('decoder_steps_saved', 'decoder_steps_saved_augmented',
                                       'bucket_lengths')})


def bench(args, name, magenta_env, scratch):
    runs = {mode: [] for mode in (*MODES, 'magenta')}
    for round_, seed in enumerate(args.seeds):
        for mode in MODES:
            runs[mode].append(run_ours(args, name, mode, seed, scratch))
            print_json(event='run', data_set=name, mode=mode, seed=seed, **runs[mode][-1])
        if round_ < args.magenta_rounds:
            runs['magenta'].append(run_magenta(args, name, seed, magenta_env))
            print_json(event='run', data_set=name, mode='magenta', seed=seed,
                       **runs['magenta'][-1])
    return runs


def table(summaries):
    print('\n| data set | steps | target valid cost | default: step, s | bucketed: step, s '
          '| bucketed / default | Magenta s | final cost default / bucketed (seeds) '
          '| decoder steps saved |\n|---|---|---|---|---|---|---|---|---|')
    for s in summaries:
        print(f"| {s['data_set']} | {s['steps']} | {s['target']:.4f} "
              f"| {s['default_step']}, {s['default_seconds']:.0f} "
              f"| {s['bucketed_step']}, {s['bucketed_seconds']} "
              f"| {s['bucketed_over_default']} | {s['magenta_seconds']} "
              f"| {', '.join(map(str, s['default_final']))} / "
              f"{', '.join(map(str, s['bucketed_final']))} "
              f"| {s['decoder_steps_saved']:.2f} ({s['decoder_steps_saved_augmented']:.2f} "
              'augmented) |')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--data_dir', default=DATA_DIR)
    p.add_argument('--data_sets', nargs='+', default=list(DATA_SETS))
    p.add_argument('--steps', type=int, default=600, help='training steps of every run')
    p.add_argument('--eval_every', type=int, default=50, help='steps between validations')
    p.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3],
                   help='one round per seed: default, bucketed (and Magenta)')
    p.add_argument('--magenta_rounds', type=int, default=1,
                   help="rounds that also run Magenta's loop (0: none)")
    p.add_argument('--hparams', default='', help="Magenta's names (default: Magenta's values)")
    p.add_argument('--saved_only', action='store_true',
                   help='print only the decoder steps each data set saves (from the data)')
    common.add_magenta_tf_settings(p)
    args = p.parse_args()
    if args.steps % args.eval_every:
        p.error('--steps must be a multiple of --eval_every (every run validates at the end)')
    return args


def main():
    args = parse_args()
    magenta_env = common.magenta_env(args)  # imports seq2seqVAE (TensorFlow) here
    saved = {name: decoder_savings(args.data_dir, name, args.hparams) for name in args.data_sets}
    for record in saved.values():
        print_json(event='decoder_steps', **record)
    if args.saved_only:
        return
    print_json(event='machine', cpus=os.cpu_count(), magenta_tf_settings=magenta_env,
               steps=args.steps, eval_every=args.eval_every, seeds=args.seeds,
               hparams=args.hparams or "Magenta's defaults")
    summaries = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.data_sets:
            summaries.append(summarize(name, bench(args, name, magenta_env, scratch),
                                       saved[name]))
            print_json(**summaries[-1])
    table(summaries)


if __name__ == '__main__':
    main()
