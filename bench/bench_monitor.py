"""What the grid drawn at each validation costs against training, at
Magenta's default hyper-parameters.

    python3 bench/bench_monitor.py [--data_dir ../shared/datasets] [--data_set aaron_sheep]
                                   [--samples 5] [--repeats 5]

One process alternates training steps and grids (sketchgen.monitor: the
samples at three temperatures and the reconstructions, their SVG and
TensorBoard images), so that both see the same load on a busy machine; the
medians give the grid's cost as a share of a validation interval of one
epoch and of Magenta's save_every=500 steps.  The weights are a fresh
model's, whose sketches may end early or run to max_seq_len: "full" pushes
the end-of-sketch logit down so that every sketch runs all max_seq_len
steps, the worst case.  The first grid (tracing) is reported apart: a run
pays it once.  One JSON line per measurement.
"""
import argparse
import json
import os
import statistics
import tempfile
import time

import seq2seqVAE as S  # first: it sets TensorFlow's CPU options
import tensorflow as tf

import utils
from sketchgen import monitor
from sketchgen.run_settings import DEFAULT_SAMPLES

MAGENTA_SAVE_EVERY = 500


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--data_dir', default=os.path.join('..', 'shared', 'datasets'))
    p.add_argument('--data_set', default='aaron_sheep')
    p.add_argument('--samples', type=int, default=DEFAULT_SAMPLES)
    p.add_argument('--repeats', type=int, default=5)
    return p.parse_args()


def seconds(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main():
    args = parse_args()
    hps = S.get_default_hparams()
    hps.data_set = [f'{args.data_set}.npz']
    train_set, valid_set, _, hps = utils.load_dataset(args.data_dir, hps, seed=0)
    model = S.Seq2seqModel(hps, seed=0)
    model.compile(optimizer=S.make_optimizer(hps))
    train_step = tf.function(model.train_step)

    def step():
        _, x, seq_len = train_set.random_batch()
        train_step(dict(strokes=tf.constant(x), seq_len=tf.constant(seq_len, tf.int32)))
        float(model.optimizer.iterations.numpy())  # waits for the step

    with tempfile.TemporaryDirectory() as folder:
        writer = tf.summary.create_file_writer(folder)
        grid = monitor.Monitor(folder, monitor.SampleGrid(hps, valid_set, args.samples, 1))
        first_step, first_grid = seconds(step), seconds(lambda: grid.draw(model, 0, writer))
        for mode in ('natural', 'full'):
            if mode == 'full':
                bias = model.output_layer.bias.numpy()
                bias[2] -= 30.0  # the end-of-sketch pen state: never drawn
                model.output_layer.bias.assign(bias)
            steps, grids = [], []
            for i in range(args.repeats):  # interleaved: both see the same load
                steps.append(seconds(step))
                grids.append(seconds(lambda i=i: grid.draw(model, i + 1, writer)))
            step_s, grid_s = statistics.median(steps), statistics.median(grids)
            lengths = [len(s) for row in grid.grid.rows(model) for s in row]
            print(json.dumps(dict(
                mode=mode, samples=args.samples, step_s=round(step_s, 3), grid_s=round(grid_s, 3),
                steps_per_epoch=train_set.num_batches, max_seq_len=hps.max_seq_len,
                mean_sketch_points=round(statistics.mean(lengths), 1),
                percent_of_epoch=round(100 * grid_s / (train_set.num_batches * step_s), 2),
                percent_of_500_steps=round(100 * grid_s / (MAGENTA_SAVE_EVERY * step_s), 3),
                first_step_s=round(first_step, 2), first_grid_s=round(first_grid, 2))), flush=True)


if __name__ == '__main__':
    main()
