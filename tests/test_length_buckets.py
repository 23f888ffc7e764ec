"""Length-bucketed training (`--length_buckets`): the plan of an epoch, the
batches and what they cut, the loss against Magenta's, bounded tracing and
XLA compilation, and exact resume.  The default mode's batches and step are
Magenta's (tests/test_training_parity.py, bench/fingerprint.py).

The tracing test runs in a subprocess, which counts XLA's compilations in a
persistent cache folder (TF_XLA_FLAGS must be set before TensorFlow starts):
this file is also the script it runs, `python tests/test_length_buckets.py
traces OUT DATA_DIR`.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 7
HPARAMS = ('enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=2,batch_size=8,'
           'decay_rate=0.9,kl_decay_rate=0.8,min_learning_rate=0.0001')
TRAIN, BATCH = 60, 8  # 7 batches an epoch, 4 sketches left over
LENGTHS = (3, 70)  # points: buckets 16, 32, 48, 64 and max_seq_len


def load(data_dir, hparams=HPARAMS, **overrides):
    """(train, valid, hps) of long.npz, after `overrides` of the hyper-parameters."""
    import seq2seqVAE as S
    import utils
    hps = S.get_default_hparams().parse(hparams)
    hps.data_set = ['long.npz']
    for name, value in overrides.items():
        hps.set(name, value)
    train_set, valid_set, _, hps = utils.load_dataset(data_dir, hps, seed=SEED)
    return train_set, valid_set, hps


# ---------------------------------------------------------------------------
# The subprocess: traces and XLA compilations of a bucketed training
def count_traces(out_path, data_dir):
    """Three fit calls of 7 bucketed steps each (as the Trainer's intervals
    are): how often the training step was traced, and the lengths it ran."""
    import seq2seqVAE as S
    from sketchgen import trainer as training
    from sketchgen.length_buckets import LengthBucketedBatches
    train_set, _, hps = load(data_dir)
    traces = []

    class Counting(S.Seq2seqModel):
        def train_step(self, data):  # Python runs only while tracing
            traces.append(data['strokes'].shape.as_list())
            return super().train_step(data)

    model = Counting(hps, seed=SEED, length_buckets=True)
    model.compile(optimizer=S.make_optimizer(hps))
    model.optimizer.build(model.trainable_variables)
    steps = 3 * train_set.num_batches
    for start in range(0, steps, train_set.num_batches):
        model.fit(training.batch_dataset(train_set, SEED, start, start + train_set.num_batches,
                                         length_buckets=True),
                  steps_per_epoch=train_set.num_batches, verbose=0)
    batches = LengthBucketedBatches(train_set, SEED)
    lengths = sorted({batches.batch(step)[1].shape[1] - 1 for step in range(steps)})
    with open(out_path, 'w') as f:
        json.dump(dict(traces=traces, lengths=lengths, max_seq_len=hps.max_seq_len), f)


# ---------------------------------------------------------------------------
# Tests
@pytest.fixture(scope='module')
def long_data(tmp_path_factory):
    from random_sketches import write_npz
    folder = tmp_path_factory.mktemp('long')
    write_npz(folder / 'long.npz', seed=4, sizes=(TRAIN, 8, 8), lengths=LENGTHS)
    return folder


def test_bucket_lengths_are_a_small_fixed_set():
    from sketchgen.length_buckets import bucket_length, bucket_lengths
    assert bucket_lengths(250) == [16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208,
                                   224, 240, 250]
    assert bucket_lengths(10) == [10]
    # The sketch's points and its end-of-sketch step, rounded up.
    assert [int(bucket_length(n, 250)) for n in (1, 15, 16, 31, 32, 239, 240, 249, 250)] == \
        [16, 16, 32, 32, 48, 240, 250, 250, 250]
    assert {int(bucket_length(n, 69)) for n in range(1, 70)} == set(bucket_lengths(69))


def test_decoder_steps_saved():
    from sketchgen.length_buckets import decoder_steps_saved
    assert decoder_steps_saved([99] * 64, BATCH, 99) == 0
    assert decoder_steps_saved([5] * 64, BATCH, 99) == pytest.approx(1 - 16 / 99)
    # Half the sketches end within 16 steps, half run to 99: the plan puts
    # them in separate batches.
    assert decoder_steps_saved([5, 99] * 32, BATCH, 99, epochs=3) == pytest.approx(
        (1 - 16 / 99) / 2)


@pytest.mark.parametrize('count', [64, 60])
def test_each_epoch_sees_every_sketch_once_in_batches_of_similar_lengths(count):
    """64 sketches: each exactly once an epoch.  60 (4 left over): each at
    most once, and the ones left over change from epoch to epoch."""
    from sketchgen.length_buckets import bucket_length, bucket_lengths, epoch_plan
    lengths = np.random.default_rng(1).integers(1, 100, count)
    plans = [epoch_plan(lengths, BATCH, 99, SEED, epoch) for epoch in range(4)]
    seen = set()
    for plan in plans:
        assert plan.shape == (count // BATCH, BATCH)
        assert len(set(plan.ravel())) == plan.size  # none twice
        seen |= set(plan.ravel())
        buckets = bucket_length(lengths[plan], 99)
        # Sorted by bucket and cut: only a batch where one bucket ends and
        # the next begins holds two.
        mixed = sum(len(set(row)) > 1 for row in buckets)
        assert mixed <= len(bucket_lengths(99)) - 1
        assert bucket_length(lengths[plan].max(axis=1), 99).sum() < 0.8 * plan.shape[0] * 99
    assert seen == set(range(count))
    if count % BATCH:
        assert len({frozenset(range(count)) - set(plan.ravel()) for plan in plans}) > 1
    # Each epoch has its own order; the same (seed, epoch), the same plan.
    assert not np.array_equal(plans[0], plans[1])
    np.testing.assert_array_equal(epoch_plan(lengths, BATCH, 99, SEED, 2), plans[2])
    assert not np.array_equal(epoch_plan(lengths, BATCH, 99, SEED + 1, 2), plans[2])


def test_a_batch_is_the_full_length_batch_cut_after_its_bucket(long_data):
    """Step k's sketches, augmented as the default mode augments (the loader's
    rng seeded with (seed, k)), padded as Magenta pads them, and cut where
    only padding follows; the same step gives the same batch, in any order."""
    from sketchgen.length_buckets import LengthBucketedBatches, bucket_lengths
    train_set, _, hps = load(long_data)  # Magenta's augmentation: scaled, points dropped
    assert train_set.random_scale_factor > 0 and train_set.augment_stroke_prob > 0
    batches = LengthBucketedBatches(train_set, SEED)
    steps = range(3 * train_set.num_batches)
    first = {step: batches.batch(step) for step in steps}
    for step in reversed(steps):  # another order: the batches do not depend on it
        sketches, x, seq_len = batches.batch(step)
        np.testing.assert_array_equal(x, first[step][1])
        cut = x.shape[1] - 1
        assert cut in bucket_lengths(hps.max_seq_len)
        assert seq_len.max() < cut or cut == hps.max_seq_len
        train_set.rng.seed([SEED, step])
        augmented = train_set.augmented_sketches(batches.indices(step))
        for a, b in zip(augmented, sketches):
            np.testing.assert_array_equal(a, b)
        full = train_set.pad_batch(augmented, hps.max_seq_len)
        np.testing.assert_array_equal(x, full[:, :cut + 1])
        assert (full[:, cut + 1:] == [0, 0, 0, 0, 1]).all()
    cut_lengths = {x.shape[1] - 1 for _, x, _ in first.values()}
    assert len(cut_lengths) >= 3, cut_lengths
    # Augmented: lengths differ from the stored sketches' somewhere.
    assert any(len(s) != len(train_set.strokes[i]) for step in steps
               for s, i in zip(first[step][0], batches.indices(step)))


def test_datasets_of_both_modes(long_data):
    """The default dataset is the seeded random_batch of each step, full
    length; the bucketed one is LengthBucketedBatches', its steps unknown."""
    from sketchgen import trainer as training
    from sketchgen.length_buckets import LengthBucketedBatches
    train_set, _, hps = load(long_data)
    default = training.batch_dataset(train_set, SEED, 3, 6)
    bucketed = training.batch_dataset(train_set, SEED, 3, 6, length_buckets=True)
    assert default.element_spec['strokes'].shape.as_list() == [BATCH, hps.max_seq_len + 1, 5]
    assert bucketed.element_spec['strokes'].shape.as_list() == [BATCH, None, 5]
    # Read whole before the loader's rng makes the expected batches: both
    # datasets prepare batches ahead, with that rng, in a thread of their own.
    default, bucketed = list(default), list(bucketed)
    for step, ours, cut in zip(range(3, 6), default, bucketed):
        train_set.rng.seed([SEED, step])
        _, x, seq_len = train_set.random_batch()
        np.testing.assert_array_equal(ours['strokes'].numpy(), x)
        np.testing.assert_array_equal(ours['seq_len'].numpy(), seq_len)
        _, x, seq_len = LengthBucketedBatches(train_set, SEED).batch(step)
        np.testing.assert_array_equal(cut['strokes'].numpy(), x)
        np.testing.assert_array_equal(cut['seq_len'].numpy(), seq_len)


