"""Training step time: ours vs Magenta's sketch-rnn, side by side.

    python3 bench/bench_train.py [--data_dir ../shared/datasets] [--rounds 2] [--steps 3]
    python3 bench/bench_train.py --scaling [--points 50x250 100x125 ...]

For each configuration (Magenta's defaults, then the layer_norm and hyper
decoders) it alternates rounds of ours and Magenta's (each in its own
process, after warm-up) on aaron_sheep.npz and prints one JSON line:
median seconds per step for each, the ratio, achieved GFLOP/s (Magenta's
matmul FLOPs per step over our time) and the fraction of this machine's
measured fp32 matmul peak, and each side's peak RSS (the largest of its own
processes').  Magenta runs with TensorFlow's default settings, as its users
run it, unless --magenta_tf_settings ours gives it the TF_CPU_SETTINGS that
importing seq2seqVAE sets for ours.

--scaling does the same at Magenta's default hyper-parameters for each
point BATCHxMAX_SEQ_LEN (default: batch 50, 100, 200, 400 at 250 steps, and
batch 100 at 125 steps), printing seconds per step and sketches per second,
then a markdown table.  aaron_sheep's sketches run to 250 points; for a
shorter max_seq_len both sides read a copy of the file (in a temporary
folder) with every sketch cropped to its first max_seq_len points, so both
see the same number of sketches and the same batch shapes.
"""
import argparse
import os
import tempfile
import time

import common
from common import CONFIGS, DATA_SET, print_json

FULL_SEQ_LEN = 250  # aaron_sheep's longest sketch
SCALING_POINTS = ('50x250', '100x250', '200x250', '400x250', '100x125')
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
    import numpy as np
    S, train_set, _, hps = common.load_ours(args.data_dir, args.hparams)
    model = S.Seq2seqModel(hps, seed=1, dtype=S.PRECISIONS[args.precision])
    model.compile(optimizer=S.make_optimizer(hps))
    batches = [train_set.random_batch() for _ in range(args.warmup + args.steps)]
    times = []
    for _, x, seq_len in batches:
        data = dict(strokes=x, seq_len=seq_len.astype(np.int32))
        start = time.perf_counter()
        model.train_on_batch(data)
        times.append(time.perf_counter() - start)
    print_json(event='summary', step_seconds=times[args.warmup:], peak_rss_mb=common.peak_rss_mb(),
               batch_size=hps.batch_size, max_seq_len=hps.max_seq_len, hps=hps.values())


def compare(args, data_dir, hparams, magenta_env):
    """Alternating rounds of both sides' train steps (common.alternate)."""
    steps = ['--data_dir', data_dir, '--hparams', hparams, '--warmup', args.warmup,
             '--steps', args.steps]
    return common.alternate(
        args.rounds,
        lambda: common.run_ours(__file__, [*steps, '--precision', args.precision]),
        lambda: common.run_magenta(['train_steps', *steps, '--data_set', DATA_SET, '--seed', 1],
                                   magenta_env),
        'step_seconds')


def crop_data(data_dir, folder, max_seq_len):
    """Writes DATA_SET into folder with every sketch cut to its first
    max_seq_len points; returns folder."""
    import numpy as np
    from sketchgen.safe_npz import NpzReader
    splits = {}
    with NpzReader(os.path.join(data_dir, DATA_SET)) as data:
        for split in ('train', 'valid', 'test'):
            sketches = data[split]
            splits[split] = np.empty(len(sketches), dtype=object)
            for i, sketch in enumerate(sketches):
                splits[split][i] = sketch[:max_seq_len]
    np.savez(os.path.join(folder, DATA_SET), **splits)
    return folder


