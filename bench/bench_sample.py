"""Sketches per second: our sample(), our batched sample_batch(), and
Magenta's own sample(), on the same weights, for each decoder type.

    python3 bench/bench_sample.py [--models lstm layer_norm hyper lstm_sheep] [--single 10]
                                  [--batch 100 1000 2000] [--repeats 3] [--magenta 10]

Models: a randomly initialised model at Magenta's default hyper-parameters
with each decoder (lstm, layer_norm, hyper), which Magenta itself writes as
a TF1 checkpoint so that both sides load the same weights, and optionally
the trained ../shared/reference/lstm_sheep.  Every sketch is 250 steps,
non-greedy, temperature 1.0: Magenta's sample() always runs them all, so
for sample_batch the end-of-sketch logit is pushed down ("full", never
ending); "natural" lets sketches end (and leave the batch) as the model
decides.  Magenta runs with TensorFlow's default settings unless
--magenta_tf_settings ours.  Rates come from median times: of single
sketches for the two sample()s, of `--repeats` calls for sample_batch.  One
JSON line per measurement (ratio = ours / Magenta's), then per model the
speed-up of sample_batch's best full rate over Magenta's sample() (the goal
is 100x) as JSON lines and a markdown table.
"""
import argparse
import os
import statistics
import tempfile

import common
from common import ROOT, print_json

LSTM_SHEEP = os.path.join(ROOT, '..', 'shared', 'reference', 'lstm_sheep')
MODELS = {'lstm': '', 'layer_norm': 'dec_model=layer_norm', 'hyper': 'dec_model=hyper',
          'lstm_sheep': None}
STEPS = 250
GOAL = 100  # sample_batch over Magenta's sample(), sketches per second


def magenta_checkpoint(folder, hparams):
    """A randomly initialised model at Magenta's defaults + hparams, which
    Magenta saves (in its own process) as a TF1 checkpoint folder."""
    common.run_magenta(['init_checkpoint', '--hparams', hparams, '--out', folder, '--seed', 0],
                       env_overrides=None)
    return folder


def magenta_rate(checkpoint, num, env_overrides):
    """Magenta's sample() sketches per second, from the median sketch's time."""
    summary = common.run_magenta(['sample', '--checkpoint', checkpoint, '--num', num,
                                  '--warmup', 1, '--seq_len', STEPS, '--temperature', 1.0],
                                 env_overrides, timeout=1800)
    return 1.0 / summary['median_s']


def never_ending(model):
    """Pushes the end-of-sketch logit down so every sketch runs all its steps."""
    bias = model.output_layer.bias.numpy()
    bias[2] -= 30.0
    model.output_layer.bias.assign(bias)


def measure(name, sampler, num, draw, magenta, repeats):
    """Times draw() -> list of stroke-5 sketches, `repeats` times after one
    warm-up call; returns the rate of the median time (this machine's speed drifts)."""
    times, sketches = common.timed(draw, 1, repeats)
    rate = num / statistics.median(times)
    print_json(model=name, sampler=sampler, num=num, steps=STEPS,
               seconds=[round(t, 3) for t in times], sketches_per_s=round(rate, 3),
               mean_length=round(sum(len(s) for s in sketches) / len(sketches), 1),
               ratio_vs_magenta=round(rate / magenta, 2))
    return rate


def bench_model(name, checkpoint, args, magenta_env):
    """Ours and Magenta's on one Magenta checkpoint folder -> the speed-up of
    sample_batch's best full (never-ending) rate over Magenta's sample()."""
    import numpy as np
    import seq2seqVAE as S
    magenta = magenta_rate(checkpoint, args.magenta, magenta_env)
    print_json(model=name, sampler='magenta_sample', num=args.magenta, steps=STEPS,
               sketches_per_s=round(magenta, 3), tf_settings=args.magenta_tf_settings)
    model = S.load_magenta_checkpoint(checkpoint)
    rng = np.random.default_rng(0)
    measure(name, 'sample', 1, lambda: [S.sample(model, STEPS, 1.0, rng=rng)[0]], magenta,
            args.single)
    for num in args.batch:
        measure(name, 'sample_batch natural', num,
                lambda num=num: S.sample_batch(model, num, STEPS, 1.0, seed=0), magenta, args.repeats)
    never_ending(model)
    full = {num: measure(name, 'sample_batch full', num,
                         lambda num=num: S.sample_batch(model, num, STEPS, 1.0, seed=0),
                         magenta, args.repeats)
            for num in args.batch}
    best = max(full, key=full.get)
    return dict(model=name, decoder=model.hps.dec_model, magenta_sketches_per_s=round(magenta, 3),
                best_batch=best, sample_batch_sketches_per_s=round(full[best], 1),
                speedup=round(full[best] / magenta, 1), goal=GOAL)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--models', nargs='+', default=['lstm', 'layer_norm', 'hyper'],
                   choices=list(MODELS), help='decoders at default hps, or the lstm_sheep reference')
    p.add_argument('--single', type=int, default=10, help='sketches timed for sample()')
    p.add_argument('--batch', type=int, nargs='+', default=[100, 1000, 2000],
                   help='batch sizes for sample_batch()')
    p.add_argument('--repeats', type=int, default=3, help='timed calls per sample_batch size')
    p.add_argument('--magenta', type=int, default=10, help="sketches timed for Magenta's sample()")
    common.add_magenta_tf_settings(p)
    args = p.parse_args()
    magenta_env = common.magenta_env(args)
    speedups = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models:
            checkpoint = (LSTM_SHEEP if MODELS[name] is None else
                          magenta_checkpoint(tempfile.mkdtemp(dir=scratch), MODELS[name]))
            speedups.append(bench_model(name, checkpoint, args, magenta_env))
    for speedup in speedups:
        print_json(event='speedup', **speedup)
    print('\n| model | decoder | Magenta sketches/s | sample_batch sketches/s (batch) | speed-up |'
          '\n|---|---|---|---|---|')
    for r in speedups:
        print(f"| {r['model']} | {r['decoder']} | {r['magenta_sketches_per_s']:.2f} "
              f"| {r['sample_batch_sketches_per_s']:.0f} ({r['best_batch']}) | {r['speedup']:.0f}x |")


if __name__ == '__main__':
    main()
