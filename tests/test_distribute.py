"""Training under tf.distribute on CPU: one mirrored step equals one
single-device step on the same global batch, two workers on loopback train
and resume through the real command (`--strategy multi_worker`) as one
device would, and `--resume` works under `--strategy mirrored`.

Each test runs its TensorFlow work in subprocesses: the CPU is split into two
logical devices (which must happen before TensorFlow sets up its devices), and
workers of a cluster are processes.  This file is also the script those
subprocesses run: `python tests/test_distribute.py MODE ...`.
"""
import json
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

from cli import python_env

# Helpers that import TensorFlow (experiment_files) are imported inside the
# tests, never by the worker processes, which split the CPU first.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SEED = 7
HPARAMS = 'enc_rnn_size=8,dec_rnn_size=12,z_size=4,num_mixture=3,batch_size=8'
# Deterministic training: no encoder (so no z sampled) and no dropout.  Each
# replica draws its own noise (as one device draws for every sketch), so with
# either one a distributed step cannot equal a single-device step draw for draw.
DETERMINISTIC = HPARAMS + ',conditional=False,use_recurrent_dropout=False'
BATCHES = 4  # train batches an epoch: b.npz's 32 sketches / batch_size 8
TIMEOUT = 600


def train_args(data_dir, experiment_dir, hparams, *more):
    return ['--data_dir', str(data_dir), '--data_set', 'b', '--experiment_dir',
            str(experiment_dir), '--seed', str(SEED), '--hparams', hparams, '--samples', '0',
            *map(str, more)]


# ---------------------------------------------------------------------------
# What the subprocesses run
def two_cpu_devices():
    """Splits the CPU into /cpu:0 and /cpu:1, as two GPUs would be."""
    import tensorflow as tf
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    return tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])


def max_difference(a, b):
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a, b))


def compare_steps(out_path, data_dir):
    """One (or a few) training steps on one device and on two mirrored
    replicas, from the same weights on the same global batches."""
    mirrored = two_cpu_devices()
    import keras
    import tensorflow as tf
    import seq2seqVAE as S
    import utils
    from sketchgen import trainer as training

    def setup(hparams, **overrides):
        hps = S.get_default_hparams().parse(hparams)
        hps.data_set = ['b.npz']
        train_set, valid_set, _, hps = utils.load_dataset(data_dir, hps, seed=SEED)
        for name, value in overrides.items():
            hps.set(name, value)
        return hps, train_set, valid_set

    def build(strategy, hps, optimizer):
        with strategy.scope():
            model = S.Seq2seqModel(hps, seed=SEED)
            model.compile(optimizer=optimizer())
            model.optimizer.build(model.trainable_variables)
        return model

    def run(hps, train_set, valid_set, optimizer, steps=1, prepare=None):
        keras.utils.set_random_seed(SEED)
        single = build(tf.distribute.get_strategy(), hps, optimizer)
        if prepare:
            prepare(single, hps, train_set)
        replicas = build(mirrored, hps, optimizer)
        for target, value in zip(replicas.weights, single.weights):
            target.assign(value.numpy())
        start = [w.numpy() for w in single.weights]
        logs = {}
        for name, model, strategy in (('single', single, None), ('mirrored', replicas, mirrored)):
            history = model.fit(training.batch_dataset(train_set, SEED, 0, steps, strategy),
                                steps_per_epoch=steps, verbose=0)
            logs[name] = {k: float(v[-1]) for k, v in history.history.items()}
        # Evaluation runs its own tf.function on the model, outside fit.
        evaluation = {name: S.evaluate_costs(model, valid_set)
                      for name, model in (('single', single), ('mirrored', replicas))}
        return dict(replicas=replicas.distribute_strategy.num_replicas_in_sync,
                    evaluation=evaluation,
                    weight_difference=max_difference([w.numpy() for w in single.weights],
                                                     [w.numpy() for w in replicas.weights]),
                    weights_moved=max_difference(start, [w.numpy() for w in single.weights]),
                    logs=logs)

    def straddle_kl_floor(model, hps, train_set):
        """z = mu to float32 precision (sigma = exp(-30)), spread-out means,
        and a KL floor between the two replicas' KL costs, below the whole
        batch's: one device trains the KL of all 8 sketches."""
        model.presig_layer.bias.assign(np.full(hps.z_size, -60.0, np.float32))
        kernel = model.mu_layer.kernel
        kernel.assign(np.random.default_rng(SEED).normal(size=kernel.shape).astype(np.float32))
        batch = next(iter(training.batch_dataset(train_set, SEED, 0, 1)))
        strokes, seq_len = batch['strokes'][:, 1:], batch['seq_len']
        halves = []
        for part in (slice(0, 4), slice(4, 8)):
            mu, presig = model.encode(strokes[part], seq_len[part])
            kl = -0.5 * tf.reduce_mean(1.0 + presig - tf.square(mu) - tf.exp(presig))
            halves.append(float(kl))
        hps.kl_tolerance = min(halves) + 0.25 * abs(halves[0] - halves[1])
        hps.kl_weight_start = 1.0  # the weight of the first step's KL cost
        result['kl_halves'], result['kl_tolerance'] = halves, hps.kl_tolerance

    result = {}
    # SGD sees the gradients' scale (Adam's steps barely do); its clipping
    # by value is active at 0.05 (Magenta clips at 1.0).
    hps, train_set, valid_set = setup(DETERMINISTIC, grad_clip=0.05)
    result['sgd_clipped'] = run(hps, train_set, valid_set, lambda: keras.optimizers.SGD(
        0.5, clipvalue=hps.grad_clip))
    hps, train_set, valid_set = setup(HPARAMS + ',use_recurrent_dropout=False')
    result['sgd_kl_floor'] = run(hps, train_set, valid_set, lambda: keras.optimizers.SGD(
        0.5, clipvalue=hps.grad_clip), prepare=straddle_kl_floor)
    hps, train_set, valid_set = setup(DETERMINISTIC)
    result['adam_3_steps'] = run(hps, train_set, valid_set, lambda: S.make_optimizer(hps), steps=3)
    hps, train_set, _ = setup(HPARAMS)
    result['replica_noise'] = [replica_noise(mirrored, hps, train_set) for _ in range(2)]
    with open(out_path, 'w') as f:
        json.dump(result, f, indent=2)