def test_loss_is_magentas_less_the_padding_steps_it_skips(long_data):
    """On one batch (no dropout, fixed eps), the bucketed r_cost is Magenta's
    r_cost of the full-length batch less the pen loss -log p3 of every
    padding step after the cut, over batch x max_seq_len; the KL is the same.
    train_step takes this loss with length_buckets, Magenta's without."""
    import tensorflow as tf
    import seq2seqVAE as S
    from sketchgen.length_buckets import LengthBucketedBatches
    train_set, _, hps = load(long_data, use_recurrent_dropout=False)
    sketches, cut, seq_len = LengthBucketedBatches(train_set, SEED).batch(0)
    full = train_set.pad_batch(sketches, hps.max_seq_len)
    steps = cut.shape[1] - 1
    assert steps < hps.max_seq_len - 16  # many padding steps cut
    eps = np.random.default_rng(2).standard_normal((BATCH, hps.z_size)).astype(np.float32)
    reference = S.Seq2seqModel(hps, seed=SEED)
    magenta = reference.compute_costs(full, seq_len, training=True, eps=eps)
    bucketed = reference.compute_costs(cut, seq_len, training=True, eps=eps,
                                       max_seq_len=hps.max_seq_len)
    params, _, _ = reference(dict(strokes=full, seq_len=seq_len), training=True, eps=eps)
    after_cut = params['pen_logits'][:, steps:]
    ends = tf.broadcast_to(tf.constant([0.0, 0.0, 1.0]), tf.shape(after_cut))
    padding = tf.reduce_sum(tf.nn.softmax_cross_entropy_with_logits(ends, after_cut))
    padding = float(padding) / (BATCH * hps.max_seq_len)
    assert padding > 0.05 * float(magenta[0])  # what is dropped is worth checking
    assert float(bucketed[0]) == pytest.approx(float(magenta[0]) - padding, rel=1e-5)
    assert float(bucketed[1]) == pytest.approx(float(magenta[1]), rel=1e-6)

    for length_buckets, batch, expected in ((True, cut, bucketed), (False, full, magenta)):
        model = S.Seq2seqModel(hps, seed=SEED, length_buckets=length_buckets)
        model.set_weights(reference.get_weights())
        model.compile(optimizer=S.make_optimizer(hps))
        logs = model.train_step(dict(strokes=tf.constant(batch), seq_len=tf.constant(seq_len),
                                     eps=tf.constant(eps)))
        assert float(logs['r_cost']) == pytest.approx(float(expected[0]), rel=1e-5)


