"""The training command's robustness: kill -9 at any moment, one live run per
experiment folder, a full disk, bad experiment files, and its handling of
settings (--hparams save_every/data_set/is_training, --resume retyped).

Tiny models; everything but the kill -9 test runs seq2seqVAE_train.main in
this process (helpers from test_train)."""
import itertools
import json
import os
import queue
import re
import resource
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest

import seq2seqVAE as S
import seq2seqVAE_train as T
from cli import one_line_error, python_env
from experiment_files import checkpoint_values, copy_experiment, files, latest_checkpoint
from sketchgen import distribute, trainer as training
from sketchgen.run_lock import RunLock
from test_train import HPARAMS, ROOT, SEED, run

BATCHES = 6  # train batches an epoch: 48 sketches / batch_size 8


def args(data_dir, experiment_dir, *more):
    return ('--data_dir', data_dir, '--data_set', 'a', '--experiment_dir', experiment_dir,
            '--seed', SEED, '--hparams', HPARAMS) + more


@pytest.fixture(scope='module')
def base(data_dir, tmp_path_factory):
    """One epoch, validating after it."""
    result = run(*args(data_dir, tmp_path_factory.mktemp('experiments'), '--epochs', 1))
    assert result.code == 0, result.err
    result.exp_dir = os.path.dirname(os.path.dirname(result.trainer.paths['config']))
    return result


# ---------------------------------------------------------------------------
# Kill -9 at any moment
DRIVER = '''
import os, sys, time
import seq2seqVAE_train as T
from tensorflow.python.checkpoint import checkpoint_management

# Test-only: announce each write that makes a file visible (the checkpoint
# index, model_config/flags/best renames) and hold it there a moment, so the
# test can kill the process in the middle of a checkpoint write.
DELAY = float(os.environ['KILL_TEST_DELAY'])

def announced(write, what):
    def slow(*args, **kwargs):
        print('WRITING', what(*args), flush=True)
        time.sleep(DELAY)
        return write(*args, **kwargs)
    return slow

checkpoint_management.update_checkpoint_state_internal = announced(
    checkpoint_management.update_checkpoint_state_internal, lambda folder, *_: 'checkpoint')
os.replace = announced(os.replace, lambda source, target: os.path.basename(target))
sys.exit(T.main(sys.argv[1:]))
'''


def life(driver, argv, kill, delay=0.0):
    """Runs the command until `kill` says when: ('start', 0) as training
    starts; after this life's first validation, ('time', seconds) later or
    ('write', n) during the n-th announced write; None: never.
    -> (return code, stdout)."""
    env = python_env(KILL_TEST_DELAY=str(delay))
    process = subprocess.Popen([sys.executable, driver, *map(str, argv)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout] + [lines.put(None)],
                     daemon=True).start()
    out, validated, writes = [], None, 0
    try:
        while True:
            try:
                line = lines.get(timeout=0.02)
            except queue.Empty:
                line = ''
            if line is None:
                break
            out.append(line)
            if validated is None and re.match(r'step \d+: valid', line):
                validated = time.monotonic()
            writes += bool(validated and line.startswith('WRITING'))
            if kill and ((kill[0] == 'start' and line.startswith('Experiment '))
                         or (kill[0] == 'time' and validated
                             and time.monotonic() - validated >= kill[1])
                         or (kill[0] == 'write' and writes == kill[1])):
                process.kill()
                break
        process.wait(timeout=600)
    finally:
        process.kill()
    return process.returncode, ''.join(out)