def bench_configs(args, magenta_env, peak):
    import seq2seqVAE as S
    for name in args.configs:
        hparams = CONFIGS[name]
        result = compare(args, args.data_dir, hparams, magenta_env)
        hps = S.get_default_hparams().parse(hparams)
        hps.max_seq_len = FULL_SEQ_LEN
        flops = train_flops(hps)
        ours_s, magenta_s = result['median']['ours'], result['median']['magenta']
        print_json(
            config=name, hparams=hparams or "Magenta's defaults", precision=args.precision,
            ours_s_per_step=round(ours_s, 3), magenta_s_per_step=round(magenta_s, 3),
            ratio=round(result['ratio'], 2), gflop_per_step=round(flops / 1e9, 1),
            ours_gflops=round(flops / ours_s / 1e9, 1),
            magenta_gflops=round(flops / magenta_s / 1e9, 1),
            ours_fraction_of_peak=round(flops / ours_s / 1e9 / peak, 3),
            ours_peak_rss_mb=round(result['rss']['ours']),
            magenta_peak_rss_mb=round(result['rss']['magenta']),
            ours_steps=result['seconds']['ours'], magenta_steps=result['seconds']['magenta'])


def bench_scaling(args, magenta_env):
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for point in args.points:
            batch, max_seq_len = map(int, point.split('x'))
            data_dir = args.data_dir
            if max_seq_len != FULL_SEQ_LEN:
                data_dir = crop_data(args.data_dir, tempfile.mkdtemp(dir=scratch), max_seq_len)
            result = compare(args, data_dir, f'batch_size={batch}', magenta_env)
            ours_s, magenta_s = result['median']['ours'], result['median']['magenta']
            batch, max_seq_len = result['shape']  # what both sides ran
            row = dict(batch_size=batch, max_seq_len=max_seq_len,
                       data='as is' if data_dir == args.data_dir else 'cropped',
                       ours_s_per_step=round(ours_s, 3), magenta_s_per_step=round(magenta_s, 3),
                       ours_sketches_per_s=round(batch / ours_s, 1),
                       magenta_sketches_per_s=round(batch / magenta_s, 1),
                       ratio=round(result['ratio'], 2),
                       ours_peak_rss_mb=round(result['rss']['ours']),
                       magenta_peak_rss_mb=round(result['rss']['magenta']))
            print_json(**row)
            rows.append(row)
    print('\n| batch | max_seq_len | ours s/step | Magenta s/step | ours sketches/s '
          '| Magenta sketches/s | speed-up |\n|---|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['batch_size']} | {r['max_seq_len']} | {r['ours_s_per_step']:.2f} "
              f"| {r['magenta_s_per_step']:.2f} | {r['ours_sketches_per_s']:.1f} "
              f"| {r['magenta_sketches_per_s']:.1f} | {r['ratio']:.2f}x |")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    common.add_side_by_side_options(p, list(CONFIGS))
    p.add_argument('--scaling', action='store_true',
                   help='batch sizes and sequence lengths at the default configuration')
    p.add_argument('--points', nargs='+', default=list(SCALING_POINTS), metavar='BATCHxLEN',
                   help='--scaling points, batch_size x max_seq_len (at most 250)')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--steps', type=int, default=3, help='timed steps per round')
    p.add_argument('--precision', choices=('float32', 'bfloat16'), default='float32',
                   help="ours only (Magenta's is float32): seq2seqVAE_train.py's --precision")
    args = p.parse_args()
    for point in args.points:
        batch, _, length = point.partition('x')
        if not (batch.isdigit() and length.isdigit() and int(batch) > 0
                and 0 < int(length) <= FULL_SEQ_LEN):
            p.error(f'--points: {point!r} is not BATCHxLEN with LEN at most {FULL_SEQ_LEN}')
    return args


def main():
    args = parse_args()
    if args.ours_worker:
        return ours_worker(args)
    magenta_env = common.magenta_env(args)
    if args.scaling:
        print_json(event='machine', cpus=os.cpu_count(), magenta_tf_settings=magenta_env)
        return bench_scaling(args, magenta_env)
    peak = matmul_peak()
    print_json(event='machine', matmul_peak_gflops=round(peak, 1), cpus=os.cpu_count(),
               magenta_tf_settings=magenta_env)
    bench_configs(args, magenta_env, peak)


if __name__ == '__main__':
    main()
