"""Non-finite steps (--on_nonfinite): a step whose cost or gradients are NaN
or inf changes nothing, the run goes on and reports the batch; a burst of
them rolls the run back once, then stops it; resume makes the same
decisions; gradient health in TensorBoard; and a run with no such step is
bit for bit the run without the guard.

Bad steps are forced in the data path, never in the model: a sketch of the
train set made to overflow (offsets of 1e30, finite as every loaded offset
is: the cost stays finite, the gradients do not), or whole batches, chosen
by number, made so."""
import contextlib
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

import seq2seqVAE as S
import seq2seqVAE_train as T
from cli import one_line_error
from experiment_files import checkpoint_values, copy_experiment, latest_checkpoint
from sketchgen import model as model_module, nonfinite, trainer as training
from test_train import BATCHES, SEED, lr_at, run, scalars, train_args
from tiny import tiny_hps

OVERFLOW = 1e30  # offsets whose square overflows float32


# ---------------------------------------------------------------------------
# Test hooks in the data path
@contextlib.contextmanager
def overflowing_sketch(first_batch, last_batch, end_batch):
    """Runs in this block train on data where one train sketch has every dx
    OVERFLOW: one that batches [0, end_batch) hold once, in a batch
    numbered first_batch..last_batch.  Yields a namespace that each run
    fills: the sketch's source (file, split, index), its batch, and its
    points as loaded (before the hook changed them)."""
    found = type('Poisoned', (), {})()
    load = T.seeded_data

    def poisoned(*args, **kwargs):
        data = load(*args, **kwargs)
        train_set = data[0]
        batches = {}
        for number in range(end_batch):
            for position in training.batch_sketches(train_set, SEED, number):
                batches.setdefault(int(position), []).append(number)
        position = next(p for p, numbers in sorted(batches.items())
                        if len(numbers) == 1 and first_batch <= numbers[0] <= last_batch)
        found.source, found.batch = train_set.sources[position], batches[position][0]
        found.loaded = train_set.strokes[position].copy()
        found.scale_factor = train_set.scale_factor
        train_set.strokes[position][:, 0] = OVERFLOW
        return data

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(T, 'seeded_data', poisoned)
        yield found


@contextlib.contextmanager
def overflowing_batches(numbers):
    """Runs in this block train on batches whose numbers are in `numbers`
    with every offset times OVERFLOW."""
    make = training.batch_dataset
    bad = tf.constant(sorted(numbers), tf.int64)

    def batches(train_set, seed, start, end, strategy=None, length_buckets=False):
        def spoil(number, inputs):
            factor = tf.where(tf.reduce_any(tf.equal(number, bad)), OVERFLOW, 1.0)
            return dict(inputs, strokes=inputs['strokes'] * [factor, factor, 1, 1, 1])

        return tf.data.Dataset.zip(tf.data.Dataset.range(start, end),
                                   make(train_set, seed, start, end, strategy,
                                        length_buckets)).map(spoil)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training, 'batch_dataset', batches)
        yield


def final_state(result):
    return checkpoint_values(latest_checkpoint(exp_dir_of(result)))


def exp_dir_of(result):
    return os.path.dirname(os.path.dirname(result.trainer.paths['config']))


def assert_same_state(ours, reference):
    assert set(ours) == set(reference)
    for name, value in reference.items():
        if not name.startswith('save_counter'):
            np.testing.assert_array_equal(ours[name], value, err_msg=name)


def skipped_logs(trainer):
    return [(step, logs) for step, logs in trainer.batch_logs if logs['skipped']]


