"""Step for step over a run: Magenta's training and ours from the same weights.

    python3 bench/train_parity.py [--steps 20] [--hparams 'enc_rnn_size=8,...']
        [--data_dir datasets --data_set shapes.npz] [--init CHECKPOINT_FOLDER]

Both sides start from the same weights: --init (a Magenta checkpoint
folder, e.g. ../shared/reference/lstm_sheep), else a model that Magenta
initialises (--seed) and saves.  Both get the same batches (train
sketches picked by --seed, no scaling or augmentation), the same eps each
step, dropout off, a fresh Adam, and Magenta's schedules (learning-rate
decay, KL annealing, clipping).  Prints both cost series and their largest
difference.  --save_fixture DIR keeps Magenta's side (initial checkpoint
and cost series) for tests/test_train_parity.py, which runs ours live.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]
import seq2seqVAE as S  # noqa: E402  (before TensorFlow)
import tensorflow as tf  # noqa: E402
import utils  # noqa: E402
from sketchgen.safe_npz import NpzReader  # noqa: E402

TINY = ('enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=3,batch_size=8,'
        'decay_rate=0.9,kl_decay_rate=0.9,min_learning_rate=0.0001')
NO_DROPOUT = dict(use_input_dropout=False, use_output_dropout=False,
                  use_recurrent_dropout=False)


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


def run_magenta(init, hps, feeds, seed, scratch):
    """Magenta's train() on the same feeds; -> (init folder, cost series)."""
    from magenta_env import run_worker
    np.savez(os.path.join(scratch, 'feeds.npz'), **feeds)
    args = ['train_series', '--batches', os.path.join(scratch, 'feeds.npz'),
            '--hparams', ','.join(f'{k}={str(v).lower() if isinstance(v, bool) else v}'
                                  for k, v in hps.values().items() if k != 'data_set')]
    if init:
        args += ['--init', init]
    else:
        init = os.path.join(scratch, 'init')
        args += ['--save_init', init, '--seed', str(seed)]
    records = run_worker(args)
    return init, [r['cost'] for r in records if r.get('event') == 'step']


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--hparams', default=TINY, help="e.g. '' for Magenta's default size")
    p.add_argument('--data_dir', default=os.path.join(ROOT, 'datasets'))
    p.add_argument('--data_set', default='shapes.npz')
    p.add_argument('--init', default=None, help='Magenta checkpoint folder to start from')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--save_fixture', default=None, metavar='DIR')
    args = p.parse_args(argv)
    hps = make_hparams(args.init, args.hparams, args.data_set)
    feeds = make_feeds(hps, args.data_dir, args.steps, args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        init, theirs = run_magenta(args.init, hps, feeds, args.seed, scratch)
        ours = run_ours(init, hps, feeds)
        if args.save_fixture:
            shutil.copytree(init, args.save_fixture, dirs_exist_ok=True)
            with open(os.path.join(args.save_fixture, 'magenta_costs.json'), 'w') as f:
                json.dump(dict(hparams=args.hparams, data_set=args.data_set, seed=args.seed,
                               steps=args.steps, costs=theirs), f, indent=1)
    for step, (a, b) in enumerate(zip(theirs, ours)):
        print(f'{step:4d}  magenta {a:.7f}  ours {b:.7f}  diff {b - a:+.2e}')
    print(f'largest difference over {args.steps} steps: '
          f'{np.max(np.abs(np.subtract(theirs, ours))):.3e}')


if __name__ == '__main__':
    main()