def skipped_step(out_path, data_dir):
    """Mirrored steps on a good batch, on one where only the second
    replica's half overflows, and on the good batch again: whether each was
    skipped, the step after it, and whether the bad one changed any weight
    or Adam state."""
    mirrored = two_cpu_devices()
    import numpy as np
    import tensorflow as tf
    import seq2seqVAE as S
    import utils
    from sketchgen import trainer as training
    hps = S.get_default_hparams().parse(HPARAMS)
    hps.data_set = ['b.npz']
    train_set, _, _, hps = utils.load_dataset(data_dir, hps, seed=SEED)
    with mirrored.scope():
        model = S.Seq2seqModel(hps, seed=SEED)
        model.compile(optimizer=S.make_optimizer(hps))
        model.optimizer.build(model.trainable_variables)
    good = next(iter(training.batch_dataset(train_set, SEED, 0, 1)))
    strokes = good['strokes'].numpy()
    strokes[-1, 1:, 0] = 1e30  # the last sketch: on the second replica
    bad = dict(good, strokes=tf.constant(strokes))

    def state():
        return [v.numpy().copy() for v in model.trainable_variables + model.optimizer.variables]

    result = []
    for batch in (good, bad, good):
        before = state()
        data = tf.data.Dataset.from_tensors(batch)
        logs = model.fit(data, verbose=0).history
        result.append(dict(skipped=logs['skipped'][-1], step=int(model.optimizer.iterations.numpy()),
                           unchanged=all(np.array_equal(a, b) for a, b in zip(before, state()))))
    with open(out_path, 'w') as f:
        json.dump(result, f)


def replica_noise(strategy, hps, train_set):
    """Each replica's training costs on the same sketches (recurrent dropout
    and sampled z on) and its eps, from a model built with SEED."""
    import keras
    import tensorflow as tf
    import seq2seqVAE as S
    from sketchgen import trainer as training
    keras.utils.set_random_seed(SEED)
    with strategy.scope():
        model = S.Seq2seqModel(hps, seed=SEED)
    batch = next(iter(training.batch_dataset(train_set, SEED, 0, 1)))
    x, seq_len = batch['strokes'][:4], batch['seq_len'][:4]
    zeros = tf.zeros([2, hps.z_size])
    r_cost = strategy.run(tf.function(lambda: model.compute_costs(x, seq_len, training=True)[0]))
    eps = strategy.run(tf.function(lambda: model.sample_z(zeros, zeros)))
    return dict(r_cost=[float(v) for v in strategy.experimental_local_results(r_cost)],
                eps=[v.numpy().tolist() for v in strategy.experimental_local_results(eps)])