# ---------------------------------------------------------------------------
# The step
def test_a_non_finite_step_changes_no_weight_and_no_adam_state():
    hps = tiny_hps()
    model = S.Seq2seqModel(hps, seed=1)
    model.compile(optimizer=S.make_optimizer(hps))
    model.optimizer.build(model.trainable_variables)
    step = tf.function(model.train_step)
    rng = np.random.default_rng(0)
    x = np.zeros((hps.batch_size, hps.max_seq_len + 1, 5), np.float32)
    x[:, 0, 2] = 1
    x[:, 1:, 0:2] = rng.normal(size=(hps.batch_size, hps.max_seq_len, 2))
    x[:, 1:, 2] = 1
    seq_len = np.full(hps.batch_size, hps.max_seq_len, np.int32)

    def state():
        return [v.numpy().copy() for v in model.trainable_variables + model.optimizer.variables]

    good = dict(strokes=tf.constant(x), seq_len=tf.constant(seq_len))
    logs = step(good)
    assert float(logs['skipped']) == 0 and int(model.optimizer.iterations.numpy()) == 1
    before = state()
    spoiled = x.copy()
    spoiled[0, 3, 0] = OVERFLOW
    logs = step(dict(strokes=tf.constant(spoiled), seq_len=tf.constant(seq_len)))
    assert float(logs['skipped']) == 1
    assert nonfinite.nonfinite_parts({k: float(v) for k, v in logs.items()}) == ['gradients']
    for a, b in zip(before, state()):  # weights, Adam's moments and its iteration count
        np.testing.assert_array_equal(a, b)
    logs = step(good)  # and the next good batch trains
    assert float(logs['skipped']) == 0 and int(model.optimizer.iterations.numpy()) == 2
    assert any(not np.array_equal(a, b) for a, b in zip(before, state()))


def test_gradient_health_is_the_norm_before_clipping_and_whether_clipping_bites():
    grads = [tf.constant([[3.0, -0.5]]), tf.constant([4.0])]
    health = model_module.gradient_health(grads, clip=1.0)
    assert float(health['grad_norm']) == pytest.approx(np.sqrt(9 + 0.25 + 16))
    assert float(health['clipped']) == 1.0
    assert float(model_module.gradient_health(grads, clip=4.0)['clipped']) == 0.0  # |g| <= 4
    assert float(model_module.gradient_health(grads, clip=0.0)['clipped']) == 0.0  # no clipping
    health = model_module.gradient_health([tf.constant([np.inf]), tf.constant([1.0])], 1.0)
    assert not np.isfinite(float(health['grad_norm']))


# ---------------------------------------------------------------------------
# A run with no non-finite step
@pytest.fixture(scope='module')
def experiments(tmp_path_factory):
    return tmp_path_factory.mktemp('experiments')


@pytest.fixture(scope='module')
def clean(data_dir, experiments):
    """Two epochs with a small grad_clip, so that clipping bites on some steps."""
    result = run(*train_args(data_dir, experiments / 'clean', '--epochs', 2,
                             '--hparams', HPARAMS_CLIPPING))
    assert result.code == 0, result.err
    return result


HPARAMS_CLIPPING = ('enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=2,batch_size=8,'
                    'decay_rate=0.9,kl_decay_rate=0.8,min_learning_rate=0.0001,grad_clip=0.2')


def test_without_non_finite_steps_the_run_is_bit_for_bit_the_unguarded_one(data_dir, tmp_path,
                                                                             clean):
    def unguarded(finite, optimizer, grads, variables):  # the step as it was before the guard
        optimizer.apply_gradients(zip(grads, variables))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(model_module, 'apply_where', unguarded)
        reference = run(*train_args(data_dir, tmp_path, '--epochs', 2,
                                    '--hparams', HPARAMS_CLIPPING))
    assert reference.code == 0, reference.err
    ours, theirs = final_state(clean), final_state(reference)
    assert set(ours) == set(theirs)
    for name, value in theirs.items():
        np.testing.assert_array_equal(ours[name], value, err_msg=name)
    assert not skipped_logs(clean.trainer)
    assert not os.path.exists(clean.trainer.paths['nonfinite'])


