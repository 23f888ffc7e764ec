"""Pieces every ours-against-Magenta benchmark shares: the option for
Magenta's TensorFlow settings, one process per measured side, peak RSS.

Imports neither TensorFlow nor SketchGen, so that Magenta's worker (which
runs with only Magenta on its path) can use it too.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA_DIR = os.path.join(ROOT, '..', 'shared', 'datasets')
DATA_SET = 'aaron_sheep.npz'
VALID_SKETCHES = 300  # in each of DATA_SET's valid and test splits
CONFIGS = {'default': '', 'layer_norm': 'dec_model=layer_norm', 'hyper': 'dec_model=hyper'}


def peak_rss_mb():
    """This process's own peak resident set (Linux reports KiB): each side
    reports it from its own process, so no side is charged for another."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_ours(data_dir, hparams):
    """Our side: seq2seqVAE, DATA_SET's train and valid sets and hps at
    Magenta's defaults + hparams (max_seq_len: the data's longest sketch).
    A training batch may hold more sketches than the valid and test splits,
    which then get smaller batches, as in Magenta, where they have none."""
    import seq2seqVAE as S
    import utils
    hps = S.get_default_hparams().parse(hparams)
    hps.data_set = [DATA_SET]
    batch_size = hps.batch_size
    hps.batch_size = min(batch_size, VALID_SKETCHES)
    train_set, valid_set, _, hps = utils.load_dataset(data_dir, hps, seed=1)
    train_set.batch_size = hps.batch_size = batch_size
    return S, train_set, valid_set, hps


def timed(run, warmup, repeats):
    """run() `warmup` times, then `repeats` times timed -> (their seconds, the last result)."""
    for _ in range(warmup):
        result = run()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    return seconds, result


def add_magenta_tf_settings(parser):
    parser.add_argument('--magenta_tf_settings', choices=('tensorflow', 'ours'), default='tensorflow',
                        help="Magenta's TensorFlow settings (seq2seqVAE.TF_CPU_SETTINGS): "
                             "TensorFlow's defaults, as its users run it, or the same as ours")


def add_side_by_side_options(parser, configs):
    """Options of a bench that alternates processes of both sides on DATA_SET."""
    parser.add_argument('--data_dir', default=DATA_DIR)
    parser.add_argument('--configs', nargs='+', default=configs, choices=list(CONFIGS))
    parser.add_argument('--rounds', type=int, default=2, help='alternating rounds per side')
    add_magenta_tf_settings(parser)
    parser.add_argument('--ours_worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--hparams', default='', help=argparse.SUPPRESS)


def magenta_env(args):
    """Environment overrides for Magenta's worker from --magenta_tf_settings;
    imports seq2seqVAE (and so TensorFlow) in this process."""
    import seq2seqVAE as S
    from magenta_env import tf_settings
    return tf_settings(S.TF_CPU_SETTINGS, args.magenta_tf_settings == 'ours')


def summary_of(records):
    """The record whose event is 'summary'."""
    for record in records:
        if record.get('event') == 'summary':
            return record
    raise RuntimeError(f'no summary in: {records[-5:]}')


def run_ours(script, worker_args):
    """`python script --ours_worker *worker_args` in its own process -> its summary."""
    out = subprocess.run([sys.executable, script, '--ours_worker', *map(str, worker_args)],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f'{script} --ours_worker failed:\n{out.stderr[-3000:]}')
    records = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{')]
    return summary_of(records)


def run_magenta(worker_args, env_overrides, timeout=None):
    """bench/magenta_worker.py *worker_args in its own process -> its summary."""
    from magenta_env import run_worker
    return summary_of(run_worker(list(map(str, worker_args)), timeout=timeout,
                                 env_overrides=env_overrides))


def alternate(rounds, ours, magenta, key):
    """`rounds` alternating calls of ours() and magenta() (each -> a summary
    holding a list of seconds under `key`, batch_size and max_seq_len) ->
    both sides' seconds, medians, peak RSS (the largest of the side's
    processes) and the (batch_size, max_seq_len) both ran."""
    sides = {'ours': ours, 'magenta': magenta}
    seconds = {side: [] for side in sides}
    rss = dict.fromkeys(sides, 0.0)
    shapes = set()
    for _ in range(rounds):
        for side, run in sides.items():
            summary = run()
            seconds[side] += summary[key]
            rss[side] = max(rss[side], summary['peak_rss_mb'])
            shapes.add((summary['batch_size'], summary['max_seq_len']))
    if len(shapes) != 1:
        raise RuntimeError(f'the sides ran different (batch_size, max_seq_len): {shapes}')
    medians = {side: statistics.median(times) for side, times in seconds.items()}
    return dict(seconds=seconds, median=medians, rss=rss, shape=shapes.pop(),
                ratio=medians['magenta'] / medians['ours'])


def print_json(**record):
    print(json.dumps(record), flush=True)
