"""Training-parity fixtures from Magenta's own code (magenta 2.1.4, run by
bench/magenta_env.py in its own process).

    python3 bench/make_training_fixtures.py [--reference ../shared/reference]
        [--data_dir ../shared/datasets] [--out tests/fixtures/training_parity]

For each checkpoint bundle and each dropout configuration (every wrapper on
at keep probability 1.0, or all off), Magenta computes on one fixed batch
(valid sketches of distinct lengths, first in file order) with fixed eps
(seeded normal) and kl_weight 0.37: cost, r_cost, kl_cost, the gradient of
cost for every trainable variable, and the cost after 3 Adam steps from the
checkpoint's weights with a fresh optimizer (Adam slots zero, global_step
0; lr and kl_weight from Magenta's schedules at steps 0, 1, 2; eps as
above).  Written per bundle and configuration: <bundle>.<config>.npz (eps,
every gradient element of variables up to 4096 elements, 4096 seeded sample
elements of larger ones with their indices) and <bundle>.<config>.json
(scalars, each gradient's shape, norm and max |g|).  The batch itself is
not stored (the data sets' licence): its indices, lengths and sum |x| are.

Validation fixtures (tests/fixtures/validation_parity/<bundle>.json): for
each bundle, Magenta's evaluate_model over the valid set with eps fed for
every batch from sketchgen.model.validation_noise(NOISE_SEED, batch) (the
eps our evaluate_costs draws), and DRAWS whole evaluations with Magenta's
own random eps: their mean and spread.
"""
import argparse
import json
import os
import tempfile
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
from magenta_env import run_worker  # noqa: E402

NOISE_SEED = 2026  # the validation fixtures' eps (sketchgen.model.validation_noise)
DRAWS = 50
BATCH_SIZE = 16
KL_WEIGHT = 0.37
ADAM_STEPS = 3
SAMPLE = 4096
DROPOUT = {
    'dropout_on': dict(use_input_dropout=True, use_output_dropout=True, use_recurrent_dropout=True,
                       input_dropout_prob=1.0, output_dropout_prob=1.0,
                       recurrent_dropout_prob=1.0),
    'dropout_off': dict(use_input_dropout=False, use_output_dropout=False,
                        use_recurrent_dropout=False),
}


def batch_indices(data_dir, data_sets, size=BATCH_SIZE):
    """The first `size` valid sketches (splits concatenated, file order) whose
    lengths all differ, so that sorting by length has one answer on any CPU."""
    lengths = np.concatenate([
        [len(s) for s in np.load(os.path.join(data_dir, name), encoding='latin1',
                                 allow_pickle=True)['valid']] for name in data_sets])
    picked, seen = [], set()
    for index, length in enumerate(lengths):
        if length not in seen:
            seen.add(length)
            picked.append(index)
        if len(picked) == size:
            return picked
    raise ValueError(f'{data_sets}: fewer than {size} distinct valid lengths')


def sample_indices(name, size, sample=SAMPLE):
    """Every element up to `sample` elements, else `sample` seeded by name."""
    if size <= sample:
        return None
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return np.sort(rng.choice(size, sample, replace=False))


def hparams_text(values):
    return ','.join(f'{k}={str(v).lower()}' for k, v in values.items())


def make_fixture(bundle, config, data_dir, out_dir, scratch):
    with open(os.path.join(bundle, 'model_config.json')) as f:
        model_config = json.load(f)
    name = os.path.basename(os.path.normpath(bundle))
    indices = batch_indices(data_dir, model_config['data_set'])
    args = ['gradients', '--checkpoint', bundle, '--data_dir', data_dir,
            '--indices', ','.join(map(str, indices)), '--hparams', hparams_text(DROPOUT[config]),
            '--kl_weight', KL_WEIGHT, '--adam_steps', ADAM_STEPS,
            '--out', os.path.join(scratch, 'grads.npz')]
    arrays = {}
    if model_config['conditional']:
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        arrays['eps'] = rng.standard_normal((BATCH_SIZE, model_config['z_size'])).astype(np.float32)
        np.save(os.path.join(scratch, 'eps.npy'), arrays['eps'])
        args += ['--eps', os.path.join(scratch, 'eps.npy')]
    record = run_worker(args)[-1]
    gradients = {}
    with np.load(os.path.join(scratch, 'grads.npz')) as grads:
        for var in sorted(grads.files):
            g = grads[var].astype(np.float32)
            picked = sample_indices(var, g.size)
            arrays[f'grad:{var}'] = g.ravel() if picked is None else g.ravel()[picked]
            if picked is not None:
                arrays[f'index:{var}'] = picked.astype(np.int32)
            gradients[var] = dict(shape=list(g.shape), norm=float(np.linalg.norm(g)),
                                  max_abs=float(np.abs(g).max()))
    del record['event']
    summary = dict(bundle=name, config=config, overrides=DROPOUT[config],
                   batch_indices=indices, gradients=gradients, **record)
    stem = os.path.join(out_dir, f'{name}.{config}')
    np.savez_compressed(stem + '.npz', **arrays)
    with open(stem + '.json', 'w') as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    return summary