def check_readable(exp_dir):
    """Every experiment file is whole: JSON parses, checkpoints read back."""
    paths = S.experiment_paths(exp_dir)
    for key in ('config', 'flags'):
        with open(paths[key]) as f:
            json.load(f)
    prefix = latest_checkpoint(exp_dir)
    if prefix:
        assert checkpoint_values(prefix)
    if os.path.exists(paths['best']):
        with h5py.File(paths['best'], 'r') as f:
            f.visititems(lambda name, item: item[()] if isinstance(item, h5py.Dataset) else None)
    return prefix


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_nothing(data_dir, tmp_path):
    seed = 20260  # replay a failure with its seed
    rng = np.random.default_rng(seed)
    end, save_every = 90, 3
    command = args(data_dir, tmp_path / 'experiments', '--max_steps', end, '--save_every', save_every)
    reference = run(*args(data_dir, tmp_path / 'reference', '--max_steps', end,
                          '--save_every', save_every))
    assert reference.code == 0, reference.err
    ref_dir = os.path.dirname(os.path.dirname(reference.trainer.paths['config']))

    driver = tmp_path / 'driver.py'
    driver.write_text(DRIVER)
    exp_dir = os.path.join(tmp_path, 'experiments', 'a', 'exp')
    # Kills at each phase where a kill could spoil a file: before the first
    # checkpoint; once a life has validated, at a random time (between writes)
    # and during each of the three writes that follow a validation.
    kills = [('start', 0), ('time', float(rng.uniform(0.0, 1.0)))] + [
        ('write', n) for n in (1, 2, 3)]
    steps = []
    for i, kill in enumerate(kills + [None]):
        code, out = life(driver, command if i == 0 else ('--resume', exp_dir), kill,
                         delay=0.3 if kill and kill[0] == 'write' else 0.0)
        context = f'life {i}, kill {kill}, seed {seed}:\n{out[-3000:]}'
        if i:  # every resume starts, taking over the killed run's lock
            assert 'taking over the lock of process' in out, context
            assert ('Resumed ' in out) == (steps[-1] is not None), context
            assert ('no checkpoint yet' in out) == (steps[-1] is None), context
        if kill:
            assert code == -9, context
        else:
            assert code == 0 and f'Done at step {end};' in out, context
        prefix = check_readable(exp_dir)
        steps.append(prefix and int(prefix.rsplit('-', 1)[1]))
    assert steps[0] is None  # the first resume started from step 0
    assert all(a < b for a, b in itertools.pairwise(steps[1:])), steps  # then each went on
    assert not glob_leftovers(exp_dir)

    killed, uninterrupted = run('--evaluate', exp_dir), run('--evaluate', ref_dir)
    assert killed.code == 0 and uninterrupted.code == 0, killed.err + uninterrupted.err
    assert killed.out == uninterrupted.out
    ours, theirs = checkpoint_values(latest_checkpoint(exp_dir)), checkpoint_values(
        latest_checkpoint(ref_dir))
    for name, value in theirs.items():
        if not name.startswith('save_counter'):  # it saved again after each kill
            np.testing.assert_allclose(ours[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def glob_leftovers(exp_dir):
    return [name for name in files(exp_dir) if os.path.basename(name).startswith('.tmp-')]


# ---------------------------------------------------------------------------
# Resume before the first checkpoint, locks
class Killed(Exception):
    """Stands for a kill: the run ends where it is, without saving."""


@pytest.mark.slow
def test_resume_before_first_checkpoint_starts_at_step_0(data_dir, tmp_path, base, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(training.Trainer, 'train', lambda self, end_step: (_ for _ in ()).throw(Killed()))
        with pytest.raises(Killed):
            T.main([str(a) for a in args(data_dir, tmp_path, '--epochs', 1)])
    exp_dir = os.path.join(tmp_path, 'a', 'exp')
    assert latest_checkpoint(exp_dir) is None
    # The killed run's lock file is left, naming a process that has ended.
    ended = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                           capture_output=True, text=True, check=True)
    lock = S.experiment_paths(exp_dir)['lock']
    with open(lock, 'w') as f:
        json.dump({'pid': int(ended.stdout), 'host': 'here', 'since': 'then'}, f)
    result = run('--resume', exp_dir)
    assert result.code == 0, result.err
    assert f'taking over the lock of process {int(ended.stdout)} on here since then' in result.out
    assert 'no checkpoint yet' in result.out and 'starting it again from step 0' in result.out
    assert result.trainer.start_step == 0 and not os.path.exists(lock)
    # The same run as one that was never stopped.
    ours = checkpoint_values(latest_checkpoint(exp_dir))
    for name, value in checkpoint_values(latest_checkpoint(base.exp_dir)).items():
        np.testing.assert_allclose(ours[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_live_run_holds_its_folder(base, tmp_path):
    exp_dir = copy_experiment(base.exp_dir, tmp_path)
    before = files(exp_dir)
    with RunLock(S.experiment_paths(exp_dir)['lock']):  # a run in progress (this process)
        message = one_line_error(run('--resume', exp_dir, '--epochs', 2))
        after = files(exp_dir)
    holder = json.loads(after.pop(os.path.join('logs', 'run.lock')))
    assert f"process {os.getpid()} on {holder['host']} since {holder['since']}" in message
    assert 'in use by' in message and after == before
    assert files(exp_dir) == before  # the holder removed its lock when it ended


@pytest.mark.slow
def test_only_the_chief_takes_the_lock(base, tmp_path, monkeypatch):
    exp_dir = copy_experiment(base.exp_dir, tmp_path)
    monkeypatch.setattr(distribute, 'is_chief', lambda strategy: False)
    with RunLock(S.experiment_paths(exp_dir)['lock']):  # held by the chief
        result = run('--resume', exp_dir, '--max_steps', BATCHES + 1)
    assert result.code == 0, result.err
    assert result.trainer.start_step == BATCHES and result.trainer.step == BATCHES + 1


# ---------------------------------------------------------------------------
# A full disk
@pytest.mark.slow
def test_full_disk_stops_with_one_line_and_keeps_the_last_checkpoint(base, tmp_path,
                                                                    monkeypatch):
    exp_dir = copy_experiment(base.exp_dir, tmp_path)
    paths = S.experiment_paths(exp_dir)
    before = latest_checkpoint(exp_dir)
    data_file = before + '.data-00000-of-00001'
    save_latest = training.Trainer.save_latest

    def on_a_full_disk(self):
        """Files may grow only to just under a checkpoint's size while it is
        written (Python ignores SIGXFSZ: a write past it fails with EFBIG)."""
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(data_file) - 1, hard))
        try:
            save_latest(self)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    monkeypatch.setattr(training.Trainer, 'save_latest', on_a_full_disk)
    message = one_line_error(run('--resume', exp_dir, '--epochs', 2))
    monkeypatch.undo()
    assert message.startswith(f'error: {paths["latest"]}/ckpt-{2 * BATCHES}: cannot write it ('
                              ), message
    assert 'File too large' in message and f'stopped at step {2 * BATCHES}' in message
    assert f'Kept: {before}.' in message and message.endswith(f'--resume {exp_dir}\n')
    assert latest_checkpoint(exp_dir) == before and checkpoint_values(before)
    assert not [name for name in os.listdir(paths['latest']) if f'ckpt-{2 * BATCHES}' in name]
    resumed = run('--resume', exp_dir)
    assert resumed.code == 0, resumed.err
    assert resumed.trainer.start_step == BATCHES and resumed.trainer.step == 2 * BATCHES


# ---------------------------------------------------------------------------
# Bad experiment files: one line naming the file, nothing changed
def rewrite(path, change):
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(change(text))


def edit_json(**changes):
    return lambda text: json.dumps(dict(json.loads(text), **changes))


def truncate(path):
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


# name: (file spoilt, how, file the message names, problem it states)
DAMAGES = {
    'config not JSON': ('config', lambda p: rewrite(p, lambda t: t[:len(t) // 2]), 'config',
                        'cannot use it'),
    'config not an object': ('config', lambda p: rewrite(p, lambda t: '3'), 'config',
                             'cannot use it'),
    'config unknown name': ('config', lambda p: rewrite(p, edit_json(zz_size=3)), 'config',
                            "'zz_size'"),
    'config wrong type': ('config', lambda p: rewrite(p, edit_json(enc_rnn_size='big')), 'config',
                          "'enc_rnn_size'"),
    'config unknown cell': ('config', lambda p: rewrite(p, edit_json(dec_model='gru')), 'config',
                            "'gru'"),
    'flags not JSON': ('flags', lambda p: rewrite(p, lambda t: t[:len(t) // 2]), 'flags',
                       'cannot use it'),
    'flags without seed': ('flags', lambda p: rewrite(p, lambda t: json.dumps(
        {k: v for k, v in json.loads(t).items() if k != 'seed'})), 'flags', 'no seed'),
    'another configuration': ('config', lambda p: rewrite(p, edit_json(dec_rnn_size=24)),
                              'checkpoint', 'another configuration'),
    'truncated checkpoint index': ('index', truncate, 'checkpoint', 'cannot resume from'),
    'truncated checkpoint data': ('data', truncate, 'checkpoint', 'cannot resume from'),
}


@pytest.mark.parametrize('damage', DAMAGES)
def test_bad_experiment_file_is_one_line_and_changes_nothing(base, tmp_path, damage):
    exp_dir = copy_experiment(base.exp_dir, tmp_path)
    spoilt, spoil, named, problem = DAMAGES[damage]
    paths = dict(S.experiment_paths(exp_dir), checkpoint=latest_checkpoint(exp_dir))
    paths.update(index=paths['checkpoint'] + '.index',
                 data=paths['checkpoint'] + '.data-00000-of-00001')
    spoil(paths[spoilt])
    before = files(exp_dir)
    message = one_line_error(run('--resume', exp_dir, '--epochs', 2))
    assert message.startswith(f'error: {paths[named]}: ') and problem in message, message
    assert files(exp_dir) == before


@pytest.mark.parametrize('command', ['--evaluate', '--checkpoint'])
def test_truncated_best_weights_are_one_line(base, tmp_path, data_dir, command):
    exp_dir = copy_experiment(base.exp_dir, tmp_path)
    best = S.experiment_paths(exp_dir)['best']
    truncate(best)
    before = files(exp_dir)
    argv = (('--evaluate', exp_dir) if command == '--evaluate'
            else args(data_dir, tmp_path / 'new', '--checkpoint', best, '--max_steps', 1))
    message = one_line_error(run(*argv))
    assert f'{best}: cannot' in message and 'corrupt' in message
    assert files(exp_dir) == before


# ---------------------------------------------------------------------------
# Settings
@pytest.mark.parametrize('flag, hparam, validations', [
    (None, 3, [3, 6]), (2, 3, [2, 4, 6])])
@pytest.mark.slow
def test_save_every_in_hparams_is_the_validation_interval(data_dir, tmp_path, flag, hparam,
                                                          validations):
    more = ('--max_steps', 6) + (('--save_every', flag) if flag else ())
    result = run('--data_dir', data_dir, '--data_set', 'a', '--experiment_dir', tmp_path,
                 '--seed', SEED, '--hparams', f'{HPARAMS},save_every={hparam}', *more)
    assert result.code == 0, result.err
    assert [int(s) for s in re.findall(r'^step (\d+): valid', result.out, re.MULTILINE)] \
        == validations
    paths = S.experiment_paths(os.path.join(tmp_path, 'a', 'exp'))
    for key in ('flags', 'config'):
        with open(paths[key]) as f:
            assert json.load(f)['save_every'] == validations[0], key


def test_data_set_in_hparams_is_the_data_set(data_dir, tmp_path):
    result = run('--data_dir', data_dir, '--experiment_dir', tmp_path, '--max_steps', 0,
                 '--hparams', f'{HPARAMS},data_set=c.npz')
    assert result.code == 0, result.err
    assert result.trainer.hps.data_set == ['c.npz'] and result.trainer.train_set.num_batches == 5
    assert os.path.isdir(os.path.join(tmp_path, 'c', 'exp'))


@pytest.mark.parametrize('hparams, problem', [
    ('is_training=False', 'is_training=False describes a model for evaluation only'),
    ('z_size=abc', "'z_size'"), ('zz_size=4', "'zz_size'"), ('dec_model=gru', "'gru'")])
def test_bad_hyper_parameter_is_one_line(data_dir, tmp_path, hparams, problem):
    message = one_line_error(run('--data_dir', data_dir, '--data_set', 'a', '--experiment_dir',
                                 tmp_path, '--hparams', f'{HPARAMS},{hparams}'))
    assert message.startswith('error: --hparams: ') and problem in message, message
    assert not os.listdir(tmp_path)


@pytest.mark.slow
def test_resume_accepts_the_command_retyped_and_lists_what_differs(base, data_dir, tmp_path):
    exp_dir = copy_experiment(base.exp_dir, tmp_path)
    before = files(exp_dir)
    message = one_line_error(run('--resume', exp_dir, '--data_set', 'c', '--seed', SEED + 1,
                                 '--hparams', f'{HPARAMS},z_size=8'))
    assert "z_size 8 (recorded: 4)" in message
    assert "--data_set ['c.npz'] (recorded: ['a.npz'])" in message
    assert f'--seed {SEED + 1} (recorded: {SEED})' in message
    assert files(exp_dir) == before
    retyped = run(*args(data_dir, tmp_path / 'elsewhere', '--epochs', 2), '--resume', exp_dir)
    assert retyped.code == 0, retyped.err
    assert retyped.trainer.start_step == BATCHES and retyped.trainer.step == 2 * BATCHES