def test_tensorboard_shows_gradient_norms_and_the_clipped_fraction(clean):
    train = scalars(os.path.join(clean.trainer.paths['tensorboard'], 'train'))
    logs = dict(clean.trainer.batch_logs)
    assert set(train['grad_norm']) == {20}
    assert train['grad_norm'][20] == pytest.approx(logs[20]['grad_norm'], rel=1e-6)
    assert all(np.isfinite(entry['grad_norm']) and entry['grad_norm'] > 0
               for entry in logs.values())
    clipped = [logs[step]['clipped'] for step in range(1, 2 * BATCHES + 1)]
    assert set(clipped) == {0.0, 1.0}  # grad_clip=0.2 bites on some steps, not all
    assert train['clipped_fraction'] == pytest.approx(
        {BATCHES: np.mean(clipped[:BATCHES]), 2 * BATCHES: np.mean(clipped[BATCHES:])})
    assert train['nonfinite_steps'] == {BATCHES: 0, 2 * BATCHES: 0}
    assert train['rollbacks'] == {BATCHES: 0, 2 * BATCHES: 0}


def test_a_checkpoint_written_before_the_policy_existed_resumes(clean, tmp_path):
    exp_dir = copy_experiment(exp_dir_of(clean), tmp_path)
    latest = S.experiment_paths(exp_dir)['latest']
    # The run's last state, as checkpoints held it before: no policy state.
    tf.train.CheckpointManager(clean.trainer.checkpoint_without_policy, latest,
                               max_to_keep=2).save(checkpoint_number=2 * BATCHES)
    assert not any(name.startswith('nonfinite/') for name in checkpoint_values(
        latest_checkpoint(exp_dir)))
    result = run('--resume', exp_dir, '--epochs', 3)
    assert result.code == 0, result.err
    assert f'Resumed {exp_dir} at step {2 * BATCHES}' in result.out
    state = final_state(result)
    assert state['nonfinite/batch_offset/.ATTRIBUTES/VARIABLE_VALUE'] == 0


# ---------------------------------------------------------------------------
# One bad batch
@pytest.fixture(scope='module')
def skipped(data_dir, experiments):
    """Two epochs, one batch in the first holding an overflowing sketch."""
    with overflowing_sketch(3, 7, 2 * BATCHES + 1) as sketch:
        result = run(*train_args(data_dir, experiments / 'skipped', '--epochs', 2))
    assert result.code == 0, result.err
    result.sketch = sketch
    return result


def test_a_bad_batch_is_skipped_and_the_run_finishes(skipped):
    trainer, bad = skipped.trainer, skipped.sketch.batch
    assert f'Done at step {2 * BATCHES};' in skipped.out
    [(step, logs)] = skipped_logs(trainer)
    assert step == bad  # batch k trains step k until the first skip...
    assert logs['lr'] == pytest.approx(lr_at(step), rel=1e-6)  # the rate the step would use
    assert f'gradients NaN or inf at step {step} (batch {bad}): its update skipped' in skipped.out
    # ...which leaves the step where it was: every good step keeps Magenta's schedules.
    steps = [step for step, logs in trainer.batch_logs if not logs['skipped']]
    assert steps == list(range(1, 2 * BATCHES + 1))
    for step, logs in trainer.batch_logs:
        if not logs['skipped']:
            assert logs['lr'] == pytest.approx(lr_at(step - 1), rel=1e-6), step
    state = final_state(skipped)
    assert state['nonfinite/batch_offset/.ATTRIBUTES/VARIABLE_VALUE'] == 1  # 21 batches drawn
    assert state['nonfinite/events/.ATTRIBUTES/VARIABLE_VALUE'] == 1
    for name, value in state.items():
        if value.dtype.kind == 'f':
            assert np.isfinite(value).all(), name
    train = scalars(os.path.join(trainer.paths['tensorboard'], 'train'))
    assert train['nonfinite_steps'] == {bad: 1, BATCHES: 1, 2 * BATCHES: 1}