def make_validation_fixture(bundle, data_dir, out_dir, scratch):
    from sketchgen.model import validation_noise  # TensorFlow: only this fixture needs it
    with open(os.path.join(bundle, 'model_config.json')) as f:
        model_config = json.load(f)
    valid = sum((len(np.load(os.path.join(data_dir, name), encoding='latin1',
                              allow_pickle=True)['valid']) for name in model_config['data_set']))
    batch_size, z_size = model_config['batch_size'], model_config['z_size']
    args = ['valid_costs', '--checkpoint', bundle, '--data_dir', data_dir, '--draws', DRAWS]
    if model_config['conditional']:
        eps = np.stack([validation_noise(NOISE_SEED, i, batch_size, z_size)
                        for i in range(valid // batch_size)])
        np.save(os.path.join(scratch, 'eps.npy'), eps)
        args += ['--eps', os.path.join(scratch, 'eps.npy')]
    record = run_worker(args)[-1]
    per_batch = np.array(record['per_batch'])  # [batches, (cost, r_cost, kl_cost)]
    draws = np.array(record['draws'])
    name = os.path.basename(os.path.normpath(bundle))
    summary = dict(bundle=name, noise_seed=NOISE_SEED, num_batches=len(per_batch),
                   per_batch=per_batch.tolist(), fed_eps=dict(zip(
                       ('cost', 'r_cost', 'kl_cost'), per_batch.mean(0).tolist())),
                   draws=dict(count=len(draws), mean=draws.mean(0).tolist(),
                              std=draws.std(0, ddof=1).tolist()))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, f'{name}.json'), 'w') as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--reference', default=os.path.join(ROOT, '..', 'shared', 'reference'))
    p.add_argument('--data_dir', default=os.path.join(ROOT, '..', 'shared', 'datasets'))
    p.add_argument('--out', default=os.path.join(ROOT, 'tests', 'fixtures', 'training_parity'))
    p.add_argument('--validation_out',
                   default=os.path.join(ROOT, 'tests', 'fixtures', 'validation_parity'))
    p.add_argument('--only', choices=('training', 'validation'), default=None)
    args = p.parse_args(argv)
    bundles = sorted(os.path.join(args.reference, b) for b in os.listdir(args.reference)
                     if os.path.exists(os.path.join(args.reference, b, 'model_config.json')))
    os.makedirs(args.out, exist_ok=True)
    for bundle in bundles if args.only != 'training' else ():
        with tempfile.TemporaryDirectory() as scratch:
            s = make_validation_fixture(bundle, args.data_dir, args.validation_out, scratch)
        print(f"{s['bundle']} validation: cost with fed eps {s['fed_eps']['cost']:.6f}, "
              f"{s['draws']['count']} draws {s['draws']['mean'][0]:.6f} "
              f"+- {s['draws']['std'][0]:.6f}", flush=True)
    for bundle in bundles if args.only != 'validation' else ():
        for config in DROPOUT:
            with tempfile.TemporaryDirectory() as scratch:
                s = make_fixture(bundle, config, args.data_dir, args.out, scratch)
            print(f"{s['bundle']} {config}: cost {s['cost']:.6f}, after {ADAM_STEPS} steps "
                  f"{s['cost_after_steps']:.6f}", flush=True)


if __name__ == '__main__':
    main()
