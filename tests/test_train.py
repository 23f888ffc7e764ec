"""The training command: experiment folders, logs, TensorBoard, schedules,
checkpoints, exact resume, interruption and clear errors.

Tiny models on tiny data sets; most runs call seq2seqVAE_train.main in this
process, and a handful of runs made once per module serve several tests.
"""
import glob
import json
import os
import re
import signal
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

import seq2seqVAE as S
import seq2seqVAE_train as T
from sketchgen import experiment, trainer as training
from sketchgen.runs import read_scalars as scalars
from cli import one_line_error, run_main
from loopback import QuietHandler, serving
from experiment_files import checkpoint_values, copy_experiment, latest_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKDRAW_URL = 'https://storage.googleapis.com/quickdraw_dataset/sketchrnn'
# Fast schedules, so that neighbouring steps have clearly different values.
HPARAMS = ('enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=2,batch_size=8,'
           'decay_rate=0.9,kl_decay_rate=0.8,min_learning_rate=0.0001')
BATCHES = 10  # train batches an epoch: (48 + 32) sketches / batch_size 8
SEED = 7


# ---------------------------------------------------------------------------
# Helpers
class RecordingTrainer(training.Trainer):
    """The command's Trainer, also keeping what tests look at: the logs of
    every batch (with the step after it) and the weights training starts from."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_logs = []
        on_batch_end = self.callback.on_train_batch_end

        def record(batch, logs=None):
            self.batch_logs.append((self.step, {k: float(v) for k, v in logs.items()}))
            on_batch_end(batch, logs)

        self.callback.on_train_batch_end = record

    def train(self, end_step):
        self.start_step = self.step
        self.start_weights = [v.numpy() for v in self.model.weights]
        return super().train(end_step)


def run(*argv):
    """main(argv) in this process -> namespace(code, out, err, trainer or None)."""
    made = []

    class Recording(RecordingTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training, 'Trainer', Recording)
        result = run_main(T.main, *argv)
    result.trainer = made[-1] if made else None
    return result


def train_args(data_dir, experiment_dir, *more):
    # No sample grids (tests/test_monitor.py checks them): tracing the sampler costs seconds.
    return ('--data_dir', data_dir, '--data_set', 'a', 'b.npz', '--experiment_dir',
            experiment_dir, '--seed', SEED, '--hparams', HPARAMS, '--samples', 0) + more


def lr_at(step):
    return (0.001 - 0.0001) * 0.9 ** step + 0.0001


def kl_weight_at(step):
    return 0.5 - (0.5 - 0.01) * 0.8 ** step




# ---------------------------------------------------------------------------
# Runs shared by several tests
@pytest.fixture(scope='module')
def splits(data_dir):
    """The sketches of a.npz and b.npz, concatenated, by split."""
    result = {}
    for name in ('a.npz', 'b.npz'):
        with np.load(data_dir / name, allow_pickle=True) as data:
            for split in ('train', 'valid', 'test'):
                result.setdefault(split, []).extend(data[split])
    return result


@pytest.fixture(scope='module')
def experiments(tmp_path_factory):
    return tmp_path_factory.mktemp('experiments')


@pytest.fixture(scope='module')
def base(data_dir, experiments):
    """Two epochs (20 steps), validating after each."""
    result = run(*train_args(data_dir, experiments, '--epochs', 2))
    assert result.code == 0, result.err
    result.exp_dir = os.path.join(experiments, 'a_b', 'exp')
    return result


@pytest.fixture(scope='module')
def resumed(data_dir, experiments, base):
    """The base run as one epoch, then resumed for a second one."""
    first = run(*train_args(data_dir, experiments, '--epochs', 1))
    assert first.code == 0, first.err
    exp_dir = os.path.join(experiments, 'a_b', 'exp_0')  # base has 'exp'
    with open(S.experiment_paths(exp_dir)['flags']) as f:
        first.flags = json.load(f)
    second = run('--resume', exp_dir, '--epochs', 2)
    assert second.code == 0, second.err
    return types.SimpleNamespace(first=first, second=second, exp_dir=exp_dir)


# ---------------------------------------------------------------------------
# Experiment folder and logs
def test_experiment_folders_are_named_by_data_sets_and_never_reused(tmp_path, base, resumed):
    names = [os.path.relpath(experiment.new_experiment_dir(str(tmp_path), ['cat.npz', 'dog.npz']),
                             tmp_path) for _ in range(3)]
    assert names == [os.path.join('cat_dog', n) for n in ('exp', 'exp_0', 'exp_1')]
    # Through the command: the second run on the same sets got the next name.
    assert os.path.isdir(base.exp_dir) and os.path.isdir(resumed.exp_dir)
    assert base.trainer.paths == S.experiment_paths(base.exp_dir)
    assert resumed.first.trainer.paths == S.experiment_paths(resumed.exp_dir)
    for exp_dir in (base.exp_dir, resumed.exp_dir):
        assert sorted(os.listdir(exp_dir)) == ['checkpoints', 'logs', 'tensorboard']


def test_model_config_holds_every_hyper_parameter_and_data_facts(base, splits):
    with open(S.experiment_paths(base.exp_dir)['config']) as f:
        config = json.load(f)
    assert set(config) == set(S.DEFAULT_HPARAMS) | {'normalizing_scale_factor'}
    assert config['data_set'] == ['a.npz', 'b.npz']
    assert (config['enc_rnn_size'], config['dec_rnn_size'], config['z_size']) == (8, 16, 4)
    assert config['decay_rate'] == 0.9 and config['kl_decay_rate'] == 0.8
    assert config['kl_weight'] == S.DEFAULT_HPARAMS['kl_weight']  # defaults kept too
    assert config['max_seq_len'] == max(len(s) for s in sum(splits.values(), []))
    offsets = np.concatenate([s[:, 0:2] for s in splits['train']]).astype(np.float32)
    np.testing.assert_allclose(config['normalizing_scale_factor'], np.std(offsets), rtol=1e-5)
    # It reads back as the hyper-parameters the run trained with.
    hps, extras = S.read_model_config(S.experiment_paths(base.exp_dir)['config'])
    assert hps.values() == base.trainer.hps.values()
    assert extras == {'normalizing_scale_factor': config['normalizing_scale_factor']}


def test_flags_json_records_the_command(base, data_dir, experiments):
    with open(S.experiment_paths(base.exp_dir)['flags']) as f:
        flags = json.load(f)
    assert flags['data_dir'] == str(data_dir)
    assert flags['data_set'] == ['a', 'b.npz']
    assert flags['experiment_dir'] == str(experiments)
    assert (flags['seed'], flags['epochs'], flags['end_step']) == (SEED, 2, 2 * BATCHES)
    assert flags['hparams'] == HPARAMS


def test_log_txt_has_what_was_printed(base, resumed):
    with open(S.experiment_paths(base.exp_dir)['log']) as f:
        log = f.read()
    assert log.count('Experiment ') == 1  # nothing from the runs made after it
    printed = [line for line in base.out.splitlines()
               if re.match(r'(Experiment |step \d+: valid|Done at step)', line)]
    assert len(printed) == 4  # start, two validations, end
    assert printed[-1].startswith(f'Done at step {2 * BATCHES};')
    for line in printed:
        assert line in log.splitlines()
    assert f'step {2 * BATCHES}/{2 * BATCHES} [' in log  # the progress line too
    assert '\x1b[' not in log and '\r' not in log  # without colours and redraws


def test_tensorboard_has_training_validation_and_test_scalars(base):
    folder = S.experiment_paths(base.exp_dir)['tensorboard']
    train = scalars(os.path.join(folder, 'train'))
    valid = scalars(os.path.join(folder, 'validation'))
    assert {'train_cost', 'train_r_cost', 'train_kl_cost', 'lr', 'kl_weight'} <= set(train)
    assert set(train['train_cost']) == {20}  # every 20 global steps, as Magenta
    logs = dict(base.trainer.batch_logs)[20]
    assert train['train_cost'][20] == pytest.approx(logs['cost'], rel=1e-6)
    assert train['train_r_cost'][20] == pytest.approx(logs['r_cost'], rel=1e-6)
    for tag in ('valid_cost', 'valid_r_cost', 'valid_kl_cost', 'steps_per_second'):
        assert set(valid[tag]) == {BATCHES, 2 * BATCHES}, tag
    assert all(v > 0 for v in valid['steps_per_second'].values())
    for tag in ('test_cost', 'test_r_cost', 'test_kl_cost'):
        assert BATCHES in valid[tag], tag  # the first validation is always a new best
    # The printed validation lines show the same numbers.
    printed = {int(step): float(cost) for step, cost in
               re.findall(r'^step (\d+): valid cost (\S+) ', base.out, re.M)}
    assert printed == pytest.approx(valid['valid_cost'], abs=6e-5)


# ---------------------------------------------------------------------------
# Schedules
def test_schedules_follow_magentas_formulas(base):
    trainer = base.trainer
    assert [step for step, _ in trainer.batch_logs] == list(range(1, 2 * BATCHES + 1))
    for step, logs in trainer.batch_logs:  # the batch before `step` trained with step - 1
        assert logs['kl_weight'] == pytest.approx(kl_weight_at(step - 1), rel=1e-6), step
    train = scalars(os.path.join(S.experiment_paths(base.exp_dir)['tensorboard'], 'train'))
    assert train['kl_weight'][20] == pytest.approx(kl_weight_at(19), rel=1e-6)
    # The optimizer after 20 steps: the rate its next update uses.
    assert trainer.step == 20
    assert float(trainer.model.optimizer.learning_rate) == pytest.approx(lr_at(20), rel=1e-6)
    assert float(S.kl_weight_at(trainer.hps, trainer.step)) == pytest.approx(kl_weight_at(20),
                                                                             rel=1e-6)


def test_logged_learning_rate_is_the_one_the_step_used(base):
    for step, logs in base.trainer.batch_logs:
        assert logs['lr'] == pytest.approx(lr_at(step - 1), rel=1e-6), step


# ---------------------------------------------------------------------------
# Checkpoints
def test_best_checkpoint_is_the_lowest_validation_cost(base):
    paths = S.experiment_paths(base.exp_dir)
    valid = scalars(os.path.join(paths['tensorboard'], 'validation'))['valid_cost']
    best_step = min(valid, key=valid.get)
    assert int(base.trainer.best_step.numpy()) == best_step
    assert float(base.trainer.best_valid_cost.numpy()) == pytest.approx(valid[best_step])
    assert re.search(rf'best valid cost \S+ at step {best_step}\.', base.out)
    # Latest: the last two validation steps are kept, the newest is the end.
    assert latest_checkpoint(base.exp_dir).endswith('ckpt-20')
    assert os.path.exists(os.path.join(paths['latest'], 'ckpt-10.index'))
    # best.weights.h5 holds the weights of the best step.
    best = S.load_model(base.exp_dir)
    at_best = S.load_model(base.exp_dir, checkpoint='latest')
    tf.train.Checkpoint(model=at_best).restore(
        os.path.join(paths['latest'], f'ckpt-{best_step}')).expect_partial()
    for a, b in zip(best.weights, at_best.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    other = S.load_model(base.exp_dir, checkpoint='latest')
    tf.train.Checkpoint(model=other).restore(
        os.path.join(paths['latest'], f'ckpt-{30 - best_step}')).expect_partial()
    assert any(not np.array_equal(a.numpy(), b.numpy())
               for a, b in zip(best.weights, other.weights))


def test_resume_continues_exactly(base, resumed):
    first, second = resumed.first, resumed.second
    assert first.flags['end_step'] == BATCHES
    assert f'Resumed {resumed.exp_dir} at step {BATCHES}' in second.out
    assert f'Done at step {2 * BATCHES};' in second.out
    with open(S.experiment_paths(resumed.exp_dir)['flags']) as f:
        flags = json.load(f)
    assert (flags['epochs'], flags['end_step']) == (2, 2 * BATCHES)  # a later resume keeps it
    # Resumed from the first run's last state...
    first_end = [v.numpy() for v in first.trainer.model.weights]
    for a, b in zip(first_end, second.trainer.start_weights):
        np.testing.assert_array_equal(a, b)
    # ...it saw the same batches with the same dropout as the uninterrupted run...
    logs = dict(base.trainer.batch_logs)
    for step, resumed_logs in first.trainer.batch_logs + second.trainer.batch_logs:
        for name in ('cost', 'r_cost', 'kl_cost', 'lr', 'kl_weight'):
            assert resumed_logs[name] == pytest.approx(logs[step][name], rel=1e-5, abs=1e-6), \
                (step, name)
    # ...and ends in the same state: weights, Adam moments, step, dropout seed, best cost.
    ours = checkpoint_values(latest_checkpoint(resumed.exp_dir))
    reference = checkpoint_values(latest_checkpoint(base.exp_dir))
    assert set(ours) == set(reference) and len(ours) > 20
    for name, value in reference.items():
        np.testing.assert_allclose(ours[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    assert float(second.trainer.model.optimizer.learning_rate) == pytest.approx(lr_at(20))
    # Both runs' lines are in the one log.
    with open(S.experiment_paths(resumed.exp_dir)['log']) as f:
        log = f.read()
    assert f'step {BATCHES}: valid cost' in log and f'step {2 * BATCHES}: valid cost' in log


@pytest.mark.slow
def test_sigint_saves_and_says_how_to_resume(data_dir, tmp_path, base):
    experiments = tmp_path / 'experiments'
    command = [sys.executable, os.path.join(ROOT, 'seq2seqVAE_train.py'),
               *map(str, train_args(data_dir, experiments, '--epochs', 1000))]
    env = dict(os.environ, PYTHONUNBUFFERED='1', TF_CPP_MIN_LOG_LEVEL='2')
    with open(tmp_path / 'stderr.txt', 'w') as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=stderr, text=True)
        lines = []
        try:
            for line in process.stdout:
                lines.append(line)
                if re.match(r'step \d+: valid cost', line):  # a checkpoint exists now
                    process.send_signal(signal.SIGINT)
                    break
            out = ''.join(lines) + process.communicate(timeout=300)[0]
        finally:
            process.kill()
    assert process.returncode == 130, out + (tmp_path / 'stderr.txt').read_text()[-3000:]
    exp_dir = os.path.join(experiments, 'a_b', 'exp')
    match = re.search(r'SIGINT: saved step (\d+) to (\S+)\. Resume with: python3 '
                      r'seq2seqVAE_train\.py --resume (\S+)', out)
    assert match, out
    step = int(match.group(1))
    assert BATCHES <= step < 1000 * BATCHES
    assert match.group(2) == latest_checkpoint(exp_dir) and match.group(3) == exp_dir
    assert match.group(2).endswith(f'ckpt-{step}')
    # Resume to an end: the next validation boundary.
    end = (step // BATCHES + 1) * BATCHES
    result = run('--resume', exp_dir, '--max_steps', end)
    assert result.code == 0, result.err
    assert result.trainer.start_step == step
    assert f'Done at step {end};' in result.out
    assert latest_checkpoint(exp_dir).endswith(f'ckpt-{end}')
    with open(S.experiment_paths(exp_dir)['flags']) as f:
        flags = json.load(f)
    assert (flags['max_steps'], flags['end_step']) == (end, end)
    if end == 2 * BATCHES:  # interrupted in the second epoch: the same as never stopping
        ours = checkpoint_values(latest_checkpoint(exp_dir))
        for name, value in checkpoint_values(latest_checkpoint(base.exp_dir)).items():
            if not name.startswith('save_counter'):  # it saved once more
                np.testing.assert_allclose(ours[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize('damage', ['truncate', 'garble'])
def test_corrupt_checkpoint_is_refused(base, tmp_path, damage):
    exp_dir = copy_experiment(base.exp_dir, tmp_path)
    data_file, = glob.glob(latest_checkpoint(exp_dir) + '.data-*')
    with open(data_file, 'rb') as f:
        data = bytearray(f.read())
    if damage == 'truncate':
        data = data[:len(data) // 2]
    else:
        data[len(data) // 3::97] = bytes(b ^ 0x5A for b in data[len(data) // 3::97])
    with open(data_file, 'wb') as f:
        f.write(data)
    result = run('--resume', exp_dir, '--epochs', 3)
    message = one_line_error(result)
    assert 'ckpt-20: cannot resume from this checkpoint (corrupt' in message
    assert latest_checkpoint(exp_dir).endswith('ckpt-20')  # nothing written over it


def test_checkpoint_of_another_configuration_is_refused(base, tmp_path):
    exp_dir = copy_experiment(base.exp_dir, tmp_path)
    config_path = S.experiment_paths(exp_dir)['config']
    with open(config_path) as f:
        config = json.load(f)
    config['dec_rnn_size'] = 24
    with open(config_path, 'w') as f:
        json.dump(config, f)
    message = one_line_error(run('--resume', exp_dir, '--epochs', 3))
    assert 'cannot resume from this checkpoint' in message and 'another configuration' in message


@pytest.mark.slow
@pytest.mark.parametrize('policy', ['stop', 'recover'])
def test_diverging_run_stops_and_keeps_the_last_good_checkpoint(base, tmp_path, policy):
    # A learning rate of 1e30 from step 20 on: the weights blow up at once.
    exp_dir = copy_experiment(base.exp_dir, tmp_path)
    paths = S.experiment_paths(exp_dir)
    with open(paths['config']) as f:
        config = json.load(f)
    config['learning_rate'] = 1e30
    with open(paths['config'], 'w') as f:
        json.dump(config, f)
    with open(paths['best'], 'rb') as f:
        best = f.read()
    message = one_line_error(run('--resume', exp_dir, '--epochs', 3, '--on_nonfinite', policy))
    if policy == 'stop':
        pattern = (r'NaN or inf at step (\d+) \(batch \d+\); stopped \(--on_nonfinite stop\)\. '
                   r'Its sketches: (\S+\.json)\. Last good checkpoint: (\S+)$')
    else:  # every step after the first is non-finite: one rollback, then the same again
        pattern = (r'again after the rollback; stopped at step (\d+)\. .*\(this one: (\S+\.json)\)\. '
                   r'Last good checkpoint: (\S+)$')
    match = re.search(pattern, message)
    assert match, message
    assert 2 * BATCHES < int(match.group(1)) < 3 * BATCHES
    assert os.path.dirname(match.group(2)) == paths['nonfinite']
    with open(match.group(2)) as f:
        assert json.load(f)['action'] == 'stop'
    assert match.group(3) == latest_checkpoint(exp_dir) and match.group(3).endswith('ckpt-20')
    assert not glob.glob(os.path.join(paths['latest'], 'ckpt-2[1-9]*'))
    with open(paths['best'], 'rb') as f:
        assert f.read() == best
    for name, value in checkpoint_values(match.group(3)).items():
        if value.dtype.kind == 'f':
            assert np.isfinite(value).all(), name


# ---------------------------------------------------------------------------
# Data errors and sources
def test_missing_data_names_the_path_and_where_to_download(data_dir, tmp_path):
    result = run('--data_dir', data_dir, '--data_set', 'a', 'nowhere',
                 '--experiment_dir', tmp_path / 'experiments', '--hparams', HPARAMS)
    message = one_line_error(result)
    assert os.path.join(str(data_dir), 'nowhere.npz') in message
    assert f'{QUICKDRAW_URL}/nowhere.npz' in message
    assert not os.path.exists(tmp_path / 'experiments' / 'a_nowhere')  # no empty run left


@pytest.mark.parametrize('content', [b'these are not sketches', 'npy'])
def test_bad_data_file_is_named_in_one_line(tmp_path, content):
    path = tmp_path / 'cat.npz'
    if content == 'npy':
        with open(path, 'wb') as f:
            np.save(f, np.arange(3))
    else:
        path.write_bytes(content)
    message = one_line_error(run('--data_dir', tmp_path, '--data_set', 'cat',
                                 '--experiment_dir', tmp_path / 'experiments'))
    assert str(path) in message and 'npz' in message


def test_data_dir_url_downloads_into_the_cache(data_dir, tmp_path, monkeypatch):
    requests = []

    class Recording(QuietHandler):
        def log_message(self, format, *args):
            requests.append(self.path)

    monkeypatch.setenv('SKETCHGEN_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setenv('no_proxy', '127.0.0.1')
    monkeypatch.setenv('NO_PROXY', '127.0.0.1')
    with serving(data_dir, Recording) as url:
        result = run('--data_dir', url, '--data_set', 'a', '--max_steps', 0, '--hparams', HPARAMS,
                     '--experiment_dir', tmp_path / 'experiments')
    assert result.code == 0, result.err
    assert requests == ['/a.npz']
    [cached] = (tmp_path / 'cache' / 'datasets').glob('127.0.0.1_*/a.npz')
    assert cached.read_bytes() == (data_dir / 'a.npz').read_bytes()
    exp_dir = tmp_path / 'experiments' / 'a' / 'exp'
    with open(S.experiment_paths(exp_dir)['flags']) as f:
        assert json.load(f)['data_dir'] == url
    with np.load(data_dir / 'a.npz', allow_pickle=True) as data:
        longest = max(len(s) for split in ('train', 'valid', 'test') for s in data[split])
    assert result.trainer.hps.max_seq_len == longest


@pytest.mark.slow
# ---------------------------------------------------------------------------
# Other commands
def test_precision_bfloat16_is_recorded_and_kept_on_resume(data_dir, tmp_path):
    first = run(*train_args(data_dir, tmp_path, '--epochs', 1, '--precision', 'bfloat16'))
    assert first.code == 0, first.err
    assert first.trainer.model.dtype_policy.name == 'mixed_bfloat16'
    exp_dir = os.path.join(tmp_path, 'a_b', 'exp')
    with open(S.experiment_paths(exp_dir)['flags']) as f:
        assert json.load(f)['precision'] == 'bfloat16'
    second = run('--resume', exp_dir, '--epochs', 2)
    assert second.code == 0, second.err
    assert second.trainer.model.dtype_policy.name == 'mixed_bfloat16'
    assert second.trainer.step == 2 * BATCHES
    # Weights are float32 whatever the precision: a float32 run can go on from here.
    third = run('--resume', exp_dir, '--epochs', 3, '--precision', 'float32')
    assert third.code == 0, third.err
    assert third.trainer.model.dtype_policy.name == 'float32'
    with open(S.experiment_paths(exp_dir)['flags']) as f:
        assert json.load(f)['precision'] == 'float32'


def test_evaluate_prints_costs_masked_and_unmasked(base):
    result = run('--evaluate', base.exp_dir)
    assert result.code == 0, result.err
    pattern = (r'^(valid|test)( \(pen loss masked\))?: cost (\S+) r_cost (\S+) kl_cost (\S+)$')
    rows = {(m[1], bool(m[2])): tuple(map(float, m.groups()[2:]))
            for m in re.finditer(pattern, result.out, re.M)}
    assert set(rows) == {(s, masked) for s in ('valid', 'test') for masked in (False, True)}
    for split in ('valid', 'test'):
        unmasked, masked = rows[split, False], rows[split, True]
        assert masked[1] < unmasked[1]  # no pen loss after the sketches end
        assert masked[2] == unmasked[2]
    # The best checkpoint's valid cost, as training reported it.
    best_cost = float(base.trainer.best_valid_cost.numpy())
    assert rows['valid', False][0] == pytest.approx(best_cost, abs=1e-4)


@pytest.mark.slow
def test_checkpoint_and_initial_epoch_start_the_schedules_there(base, tmp_path, data_dir):
    best = S.experiment_paths(base.exp_dir)['best']
    result = run(*train_args(data_dir, tmp_path, '--checkpoint', best, '--initial_epoch', 2,
                             '--max_steps', 2 * BATCHES + 1))
    assert result.code == 0, result.err
    trainer = result.trainer
    assert trainer.start_step == 2 * BATCHES
    for a, b in zip(trainer.start_weights, S.load_model(base.exp_dir).weights):
        np.testing.assert_array_equal(a, b.numpy())
    assert [step for step, _ in trainer.batch_logs] == [2 * BATCHES + 1]
    logs = trainer.batch_logs[0][1]
    assert logs['kl_weight'] == pytest.approx(kl_weight_at(2 * BATCHES), rel=1e-6)
    assert f'step {2 * BATCHES + 1}: valid cost' in result.out
    assert float(trainer.model.optimizer.learning_rate) == pytest.approx(lr_at(2 * BATCHES + 1))


def test_help_lists_every_flag():
    result = run('--help')
    assert result.code == 0
    for flag in ('--data_dir', '--data_set', '--experiment_dir', '--epochs', '--hparams',
                 '--resume', '--max_steps', '--save_every', '--seed', '--evaluate',
                 '--checkpoint', '--initial_epoch', '--strategy', '--precision',
                 '--on_nonfinite'):
        assert re.search(rf'^\s+{flag}\b', result.out, re.M), flag
    assert 'multi_worker' in result.out
