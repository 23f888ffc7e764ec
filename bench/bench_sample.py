"""Sketches per second: our sample(), our batched sample_batch(), and
Magenta's own sample(), on the same weights.

    python3 bench/bench_sample.py [--single 10] [--batch 100 1000 2000] [--repeats 3] [--magenta 10]

Models: ../shared/reference/lstm_sheep (small; skipped when absent) and a
randomly initialised model at Magenta's default hyper-parameters, which
Magenta itself writes as a TF1 checkpoint so that both sides load the same
weights.  Every sketch is 250 steps, non-greedy, temperature 1.0: Magenta's
sample() always runs them all, so for sample_batch the end-of-sketch logit is
pushed down ("full"); "natural" lets sketches end (and leave the batch) as
the model decides.  Magenta runs with TensorFlow's default settings unless
--magenta_tf_settings ours.  Rates come from median times: of single sketches for
the two sample()s, of `--repeats` calls for sample_batch.  One JSON line per
measurement; ratio = ours / Magenta's.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LSTM_SHEEP = ROOT.parent / 'shared' / 'reference' / 'lstm_sheep'
STEPS = 250


def write_magenta_default_checkpoint(folder):
    """Runs inside Magenta's environment: a randomly initialised default-hps
    model saved by Magenta's save_model, with its model_config.json."""
    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()
    from magenta.models.sketch_rnn import model as sketch_rnn_model
    from magenta.models.sketch_rnn import sketch_rnn_train
    hps = sketch_rnn_model.get_default_hparams()
    tf.set_random_seed(0)
    sketch_rnn_model.Model(hps)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sketch_rnn_train.save_model(sess, folder, 0)
    with open(os.path.join(folder, 'model_config.json'), 'w') as f:
        f.write(hps.to_json())


def make_default_checkpoint(folder):
    """Magenta writes the checkpoint in its own process (bench/magenta_env.py)."""
    from magenta_env import ensure_magenta, worker_env
    env = worker_env(ensure_magenta())
    env['PYTHONPATH'] += os.pathsep + str(ROOT / 'bench')
    subprocess.run([sys.executable, __file__, '--write_magenta_checkpoint', folder],
                   env=env, check=True, capture_output=True)


def magenta_rate(checkpoint, num, env_overrides):
    """Magenta's sample() sketches per second (from the median sketch's
    time), or None when it cannot run."""
    try:
        from magenta_env import run_worker
    except ImportError:
        return None
    records = run_worker(['sample', '--checkpoint', checkpoint, '--num', num, '--warmup', 1,
                          '--seq_len', STEPS, '--temperature', 1.0], timeout=1800,
                         env_overrides=env_overrides)
    return 1.0 / [r for r in records if r.get('event') == 'summary'][0]['median_s']


def never_ending(model):
    """Pushes the end-of-sketch logit down so every sketch runs all its steps."""
    bias = model.output_layer.bias.numpy()
    bias[2] -= 30.0
    model.output_layer.bias.assign(bias)


def measure(name, sampler, num, draw, magenta, repeats):
    """Times draw() -> list of stroke-5 sketches, `repeats` times after one
    warm-up call; the rate is the median's (this machine's speed drifts)."""
    draw()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sketches = draw()
        times.append(time.perf_counter() - start)
    rate = num / statistics.median(times)
    print(json.dumps(dict(
        model=name, sampler=sampler, num=num, steps=STEPS,
        seconds=[round(t, 3) for t in times], sketches_per_s=round(rate, 3),
        mean_length=round(sum(len(s) for s in sketches) / len(sketches), 1),
        ratio_vs_magenta=round(rate / magenta, 2) if magenta else None)), flush=True)


def bench_model(name, checkpoint, args):
    """checkpoint: a Magenta checkpoint folder, or None (ours only, random weights)."""
    import numpy as np
    import seq2seqVAE as S
    magenta = None
    try:
        from magenta_env import tf_settings
        env = tf_settings(S.TF_CPU_SETTINGS, args.magenta_tf_settings == 'ours')
        magenta = checkpoint and magenta_rate(checkpoint, args.magenta, env)
    except Exception as err:  # report ours anyway
        print(f'Magenta not measured: {err}', file=sys.stderr)
    print(json.dumps(dict(model=name, sampler='magenta_sample', num=args.magenta, steps=STEPS,
                          sketches_per_s=magenta, measured=bool(magenta),
                          tf_settings=args.magenta_tf_settings)), flush=True)
    if checkpoint:
        model = S.load_magenta_checkpoint(checkpoint)
    else:
        model = S.Seq2seqModel(S.get_default_hparams())
    rng = np.random.default_rng(0)
    measure(name, 'sample', 1, lambda: [S.sample(model, STEPS, 1.0, rng=rng)[0]], magenta,
            args.single)
    for num in args.batch:
        measure(name, 'sample_batch natural', num,
                lambda num=num: S.sample_batch(model, num, STEPS, 1.0, seed=0), magenta, args.repeats)
    never_ending(model)
    for num in args.batch:
        measure(name, 'sample_batch full', num,
                lambda num=num: S.sample_batch(model, num, STEPS, 1.0, seed=0), magenta, args.repeats)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--single', type=int, default=10, help='sketches timed for sample()')
    p.add_argument('--batch', type=int, nargs='+', default=[100, 1000, 2000],
                   help='batch sizes for sample_batch()')
    p.add_argument('--repeats', type=int, default=3, help='timed calls per sample_batch size')
    p.add_argument('--magenta', type=int, default=10, help="sketches timed for Magenta's sample()")
    p.add_argument('--magenta_tf_settings', choices=('tensorflow', 'ours'), default='tensorflow',
                   help="Magenta's TensorFlow settings (seq2seqVAE.TF_CPU_SETTINGS): "
                        "TensorFlow's defaults, as its users run it, or the same as ours")
    p.add_argument('--write_magenta_checkpoint', metavar='DIR', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.write_magenta_checkpoint:
        return write_magenta_default_checkpoint(args.write_magenta_checkpoint)
    sys.path[:0] = [str(ROOT), str(ROOT / 'bench')]
    if LSTM_SHEEP.exists():
        bench_model('lstm_sheep', str(LSTM_SHEEP), args)
    with tempfile.TemporaryDirectory() as folder:
        try:
            make_default_checkpoint(folder)
        except Exception as err:  # no Magenta: our side only
            print(f'no Magenta checkpoint at default hps: {err}', file=sys.stderr)
            folder = None
        bench_model('default_hps', folder, args)


if __name__ == '__main__':
    main()