def test_the_report_names_the_batch_and_its_sketches_in_the_data_files(skipped, data_dir):
    sketch = skipped.sketch
    path = os.path.join(skipped.trainer.paths['nonfinite'], f'batch_{sketch.batch:07d}.json')
    assert f'Its sketches: {path}' in skipped.out
    with open(path) as f:
        report = json.load(f)
    assert (report['step'], report['batch'], report['action']) == (sketch.batch, sketch.batch,
                                                                   'skip')
    assert report['non_finite'] == ['gradients'] and report['grad_norm'] == 'nan'
    assert np.isfinite(report['cost'])
    listed = [(s['file'], s['split'], s['index']) for s in report['sketches']]
    assert len(set(listed)) == 8  # the whole batch
    assert listed[0] == sketch.source  # the largest offsets first
    sizes = [s['largest_offset'] for s in report['sketches'][1:]]
    assert sizes == sorted(sizes, reverse=True)
    # Each named sketch is that one in its file: the bad one is the one the hook spoiled.
    for entry in report['sketches']:
        with np.load(data_dir / entry['file'], allow_pickle=True) as data:
            in_file = data[entry['split']][entry['index']]
        assert entry['points'] == len(in_file)
        if (entry['file'], entry['split'], entry['index']) == sketch.source:
            np.testing.assert_allclose(in_file[:, 0:2] / sketch.scale_factor,
                                       sketch.loaded[:, 0:2], rtol=1e-6)
        else:
            assert entry['largest_offset'] == pytest.approx(np.abs(in_file[:, 0:2]).max(),
                                                            rel=1e-5)
    with open(os.path.join(os.path.dirname(path), report['drawing'])) as f:
        svg = f.read()
    assert svg.startswith('<svg') and svg.count('<path') == 1


def test_resume_past_a_skipped_batch_ends_as_the_uninterrupted_run(data_dir, tmp_path, skipped):
    with overflowing_sketch(3, 7, 2 * BATCHES + 1):
        first = run(*train_args(data_dir, tmp_path, '--epochs', 1))
        assert first.code == 0, first.err
        assert len(skipped_logs(first.trainer)) == 1
        second = run('--resume', exp_dir_of(first), '--epochs', 2)
    assert second.code == 0, second.err
    assert not skipped_logs(second.trainer)
    assert_same_state(final_state(second), final_state(skipped))


@pytest.fixture(scope='module')
def stopped(data_dir, experiments):
    """The skipped fixture's run under --on_nonfinite stop."""
    with overflowing_sketch(3, 7, 2 * BATCHES + 1) as sketch:
        result = run(*train_args(data_dir, experiments / 'stopped', '--epochs', 2,
                                 '--on_nonfinite', 'stop'))
    result.sketch = sketch
    return result


def test_stop_policy_stops_at_the_bad_batch(stopped):
    sketch, paths = stopped.sketch, stopped.trainer.paths
    message = one_line_error(stopped)
    report = os.path.join(paths['nonfinite'], f'batch_{sketch.batch:07d}.json')
    assert message == (f'error: gradients NaN or inf at step {sketch.batch} (batch {sketch.batch}); '
                       f'stopped (--on_nonfinite stop). Its sketches: {report}. Last good '
                       'checkpoint: none yet\n')
    with open(report) as f:
        assert json.load(f)['action'] == 'stop'
    with open(paths['flags']) as f:
        assert json.load(f)['on_nonfinite'] == 'stop'
    assert [step for step, logs in skipped_logs(stopped.trainer)] == [sketch.batch]
    assert stopped.trainer.batch_logs[-1][1]['skipped']  # nothing trained after it


@pytest.mark.slow
def test_a_run_stopped_at_a_bad_batch_resumes_with_recover(stopped, skipped):
    exp_dir = exp_dir_of(stopped)
    with overflowing_sketch(3, 7, 2 * BATCHES + 1):
        resumed = run('--resume', exp_dir, '--on_nonfinite', 'recover')
    assert resumed.code == 0, resumed.err
    with open(S.experiment_paths(exp_dir)['flags']) as f:
        assert json.load(f)['on_nonfinite'] == 'recover'
    assert_same_state(final_state(resumed), final_state(skipped))


# ---------------------------------------------------------------------------
# Bursts of bad batches
BURST = range(12, 12 + nonfinite.LIMIT)  # in the second epoch, after the checkpoint of step 10


