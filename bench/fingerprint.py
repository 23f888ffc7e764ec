"""A fingerprint of the model's numbers, to show that a change left them alone.

For each decoder (lstm, layer_norm, hyper, decoder-only), on small random
data from fixed seeds: the validation costs (`evaluate_costs`), the training
costs and every gradient at a fixed eps, the weights after three
`train_step`s, and greedy strokes from `sample` and `sample_batch`.  With
../shared/reference present, each Magenta bundle's valid costs too.

    python3 bench/fingerprint.py --out before.json
    python3 bench/fingerprint.py --compare before.json   # prints the largest differences

Same machine, same numbers: the comparison is exact up to the printed
differences (arithmetic order can change the last bits across machines).
"""
import argparse
import json
import os
import tempfile

import numpy as np

import seq2seqVAE as S
import utils

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, '..', '..', 'shared', 'reference')
SIZES = dict(enc_rnn_size=16, dec_rnn_size=24, z_size=6, num_mixture=4, batch_size=8)
CONFIGS = {'lstm': {}, 'layer_norm': dict(enc_model='layer_norm', dec_model='layer_norm'),
           'hyper': dict(dec_model='hyper'), 'decoder_only': dict(conditional=False)}


def random_data(folder):
    rng = np.random.default_rng(7)

    def sketch():
        length = int(rng.integers(5, 30))
        points = np.zeros((length, 3), np.int16)
        points[:, :2] = rng.integers(-25, 26, size=(length, 2))
        points[rng.random(length) < 0.2, 2] = 1
        points[-1, 2] = 1
        return points

    splits = {}
    for split, count in (('train', 32), ('valid', 16), ('test', 16)):
        array = np.empty(count, dtype=object)
        for i in range(count):
            array[i] = sketch()
        splits[split] = array
    np.savez(os.path.join(folder, 'fp.npz'), **splits)


def summary(array):
    array = np.asarray(array, np.float64)
    every_seventh = array.ravel()[::max(1, array.size // 7)]
    return [float(array.sum()), float(np.abs(array).sum()), float(every_seventh.sum())]


def fingerprint_config(name, overrides, data_dir):
    import tensorflow as tf
    import keras
    keras.utils.set_random_seed(3)
    hps = S.get_default_hparams()
    for key, value in dict(SIZES, data_set=['fp.npz'], **overrides).items():
        hps.set(key, value)
    train_set, valid_set, _, hps = utils.load_dataset(data_dir, hps, seed=5)
    model = S.Seq2seqModel(hps, seed=11)
    model.compile(optimizer=S.make_optimizer(hps))
    result = {'valid': S.evaluate_costs(model, valid_set, use_mean_z=True)}
    _, x, seq_len = train_set.get_batch(0)
    eps = np.random.default_rng(1).standard_normal((hps.batch_size, hps.z_size)).astype(np.float32)
    with tf.GradientTape() as tape:
        r_cost, kl_cost = model.compute_costs(tf.constant(x), tf.constant(seq_len), training=True,
                                              eps=tf.constant(eps))
        cost = r_cost + 0.37 * kl_cost
    grads = tape.gradient(cost, model.trainable_variables)
    result['train_cost'] = [float(r_cost), float(kl_cost)]
    result['gradients'] = {v.path: summary(g) for v, g in zip(model.trainable_variables, grads)}
    for step in range(3):
        _, x, seq_len = train_set.get_batch(step % train_set.num_batches)
        model.train_step(dict(strokes=tf.constant(x), seq_len=tf.constant(seq_len.astype(np.int32)),
                              eps=tf.constant(eps)))
    result['weights_after_3_steps'] = {v.path: summary(v.numpy()) for v in model.trainable_variables}
    z = np.random.default_rng(2).standard_normal((1, hps.z_size))
    strokes, _ = S.sample(model, 30, greedy_mode=True, z=z)
    result['greedy_sample'] = summary(strokes)
    batch = S.sample_batch(model, 3, 30, greedy_mode=True, z=np.repeat(z, 3, 0), seed=4)
    result['greedy_sample_batch'] = [summary(s) for s in batch]
    result['sample_batch_t0.5'] = [summary(s) for s in S.sample_batch(model, 3, 30, 0.5, seed=4)]
    return result


def reference_costs():
    result = {}
    data_dir = os.path.join(REFERENCE, '..', 'datasets')
    for bundle in sorted(os.listdir(REFERENCE)) if os.path.isdir(REFERENCE) else []:
        folder = os.path.join(REFERENCE, bundle)
        if not os.path.isdir(folder):
            continue
        model = S.load_model(folder)
        _, valid_set, _, _ = utils.load_dataset(data_dir, model.hps)
        result[bundle] = S.evaluate_costs(model, valid_set, use_mean_z=True)
    return result


def flatten(value, prefix=''):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f'{prefix}/{key}')
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from flatten(item, f'{prefix}[{i}]')
    else:
        yield prefix, float(value)


def compare(now, before):
    now, before = dict(flatten(now)), dict(flatten(before))
    missing = sorted(set(before) ^ set(now))
    diffs = sorted(((abs(now[k] - before[k]) / max(1.0, abs(before[k])), k)
                    for k in set(now) & set(before)), reverse=True)
    print(f'{len(diffs)} numbers compared, {len(missing)} present on one side only')
    for key in missing[:10]:
        print(f'  only on one side: {key}')
    for diff, key in diffs[:10]:
        print(f'  {diff:.3g}  {key}')
    return diffs[0][0] if diffs else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', help='write the fingerprint here (JSON)')
    parser.add_argument('--compare', help='a fingerprint to compare with')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        random_data(data_dir)
        result = {name: fingerprint_config(name, overrides, data_dir)
                  for name, overrides in CONFIGS.items()}
    result['reference'] = reference_costs()
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    if args.compare:
        with open(args.compare) as f:
            largest = compare(result, json.load(f))
        print(f'largest relative difference: {largest:.3g}')


if __name__ == '__main__':
    main()
