"""Validation time: our evaluate_costs vs Magenta's evaluate_model.

    python3 bench/bench_eval.py [--data_dir ../shared/datasets] [--rounds 2] [--repeats 3]

Both evaluate aaron_sheep.npz's validation set (300 sketches, 3 batches of
100, 250 steps) at Magenta's default hyper-parameters with freshly
initialised weights (the time does not depend on them): ours is
seq2seqVAE.evaluate_costs, Magenta's is sketch_rnn_train.evaluate_model
with its eval model (is_training=0: no dropout), as its train() runs it.
Rounds alternate between the sides, each a process of its own that
evaluates once to warm up and then `--repeats` times; one JSON line per
configuration gives the median seconds of each side, the ratio (Magenta's
over ours) and each side's peak RSS.
"""
import argparse
import os

import common
from common import CONFIGS, DATA_SET, print_json



def ours_worker(args):
    """Runs in its own process: times S.evaluate_costs over the valid set."""
    S, _, valid_set, hps = common.load_ours(args.data_dir, args.hparams)
    model = S.Seq2seqModel(hps, seed=1)
    seconds, costs = common.timed(lambda: S.evaluate_costs(model, valid_set),
                                  args.warmup, args.repeats)
    print_json(event='summary', eval_seconds=seconds, cost=float(costs['cost']),
               batches=valid_set.num_batches, batch_size=hps.batch_size,
               max_seq_len=hps.max_seq_len, peak_rss_mb=common.peak_rss_mb())


def compare(args, hparams, magenta_env):
    """Alternating rounds of both sides' evaluations (common.alternate)."""
    options = ['--data_dir', args.data_dir, '--hparams', hparams,
               '--warmup', args.warmup, '--repeats', args.repeats]
    return common.alternate(
        args.rounds, lambda: common.run_ours(__file__, options),
        lambda: common.run_magenta(['evaluate', *options, '--data_set', DATA_SET, '--seed', 1],
                                   magenta_env),
        'eval_seconds')


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    common.add_side_by_side_options(p, ['default'])
    p.add_argument('--warmup', type=int, default=1, help='untimed evaluations per round')
    p.add_argument('--repeats', type=int, default=3, help='timed evaluations per round')
    args = p.parse_args()
    if args.ours_worker:
        return ours_worker(args)
    magenta_env = common.magenta_env(args)
    print_json(event='machine', cpus=os.cpu_count(), magenta_tf_settings=magenta_env)
    for name in args.configs:
        result = compare(args, CONFIGS[name], magenta_env)
        print_json(config=name, hparams=CONFIGS[name] or "Magenta's defaults",
                   ours_s=round(result['median']['ours'], 3),
                   magenta_s=round(result['median']['magenta'], 3),
                   ratio=round(result['ratio'], 2), goal_ratio=3.0,
                   ours_peak_rss_mb=round(result['rss']['ours']),
                   magenta_peak_rss_mb=round(result['rss']['magenta']),
                   ours_seconds=result['seconds']['ours'],
                   magenta_seconds=result['seconds']['magenta'])


if __name__ == '__main__':
    main()
