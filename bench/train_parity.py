"""Step for step over a run: Magenta's training and ours from the same weights.

    python3 bench/train_parity.py [--steps 20] [--hparams 'enc_rnn_size=8,...']
        [--data_dir datasets --data_set shapes.npz] [--init CHECKPOINT_FOLDER]
        [--noise_floor] [--work_dir DIR]

Both sides start from the same weights: --init (a Magenta checkpoint
folder, e.g. ../shared/reference/lstm_sheep), else a model that Magenta
initialises (--seed) and saves.  Both get the same batches (train
sketches picked by --seed, no scaling or augmentation), the same eps each
step, dropout off, a fresh Adam, and Magenta's schedules (learning-rate
decay, KL annealing, clipping).  Prints both cost series and their largest
difference.  --save_fixture DIR keeps Magenta's side (initial checkpoint
and cost series) for tests/test_train_parity.py, which runs ours live.

--noise_floor also trains each side with only its float32 arithmetic
changed (oneDNN's kernels off; one thread instead of all cores; Magenta's
graph compiled by XLA), see VARIANTS:
how far Magenta drifts from itself, and ours from itself, is the floor
that ours against Magenta is held to.  The floor at step k is the largest
difference between two series of one side at steps 1..k (a running
maximum, since two chaotic series cross each other now and then), and at
least one float32 rounding of the cost; ours is within it where
|ours - Magenta| at step k is at most that floor.
Every series runs in its own process, under the settings its name gives;
--work_dir keeps the batches, the initial weights and each finished series,
so an interrupted or repeated run trains only what is missing.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
import seq2seqVAE as S  # noqa: E402  (before TensorFlow)
import tensorflow as tf  # noqa: E402
import utils  # noqa: E402
from sketchgen.safe_npz import NpzReader  # noqa: E402

TINY = ('enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=3,batch_size=8,'
        'decay_rate=0.9,kl_decay_rate=0.9,min_learning_rate=0.0001')
NO_DROPOUT = dict(use_input_dropout=False, use_output_dropout=False,
                  use_recurrent_dropout=False)
# name: (side, TensorFlow settings, intra- and inter-op threads: 0 = all cores).
# The first of each side is the comparison; the others change only the
# arithmetic: oneDNN's kernels against Eigen's, how the work is split between
# threads, and (Magenta's graph) XLA's fused kernels, as ours uses for its loops.
ONEDNN_OFF = {'TF_ENABLE_ONEDNN_OPTS': '0'}
XLA = {'TF_XLA_FLAGS': '--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit'}
VARIANTS = {
    'magenta': ('magenta', {}, 0),
    'magenta, oneDNN off': ('magenta', ONEDNN_OFF, 0),
    'magenta, 1 thread': ('magenta', {}, 1),
    'magenta, XLA': ('magenta', XLA, 0),
    'ours': ('ours', {}, 0),
    'ours, oneDNN off': ('ours', ONEDNN_OFF, 0),
    'ours, 1 thread': ('ours', {}, 1),
}
REPORT_STEPS = (1, 10, 25, 50, 75, 91, 92, 100)


def make_hparams(init, hparams, data_set):
    """Our hps: --init's config (or the defaults), then --hparams, then no dropout."""
    if init:
        hps = S.read_model_config(os.path.join(init, 'model_config.json'))[0]
    else:
        hps = S.get_default_hparams()
    hps.parse(hparams)
    if data_set:
        hps.set('data_set', [data_set])
    for name, value in NO_DROPOUT.items():
        hps.set(name, value)
    return hps


def make_feeds(hps, data_dir, steps, seed):
    """x, seq_len and eps for every step: each batch is batch_size train
    sketches (file order, picked by seed) of distinct lengths, so its length
    sort has one answer on any CPU; offsets divided by the train set's scale."""
    train_set = utils.load_dataset(data_dir, hps)[0]  # sets hps.max_seq_len
    train = np.concatenate([NpzReader(os.path.join(data_dir, name))['train']
                            for name in hps.data_set])
    rng = np.random.default_rng(seed)
    xs, lengths = [], []
    for _ in range(steps):
        picked, seen = [], set()
        for i in rng.permutation(len(train)):
            if len(train[i]) not in seen and len(train[i]) <= hps.max_seq_len:
                seen.add(len(train[i]))
                picked.append(train[i])
            if len(picked) == hps.batch_size:
                break
        else:
            raise SystemExit(f'{hps.data_set}: fewer than batch_size={hps.batch_size} '
                             'distinct sketch lengths; choose a smaller batch_size')
        loader = utils.DataLoader(picked, hps.batch_size, max_seq_length=hps.max_seq_len)
        loader.normalize(train_set.scale_factor)
        _, x, seq_len = loader.get_batch(0)
        xs.append(x)
        lengths.append(seq_len)
    eps = rng.standard_normal((steps, hps.batch_size, hps.z_size)).astype(np.float32)
    return dict(x=np.stack(xs), seq_len=np.stack(lengths).astype(np.int32), eps=eps)