def train_commands(commands, mirrored_on_two_cpus=False):
    """seq2seqVAE_train.main(argv) for each (weights_path, argv) in turn, each
    followed by its trainer's final weights saved to weights_path."""
    strategy = two_cpu_devices() if mirrored_on_two_cpus else None
    import seq2seqVAE_train as T
    from sketchgen import distribute, trainer as training
    if strategy is not None:  # a CPU-only MirroredStrategy() takes one device
        make_strategy = distribute.make_strategy
        distribute.make_strategy = lambda name: strategy if name == 'mirrored' else make_strategy(name)
    trainers = []

    class Trainer(training.Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            trainers.append(self)

    training.Trainer = Trainer
    for weights_path, argv in commands:
        assert T.main(argv) == 0
        model = trainers[-1].model
        np.savez(weights_path, replicas=model.distribute_strategy.num_replicas_in_sync,
                 **{f'{i:03d}': w.numpy() for i, w in enumerate(model.weights)})


# ---------------------------------------------------------------------------
# Helpers of the tests
def subprocess_env(**more):
    return python_env(CUDA_VISIBLE_DEVICES='', **more)


def run_script(*args, env=None, cwd=ROOT):
    result = subprocess.run([sys.executable, os.path.abspath(__file__), *map(str, args)],
                            cwd=cwd, env=env or subprocess_env(), capture_output=True,
                            text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def load_weights(path):
    with np.load(path) as data:
        return int(data['replicas']), [data[k] for k in sorted(data.files) if k != 'replicas']


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(('127.0.0.1', 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.slow
# ---------------------------------------------------------------------------
# Tests
def test_mirrored_step_equals_single_device_step(data_dir, tmp_path):
    run_script('steps', tmp_path / 'steps.json', data_dir)
    with open(tmp_path / 'steps.json') as f:
        result = json.load(f)
    print(json.dumps(result, indent=2))
    for case in ('sgd_clipped', 'sgd_kl_floor', 'adam_3_steps'):
        measured = result[case]
        assert measured['replicas'] == 2, case
        # A step that moves the weights a lot lands where one device's does.
        assert measured['weights_moved'] > 1e-3, case
        assert measured['weight_difference'] < 1e-5, case
        # The logged costs are the whole batch's.
        for name in ('cost', 'r_cost', 'kl_cost'):
            single, mirrored = measured['logs']['single'][name], measured['logs']['mirrored'][name]
            assert mirrored == pytest.approx(single, rel=1e-6, abs=1e-6), (case, name)
        # Evaluating the mirrored model gives the costs of its weights.
        for name in ('cost', 'r_cost', 'kl_cost'):
            single, mirrored = (measured['evaluation'][model][name]
                                for model in ('single', 'mirrored'))
            assert mirrored == pytest.approx(single, rel=1e-6, abs=1e-6), (case, name)
    # The KL floor sat between the replicas' KL costs, under the batch's.
    low, high = sorted(result['kl_halves'])
    assert low < result['kl_tolerance'] < (low + high) / 2
    # Replicas fed the same sketches draw their own dropout masks and eps,
    # and the same seed draws the same numbers again.
    first, again = result['replica_noise']
    assert first == again
    assert first['r_cost'][0] != first['r_cost'][1]
    assert np.abs(np.subtract(*first['eps'])).min() > 0


def run_workers(tmp_path, name, argv, scratch):
    """The training command on a chief and a worker on loopback (TF_CONFIG);
    each saves its final weights to <name>-<task>.npz.  -> {task: output}."""
    chief_port, worker_port = free_ports(2)
    cluster = dict(chief=[f'127.0.0.1:{chief_port}'], worker=[f'127.0.0.1:{worker_port}'])
    processes, outputs = {}, {}
    try:
        for task in ('chief', 'worker'):
            tf_config = json.dumps(dict(cluster=cluster, task=dict(type=task, index=0)))
            with open(tmp_path / f'{name}-{task}.out', 'w') as out:
                processes[task] = subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), 'train',
                     tmp_path / f'{name}-{task}.npz', *map(str, argv),
                     '--strategy', 'multi_worker'],
                    cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                    env=subprocess_env(TF_CONFIG=tf_config, TMPDIR=str(scratch)))
        for process in processes.values():
            process.wait(timeout=TIMEOUT)
    finally:
        for process in processes.values():
            process.kill()
    for task, process in processes.items():
        outputs[task] = (tmp_path / f'{name}-{task}.out').read_text()
        assert process.returncode == 0, f'{name} {task}:\n' + outputs[task][-5000:]
    return outputs


def validations(text):
    return re.findall(r'^step (\d+): valid cost (\S+) \(r (\S+), kl (\S+)\)', text, re.M)


@pytest.mark.slow
def test_mirrored_step_skips_a_batch_that_overflows_on_one_replica(data_dir, tmp_path):
    run_script('skip', tmp_path / 'skip.json', data_dir)
    with open(tmp_path / 'skip.json') as f:
        good, bad, again = json.load(f)
    assert (good['skipped'], good['step'], good['unchanged']) == (0, 1, False)
    assert (bad['skipped'], bad['step'], bad['unchanged']) == (1, 1, True)
    assert (again['skipped'], again['step'], again['unchanged']) == (0, 2, False)


@pytest.mark.slow
def test_multi_worker_trains_and_resumes_through_the_command(data_dir, tmp_path):
    """A chief and a worker on loopback train one epoch, then resume for a
    second; the same two epochs on one device."""
    from experiment_files import latest_checkpoint
    experiments, scratch = tmp_path / 'experiments', tmp_path / 'tmp'
    scratch.mkdir()
    exp_dir = experiments / 'b' / 'exp'
    first = run_workers(tmp_path, 'first', train_args(data_dir, experiments, DETERMINISTIC,
                                                      '--epochs', 1), scratch)
    assert latest_checkpoint(exp_dir).endswith(f'ckpt-{BATCHES}')
    resumed = run_workers(tmp_path, 'resumed', ['--resume', str(exp_dir), '--epochs', 2], scratch)
    single_run = run_script('train', tmp_path / 'single.npz', *train_args(
        data_dir, tmp_path / 'single', DETERMINISTIC, '--epochs', 2))

    replicas, chief = load_weights(tmp_path / 'resumed-chief.npz')
    _, worker = load_weights(tmp_path / 'resumed-worker.npz')
    _, single = load_weights(tmp_path / 'single.npz')
    assert replicas == 2
    for task, output in resumed.items():  # both started from the chief's checkpoint
        assert f'Resumed {exp_dir} at step {BATCHES}' in output, task
    for a, b in zip(chief, worker):  # all-reduced updates: the same on both
        np.testing.assert_array_equal(a, b)
    # Each worker trained on its own half of each global batch.
    difference = max_difference(chief, single)
    print(f'multi-worker vs one device after {2 * BATCHES} Adam steps: {difference:.3g}')
    assert difference < 1e-5

    # The chief wrote the experiment and its checkpoints; the worker wrote
    # nothing there, and its scratch folder (its checkpoints and log) is gone.
    assert os.listdir(experiments) == ['b'] and os.listdir(experiments / 'b') == ['exp']
    assert sorted(os.listdir(exp_dir)) == ['checkpoints', 'logs', 'tensorboard']
    assert latest_checkpoint(exp_dir).endswith(f'ckpt-{2 * BATCHES}')
    assert os.path.exists(exp_dir / 'checkpoints' / 'best.weights.h5')
    import seq2seqVAE as S
    saved = S.load_model(str(exp_dir), checkpoint='latest')
    for a, b in zip(saved.weights, chief):
        np.testing.assert_array_equal(a.numpy(), b)
    with open(exp_dir / 'logs' / 'flags.json') as f:
        flags = json.load(f)
    assert (flags['strategy'], flags['end_step']) == ('multi_worker', 2 * BATCHES)
    log = (exp_dir / 'logs' / 'log.txt').read_text()
    assert log.count('Experiment ') == 2 and f'Done at step {2 * BATCHES};' in log
    assert re.search(r'^Experiment \S+sketchgen_worker_', first['worker'], re.M)
    assert os.listdir(scratch) == []
    # Every worker validated its copy of the weights (evaluate_costs outside
    # fit), finding what one device found.
    assert len(validations(log)) == 2
    assert validations(log) == validations(first['worker'] + resumed['worker'])
    assert validations(log) == validations(single_run.stdout)


@pytest.mark.slow
def test_resume_under_mirrored(data_dir, tmp_path):
    """Two epochs in one go, and one epoch then resumed, on two replicas
    (with dropout and sampled z: each run draws the same numbers)."""
    from experiment_files import checkpoint_values, latest_checkpoint
    experiments = tmp_path / 'experiments'
    args = train_args(data_dir, experiments, HPARAMS, '--strategy', 'mirrored')
    commands = [(tmp_path / 'base.npz', args + ['--epochs', '2']),
                (tmp_path / 'first.npz', args + ['--epochs', '1']),
                (tmp_path / 'resumed.npz', ['--resume', str(experiments / 'b' / 'exp_0'),
                                            '--epochs', '2', '--strategy', 'mirrored'])]
    with open(tmp_path / 'commands.json', 'w') as f:
        json.dump([(str(path), argv) for path, argv in commands], f)
    result = run_script('train-mirrored', tmp_path / 'commands.json')
    assert f'Resumed {experiments / "b" / "exp_0"} at step {BATCHES}' in result.stdout
    assert result.stdout.count(f'Done at step {2 * BATCHES};') == 2
    replicas, base = load_weights(tmp_path / 'base.npz')
    assert replicas == 2
    assert max_difference(base, load_weights(tmp_path / 'resumed.npz')[1]) < 1e-6
    ours = checkpoint_values(latest_checkpoint(experiments / 'b' / 'exp_0'))
    reference = checkpoint_values(latest_checkpoint(experiments / 'b' / 'exp'))
    assert set(ours) == set(reference) and len(ours) > 20
    for name, value in reference.items():
        np.testing.assert_allclose(ours[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def fails_with(argv, capsys):
    import seq2seqVAE_train as T
    code = T.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith('error: ') and err.count('\n') == 1, err
    return err


def test_the_multi_worker_adapter_still_matches_keras():
    """seq2seqVAE_train.fit_across_workers replaces a private method that
    Keras' fit calls (keras-team/keras#20329): when Keras renames it or stops
    calling it, this fails and the adapter must be revisited."""
    import inspect
    import keras
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer
    assert callable(getattr(keras.Model, '_maybe_symbolic_build', None))
    assert '_maybe_symbolic_build' in inspect.getsource(TensorFlowTrainer.fit)


def test_multi_worker_needs_the_same_seed_everywhere(data_dir, tmp_path, capsys):
    argv = train_args(data_dir, tmp_path, HPARAMS, '--strategy', 'multi_worker')
    seedless = argv[:argv.index('--seed')] + argv[argv.index('--seed') + 2:]
    assert '--strategy multi_worker needs --seed' in fails_with(seedless, capsys)
    assert not os.path.exists(tmp_path / 'b')


def test_global_batch_must_divide_among_replicas(data_dir, tmp_path, capsys, monkeypatch):
    import types
    from sketchgen import distribute
    monkeypatch.setattr(distribute, 'make_strategy',
                        lambda name: types.SimpleNamespace(num_replicas_in_sync=3))
    err = fails_with(train_args(data_dir, tmp_path, HPARAMS, '--strategy', 'mirrored'), capsys)
    assert 'batch_size 8 is the global batch: it must divide among the 3 replicas' in err
    assert not os.path.exists(tmp_path / 'b')


if __name__ == '__main__':
    mode, out, *rest = sys.argv[1:]
    if mode == 'steps':
        compare_steps(out, rest[0])
    elif mode == 'skip':
        skipped_step(out, rest[0])
    elif mode == 'train':  # python tests/test_distribute.py train WEIGHTS.npz ARGV...
        train_commands([(out, rest)])
    else:  # train-mirrored COMMANDS.json: [[weights_path, argv], ...]
        with open(out) as f:
            train_commands(json.load(f), mirrored_on_two_cpus=True)
