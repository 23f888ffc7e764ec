"""Training step time: ours vs Magenta's sketch-rnn, side by side.

    python3 bench/bench_train.py [--data_dir ../shared/datasets] [--rounds 2] [--steps 3]

For each configuration (Magenta's defaults, then the layer_norm and hyper
decoders) it alternates rounds of ours and Magenta's (each in its own
process, after warm-up) on aaron_sheep.npz and prints one JSON line:
median seconds per step for each, the ratio, achieved GFLOP/s (Magenta's
matmul FLOPs per step over our time) and the fraction of this machine's
measured fp32 matmul peak, and each side's peak RSS.  Magenta runs with
TensorFlow's default settings, as its users run it, unless
--magenta_tf_settings ours gives it the TF_CPU_SETTINGS that importing
seq2seqVAE sets for ours.
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
sys.path.insert(0, HERE)
CONFIGS = {'default': '', 'layer_norm': 'dec_model=layer_norm', 'hyper': 'dec_model=hyper'}
HYPER_UNITS, HYPER_EMBEDDING = 256, 32


def train_flops(hps):
    """Matmul FLOPs of one training step of Magenta's graph (forward x 3 for
    forward plus backward), the math both implementations do."""
    steps, batch = hps.max_seq_len, hps.batch_size

    def cell(kind, inputs, units):
        flops = 2 * (inputs + units) * 4 * units
        if kind == 'hyper':
            flops += 2 * (inputs + units + HYPER_UNITS) * 4 * HYPER_UNITS
            flops += 2 * HYPER_UNITS * 12 * HYPER_EMBEDDING + 2 * 12 * HYPER_EMBEDDING * units
        return flops

    forward = steps * batch * (cell(hps.dec_model, 5 + hps.z_size, hps.dec_rnn_size)
                               + 2 * hps.dec_rnn_size * (3 + 6 * hps.num_mixture))
    if hps.conditional:
        forward += 2 * steps * batch * cell(hps.enc_model, 5, hps.enc_rnn_size)
    return 3 * forward


def matmul_peak():
    """GFLOP/s of a large fp32 matmul with TensorFlow on this machine."""
    import tensorflow as tf
    n = 2048
    a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
    matmul = tf.function(lambda: tf.matmul(a, b))
    matmul().numpy()
    times = []
    for _ in range(10):
        start = time.perf_counter()
        matmul().numpy()
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / min(times) / 1e9


def ours_worker(args):
    """Runs in its own process: times our compiled train step."""
    sys.path.insert(0, ROOT)
    import numpy as np
    import seq2seqVAE as S
    import utils
    hps = S.get_default_hparams().parse(args.hparams)
    hps.data_set = ['aaron_sheep.npz']
    train_set, _, _, hps = utils.load_dataset(args.data_dir, hps, seed=1)
    model = S.Seq2seqModel(hps, seed=1, dtype=S.PRECISIONS[args.precision])
    model.compile(optimizer=S.make_optimizer(hps))
    batches = [train_set.random_batch() for _ in range(args.warmup + args.steps)]
    times = []
    for _, x, seq_len in batches:
        data = dict(strokes=x, seq_len=seq_len.astype(np.int32))
        start = time.perf_counter()
        model.train_on_batch(data)
        times.append(time.perf_counter() - start)
    print(json.dumps(dict(event='summary', step_seconds=times[args.warmup:],
                          peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          max_seq_len=hps.max_seq_len, hps=hps.values())), flush=True)


def run_ours(data_dir, hparams, warmup, steps, precision):
    out = subprocess.run([sys.executable, __file__, '--ours_worker', '--data_dir', data_dir,
                          '--hparams', hparams, '--warmup', str(warmup), '--steps', str(steps),
                          '--precision', precision],
                         capture_output=True, text=True, check=True)
    return _summary(out.stdout)


def _summary(stdout):
    for line in stdout.splitlines():
        if line.startswith('{') and json.loads(line).get('event') == 'summary':
            return json.loads(line)
    raise RuntimeError(f'no summary in:\n{stdout[-2000:]}')


def run_magenta(data_dir, hparams, warmup, steps, env_overrides):
    from magenta_env import run_worker
    records = run_worker(['train_steps', '--data_dir', data_dir, '--data_set', 'aaron_sheep.npz',
                          '--hparams', hparams, '--warmup', str(warmup), '--steps', str(steps),
                          '--seed', '1'], env_overrides=env_overrides)
    return next(r for r in records if r.get('event') == 'summary')


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--data_dir', default=os.path.join(ROOT, '..', 'shared', 'datasets'))
    p.add_argument('--configs', nargs='+', default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument('--rounds', type=int, default=2, help='alternating rounds per side')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--steps', type=int, default=3, help='timed steps per round')
    p.add_argument('--precision', choices=('float32', 'bfloat16'), default='float32',
                   help="ours only (Magenta's is float32): seq2seqVAE_train.py's --precision")
    p.add_argument('--magenta_tf_settings', choices=('tensorflow', 'ours'), default='tensorflow',
                   help="Magenta's TensorFlow settings (seq2seqVAE.TF_CPU_SETTINGS): "
                        "TensorFlow's defaults, as its users run it, or the same as ours")
    p.add_argument('--ours_worker', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--hparams', default='', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.ours_worker:
        return ours_worker(args)

    sys.path.insert(0, ROOT)
    import seq2seqVAE as S
    from magenta_env import tf_settings
    magenta_settings = tf_settings(S.TF_CPU_SETTINGS, args.magenta_tf_settings == 'ours')
    peak = matmul_peak()
    print(json.dumps(dict(event='machine', matmul_peak_gflops=round(peak, 1),
                          cpus=os.cpu_count(), magenta_tf_settings=magenta_settings)), flush=True)
    for name in args.configs:
        hparams = CONFIGS[name]
        ours, magenta, rss = [], [], {}
        for _ in range(args.rounds):
            summary = run_ours(args.data_dir, hparams, args.warmup, args.steps, args.precision)
            ours += summary['step_seconds']
            rss['ours'] = max(rss.get('ours', 0), summary['peak_rss_mb'])
            summary = run_magenta(args.data_dir, hparams, args.warmup, args.steps,
                                  magenta_settings)
            magenta += summary['step_seconds']
            rss['magenta'] = max(rss.get('magenta', 0), summary['peak_rss_mb'])
        hps = S.get_default_hparams().parse(hparams)
        hps.max_seq_len = 250  # aaron_sheep
        flops = train_flops(hps)
        ours_s, magenta_s = statistics.median(ours), statistics.median(magenta)
        print(json.dumps(dict(
            config=name, hparams=hparams or "Magenta's defaults", precision=args.precision,
            ours_s_per_step=round(ours_s, 3), magenta_s_per_step=round(magenta_s, 3),
            ratio=round(magenta_s / ours_s, 2), gflop_per_step=round(flops / 1e9, 1),
            ours_gflops=round(flops / ours_s / 1e9, 1),
            magenta_gflops=round(flops / magenta_s / 1e9, 1),
            ours_fraction_of_peak=round(flops / ours_s / 1e9 / peak, 3),
            ours_peak_rss_mb=round(rss['ours']), magenta_peak_rss_mb=round(rss['magenta']),
            ours_steps=ours, magenta_steps=magenta)), flush=True)


if __name__ == '__main__':
    main()