def run_ours(init, hps, feeds):
    """Our train_step from the weights in `init`; the cost of every step."""
    overrides = {name: hps.values()[name] for name in
                 ('batch_size', 'max_seq_len', *NO_DROPOUT)}
    model = S.load_magenta_checkpoint(init, **overrides)
    model.compile(optimizer=S.make_optimizer(model.hps))
    model.optimizer.build(model.trainable_variables)  # else the first step traces twice
    train_step = tf.function(model.train_step)  # traces once; train_on_batch twice
    costs = []
    for step in range(len(feeds['x'])):
        data = dict(strokes=feeds['x'][step], seq_len=feeds['seq_len'][step])
        if model.hps.conditional:
            data['eps'] = feeds['eps'][step]
        costs.append(float(train_step(data)['cost']))
    return costs


def run_magenta(init, hps, feeds_path, seed=None, save_init=None, threads=0, env=None):
    """Magenta's train() on the feeds in feeds_path, from the checkpoint folder
    `init`, or from a fresh initialisation (seed) saved to save_init; -> costs."""
    from magenta_env import run_worker
    args = ['train_series', '--batches', feeds_path, '--threads', str(threads),
            '--hparams', ','.join(f'{k}={str(v).lower() if isinstance(v, bool) else v}'
                                  for k, v in hps.values().items() if k != 'data_set')]
    args += ['--init', init] if init else ['--save_init', save_init, '--seed', str(seed)]
    records = run_worker(args, env_overrides=env)
    return [r['cost'] for r in records if r.get('event') == 'step']


def slug(variant):
    return variant.replace(', ', '-').replace(' ', '-').lower()


class WorkDir:
    """The run's folder: settings.json (what the run is), feeds.npz, init/
    (unless --init) and one <variant>.json cost series per finished series."""

    def __init__(self, path, args):
        self.path = path
        self.settings = {name: getattr(args, name) for name in
                         ('steps', 'hparams', 'data_dir', 'data_set', 'init', 'seed')}
        settings = os.path.join(path, 'settings.json')
        if os.path.exists(settings):
            with open(settings) as f:
                kept = json.load(f)
            if kept != self.settings:
                raise SystemExit(f'{path} holds another run ({kept}); choose another --work_dir')
        else:
            os.makedirs(path, exist_ok=True)
            with open(settings, 'w') as f:
                json.dump(self.settings, f, indent=1)
        self.feeds = os.path.join(path, 'feeds.npz')
        self.init = args.init or os.path.join(path, 'init')

    def series_path(self, variant):
        return os.path.join(self.path, slug(variant) + '.json')

    def series(self, variant):
        """The finished series of `variant`, or None."""
        if not os.path.exists(self.series_path(variant)):
            return None
        with open(self.series_path(variant)) as f:
            return json.load(f)

    def keep(self, variant, costs):
        with open(self.series_path(variant) + '.tmp', 'w') as f:
            json.dump(costs, f)
        os.replace(self.series_path(variant) + '.tmp', self.series_path(variant))


def train_series(work, variant, hps, seed, argv):
    """The cost series of `variant` (kept in `work`): Magenta through its
    worker, ours in a child process of this script, each under the
    variant's TensorFlow settings."""
    costs = work.series(variant)
    if costs is not None:
        return costs
    side, env, threads = VARIANTS[variant]
    env = {'TF_ENABLE_ONEDNN_OPTS': '1', **env}  # ours' default, and this CPU's for Magenta
    print(f'training {variant} ...', file=sys.stderr, flush=True)
    if side == 'magenta':
        fresh = not os.path.exists(os.path.join(work.init, 'model_config.json'))
        costs = run_magenta(None if fresh else work.init, hps, work.feeds, seed,
                            save_init=work.init, threads=threads, env=env)
        work.keep(variant, costs)
    else:
        subprocess.run([sys.executable, os.path.abspath(__file__), *argv, '--work_dir', work.path,
                        '--ours_series', variant], env=dict(os.environ, **env), check=True)
    return work.series(variant)


