"""Forward + backward of the layer-norm and hyper decoders' whole-sequence
kernels (sketchgen.norm_kernels), with their loops run by TensorFlow and
compiled by XLA (as the decoder trains), against autodiff through tf.scan of
the cell's step (the reference tests/test_kernels.py compares them with).

    python3 bench/bench_kernels.py [--rounds 3] [--cells layer_norm,hyper]

Default decoder size (dec_rnn_size 512, batch 100, 250 steps, z_size 128,
recurrent dropout); each traced, warmed up, then timed alternately in one
process.  Prints one JSON line per cell: median seconds of each and the
scan's time over each kernel's.
"""
import argparse
import functools
import json
import statistics
import time

import seq2seqVAE as S  # first: it sets TensorFlow's CPU options
import tensorflow as tf
from sketchgen.cells import scan_rnn


def compiled_step(run, cell, inputs):
    seq, z, state, masks, loss_weights = inputs

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch([seq, z, *state])
            hidden, _ = run(cell, seq, state, z, masks)
            loss = tf.reduce_sum(hidden * loss_weights)
        return tape.gradient(loss, [seq, z, *state] + cell.trainable_variables)
    return step


def bench(kind, hps, rounds):
    units, batch, steps = hps.dec_rnn_size, hps.batch_size, hps.max_seq_len
    cell = S.make_cell(kind, units, 'decoder')
    cell.build(5 + hps.z_size)
    inputs = (tf.random.normal([batch, steps, 5]), tf.random.normal([batch, hps.z_size]),
              cell.state_from_flat(tf.tanh(tf.random.normal([batch, cell.state_size]))),
              tf.cast(tf.random.uniform([steps, units, batch]) < 0.9, tf.float32) / 0.9,
              tf.random.normal([batch, steps, units]))
    runs = {'kernel': compiled_step(S.run_rnn, cell, inputs),
            'kernel_xla': compiled_step(functools.partial(S.run_rnn, jit_compile=True), cell,
                                        inputs),
            'scan': compiled_step(scan_rnn, cell, inputs)}
    times = {name: [] for name in runs}
    for step in runs.values():
        step()  # trace and warm up
    for _ in range(rounds):
        for name, step in runs.items():
            start = time.perf_counter()
            tf.nest.map_structure(lambda t: t.numpy(), step())
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    return dict(cell=kind, rounds=rounds, kernel_s=round(medians['kernel'], 3),
                kernel_xla_s=round(medians['kernel_xla'], 3), scan_s=round(medians['scan'], 3),
                speedup=round(medians['scan'] / medians['kernel'], 2),
                speedup_xla=round(medians['scan'] / medians['kernel_xla'], 2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--cells', default='layer_norm,hyper')
    args = parser.parse_args()
    hps = S.get_default_hparams()
    for kind in args.cells.split(','):
        print(json.dumps(bench(kind, hps, args.rounds)), flush=True)


if __name__ == '__main__':
    main()