@pytest.mark.slow
def test_tracing_and_xla_compilation_stay_bounded(long_data, tmp_path):
    """21 bucketed steps over 5 lengths in 3 fit calls: the training step is
    traced once, and XLA compiles the decoder's forward and backward loops
    once per length, however often each comes back."""
    from cli import python_env
    cache, out = tmp_path / 'xla', tmp_path / 'traces.json'
    cache.mkdir()
    env = python_env(TF_XLA_FLAGS=f'--tf_xla_persistent_cache_directory={cache}')
    done = subprocess.run([sys.executable, os.path.abspath(__file__), 'traces', str(out),
                           str(long_data)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out) as f:
        result = json.load(f)
    assert result['traces'] == [[BATCH, None, 5]]
    assert len(result['lengths']) == 5  # all of 16, 32, 48, 64 and max_seq_len
    compiled = os.listdir(cache)
    assert len(compiled) == 2 * len(result['lengths']), compiled


@pytest.mark.slow
def test_resume_continues_exactly(long_data, tmp_path):
    """Two epochs at once, and one epoch resumed for a second: the same
    batches, costs and final state; and --resume keeps the mode."""
    from test_train import run
    from experiment_files import checkpoint_values, latest_checkpoint
    args = ('--data_dir', long_data, '--data_set', 'long', '--seed', SEED, '--hparams', HPARAMS,
            '--samples', 0, '--length_buckets')
    whole = run(*args, '--experiment_dir', tmp_path / 'whole', '--epochs', 2)
    assert whole.code == 0, whole.err
    assert 'batches of similar lengths an epoch' in whole.out
    first = run(*args, '--experiment_dir', tmp_path / 'parts', '--epochs', 1)
    assert first.code == 0, first.err
    parts = tmp_path / 'parts' / 'long' / 'exp'
    second = run('--resume', parts, '--epochs', 2)
    assert second.code == 0, second.err
    assert second.trainer.length_buckets
    with open(parts / 'logs' / 'flags.json') as f:
        assert json.load(f)['length_buckets'] is True
    logs = dict(whole.trainer.batch_logs)
    resumed = first.trainer.batch_logs + second.trainer.batch_logs
    assert [step for step, _ in resumed] == sorted(logs) == list(range(1, 2 * (TRAIN // BATCH) + 1))
    for step, values in resumed:
        for name in ('cost', 'r_cost', 'kl_cost', 'lr', 'kl_weight'):
            assert values[name] == pytest.approx(logs[step][name], rel=1e-5, abs=1e-6), \
                (step, name)
    ours = checkpoint_values(latest_checkpoint(parts))
    reference = checkpoint_values(latest_checkpoint(tmp_path / 'whole' / 'long' / 'exp'))
    assert set(ours) == set(reference) and len(ours) > 20
    for name, value in reference.items():
        np.testing.assert_allclose(ours[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    # The mode is the run's: resuming a default run with it is refused.
    default = run(*args[:-1], '--experiment_dir', tmp_path / 'default', '--max_steps', 1)
    assert default.code == 0, default.err
    refused = run('--resume', tmp_path / 'default' / 'long' / 'exp', '--length_buckets')
    assert refused.code == 2 and '--length_buckets True (recorded: False)' in refused.err


if __name__ == '__main__':
    import seq2seqVAE  # noqa: F401  (first: TensorFlow's CPU options)
    if sys.argv[1] == 'traces':
        count_traces(*sys.argv[2:4])