def ours_series(work, variant, args):
    """In the child process: train ours as `variant` and keep its series."""
    threads = VARIANTS[variant][2]
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    hps = make_hparams(work.init, args.hparams, args.data_set)
    feeds = dict(np.load(work.feeds))
    hps.max_seq_len = feeds['x'].shape[2] - 1
    work.keep(variant, run_ours(work.init, hps, feeds))


def floor(series, names):
    """Per step, the largest |a - b| over the pairs of `names`, as a running maximum."""
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    gaps = np.max([np.abs(np.subtract(series[a], series[b])) for a, b in pairs], axis=0)
    return np.maximum.accumulate(gaps)


def report(series, noise_floor):
    theirs, ours = np.array(series['magenta']), np.array(series['ours'])
    gap = np.abs(ours - theirs)
    if not noise_floor:
        for step, (a, b) in enumerate(zip(theirs, ours)):
            print(f'{step + 1:4d}  magenta {a:.7f}  ours {b:.7f}  diff {b - a:+.2e}')
        print(f'largest difference over {len(theirs)} steps: {gap.max():.3e}')
        return
    floors = {side: floor(series, [v for v in VARIANTS if VARIANTS[v][0] == side])
              for side in ('magenta', 'ours')}
    # Costs are float32: one rounding of the cost is the finest difference there is.
    both = np.maximum.reduce([floors['magenta'], floors['ours'],
                              np.spacing(theirs.astype(np.float32))])
    print('step  magenta    ours       |ours-magenta|  floor: magenta  ours      within')
    for step, (a, b) in enumerate(zip(theirs, ours)):
        print(f'{step + 1:4d}  {a:.7f}  {b:.7f}  {gap[step]:.2e}        '
              f'{floors["magenta"][step]:.2e}        {floors["ours"][step]:.2e}  '
              f'{"yes" if gap[step] <= both[step] else "NO"}')
    print('\nstep  |ours-magenta|  floor (running max): magenta  ours')
    for step in REPORT_STEPS:
        if step <= len(gap):
            print(f'{step:4d}  {gap[step - 1]:.2e}        {floors["magenta"][step - 1]:.2e}'
                  f'                 {floors["ours"][step - 1]:.2e}')
    outside = np.flatnonzero(gap > both) + 1
    print(f'largest |ours - magenta| {gap.max():.3e} (step {gap.argmax() + 1}); '
          f'steps outside the floor: {outside.tolist() or "none"}')
    for variant, costs in series.items():
        print(f'{variant:22s} step {len(costs)}: {costs[-1]:.7f}')


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--hparams', default=TINY, help="e.g. '' for Magenta's default size")
    p.add_argument('--data_dir', default=os.path.join(ROOT, 'datasets'))
    p.add_argument('--data_set', default='shapes.npz')
    p.add_argument('--init', default=None, help='Magenta checkpoint folder to start from')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--save_fixture', default=None, metavar='DIR')
    p.add_argument('--noise_floor', action='store_true',
                   help='also train each side with its arithmetic reordered')
    p.add_argument('--work_dir', default=None,
                   help='keep batches, initial weights and finished series here')
    p.add_argument('--ours_series', default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        work = WorkDir(args.work_dir or scratch, args)
        if args.ours_series:
            return ours_series(work, args.ours_series, args)
        hps = make_hparams(args.init, args.hparams, args.data_set)
        feeds = make_feeds(hps, args.data_dir, args.steps, args.seed)
        if os.path.exists(work.feeds):
            kept = np.load(work.feeds)
            assert all(np.array_equal(kept[k], v) for k, v in feeds.items()), \
                f'{work.feeds} differs from the batches made now'
        else:
            np.savez(work.feeds, **feeds)
        parent_argv = [a for a in argv if a != '--noise_floor']
        variants = VARIANTS if args.noise_floor else ('magenta', 'ours')
        series = {v: train_series(work, v, hps, args.seed, parent_argv) for v in variants}
        if args.save_fixture:
            shutil.copytree(work.init, args.save_fixture, dirs_exist_ok=True)
            with open(os.path.join(args.save_fixture, 'magenta_costs.json'), 'w') as f:
                json.dump(dict(hparams=args.hparams, data_set=args.data_set, seed=args.seed,
                               steps=args.steps, costs=series['magenta']), f, indent=1)
    report(series, args.noise_floor)


if __name__ == '__main__':
    main()