def test_a_burst_rolls_back_once_with_a_lower_rate_and_a_second_one_stops(data_dir, tmp_path):
    second_burst = range(BURST[-1] + 1, BURST[-1] + 1 + nonfinite.LIMIT)
    with overflowing_batches(list(BURST) + list(second_burst)):
        result = run(*train_args(data_dir, tmp_path, '--epochs', 3))
    message = one_line_error(result)
    paths, trainer = result.trainer.paths, result.trainer
    listed = ', '.join(map(str, second_burst))
    last = os.path.join(paths['nonfinite'], f'batch_{second_burst[-1]:07d}.json')
    assert re.search(rf'{nonfinite.LIMIT} of the last {nonfinite.WINDOW} batches were NaN or inf '
                     rf'\(batches {listed}\) again after the rollback; stopped at step '
                     rf'{BATCHES}\. .*\(this one: {re.escape(last)}\)\. Last good checkpoint: '
                     rf'\S+ckpt-{BATCHES}$', message), message
    assert f'Rolled back to step {BATCHES}' in result.out
    for number in list(BURST) + list(second_burst):
        with open(os.path.join(paths['nonfinite'], f'batch_{number:07d}.json')) as f:
            report = json.load(f)
        action = ('rollback' if number == BURST[-1] else
                  'stop' if number == second_burst[-1] else 'skip')
        assert (report['batch'], report['action']) == (number, action)
    # Steps 11 and 12 (batches 10 and 11) trained before the burst; after the
    # rollback, step 10 again, on batch 17: the second burst, at a lower rate.
    logs = trainer.batch_logs[BATCHES:]
    assert [step for step, _ in logs] == [11, 12] + [12] * nonfinite.LIMIT + [10] * nonfinite.LIMIT
    for step, entry in logs[:2 + nonfinite.LIMIT]:
        assert entry['lr'] == pytest.approx(lr_at(step if entry['skipped'] else step - 1),
                                            rel=1e-6)
    for step, entry in logs[2 + nonfinite.LIMIT:]:
        assert entry['skipped']
        assert entry['lr'] == pytest.approx(nonfinite.ROLLBACK_LR_FACTOR * lr_at(step), rel=1e-6)
    train = scalars(os.path.join(paths['tensorboard'], 'train'))
    assert train['rollbacks'][BATCHES] == 1
    assert max(train['nonfinite_steps'].values()) == 2 * nonfinite.LIMIT
    assert latest_checkpoint(exp_dir_of(result)).endswith(f'ckpt-{BATCHES}')


@pytest.mark.slow
def test_resume_after_a_rollback_ends_as_the_uninterrupted_run(data_dir, tmp_path):
    with overflowing_batches(BURST):
        whole = run(*train_args(data_dir, tmp_path / 'whole', '--epochs', 3))
        assert whole.code == 0, whole.err
        first = run(*train_args(data_dir, tmp_path / 'parts', '--epochs', 2))
        assert first.code == 0, first.err
        second = run('--resume', exp_dir_of(first), '--epochs', 3)
    assert second.code == 0, second.err
    assert f'Rolled back to step {BATCHES}' in whole.out and 'Rolled back' in first.out
    ours, reference = final_state(second), final_state(whole)
    assert reference['nonfinite/rollbacks/.ATTRIBUTES/VARIABLE_VALUE'] == 1
    assert reference['nonfinite/lr_scale/.ATTRIBUTES/VARIABLE_VALUE'] == pytest.approx(
        nonfinite.ROLLBACK_LR_FACTOR)
    assert_same_state(ours, reference)
    for step, entry in second.trainer.batch_logs:  # the resumed run keeps the lower rate
        assert entry['lr'] == pytest.approx(nonfinite.ROLLBACK_LR_FACTOR * lr_at(step - 1),
                                            rel=1e-6)


def test_a_burst_before_the_first_checkpoint_stops_the_run(data_dir, tmp_path):
    with overflowing_batches(range(2, 2 + nonfinite.LIMIT)):
        message = one_line_error(run(*train_args(data_dir, tmp_path, '--epochs', 1)))
    assert 'with no checkpoint yet to roll back to; stopped at step 2' in message
    assert message.endswith('Last good checkpoint: none yet\n')
