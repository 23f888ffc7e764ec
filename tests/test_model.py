"""Model pieces on small random configurations (no ../shared needed)."""
import ast
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import keras
import tensorflow as tf

import seq2seqVAE as S
import sketchgen.model
import utils
from tiny import tiny_hps


small_hps = functools.partial(tiny_hps, dec_rnn_size=12, batch_size=6, max_seq_len=15)


def random_batch(hps, rng, lengths=None):
    """A stroke-5 batch [B, max_seq_len + 1, 5] with the start token."""
    lengths = lengths if lengths is not None else rng.integers(3, hps.max_seq_len + 1, hps.batch_size)
    x = np.zeros((hps.batch_size, hps.max_seq_len + 1, 5), np.float32)
    x[:, 0, 2] = 1
    for i, n in enumerate(lengths):
        x[i, 1:n + 1, :2] = rng.normal(size=(n, 2))
        pen_up = rng.random(n) < 0.2
        x[i, 1:n + 1, 2], x[i, 1:n + 1, 3] = ~pen_up, pen_up
        x[i, n + 1:, 4] = 1
    return x, np.asarray(lengths, np.int32)


def test_defaults_are_magentas():
    hps = S.get_default_hparams()
    assert (hps.enc_rnn_size, hps.dec_rnn_size, hps.z_size, hps.num_mixture) == (256, 512, 128, 20)
    assert (hps.kl_weight, hps.kl_weight_start, hps.kl_tolerance) == (0.5, 0.01, 0.2)
    assert (hps.learning_rate, hps.decay_rate, hps.min_learning_rate) == (0.001, 0.9999, 0.00001)
    assert hps.recurrent_dropout_prob == 0.9 and hps.use_recurrent_dropout is True
    assert hps.data_set == ['aaron_sheep.npz'] and hps.conditional is True


def test_hparams_parse_and_json_round_trip():
    hps = S.get_default_hparams().parse('dec_model=hyper,z_size=32,kl_weight=1,'
                                        'use_input_dropout=true,data_set=[a.npz;b.npz]')
    assert (hps.dec_model, hps.z_size, hps.kl_weight) == ('hyper', 32, 1.0)
    assert hps.use_input_dropout is True and hps.data_set == ['a.npz', 'b.npz']
    again = S.get_default_hparams().parse_json(hps.to_json())
    assert again.values() == hps.values()


@pytest.mark.parametrize('text, message', [('not_a_name=1', "unknown hyper-parameter 'not_a_name'"),
                                           ('z_size=abc', "'z_size'"),
                                           ('conditional=maybe', "'conditional'"),
                                           ('z_size', 'name=value'),
                                           ('z_size=1.5', "'z_size': cannot use '1.5'"),
                                           ('batch_size=true', "'batch_size'"),
                                           ('dec_model=gru', "unknown cell 'gru'")])
def test_hparams_parse_errors(text, message):
    with pytest.raises(ValueError, match=message):
        S.get_default_hparams().parse(text)


@pytest.mark.parametrize('kind', S.CELL_TYPES)
def test_cell_shapes_and_flat_state_layout(kind):
    cell = S.make_cell(kind, 6, name='cell')
    cell.build(7)
    batch, steps = 3, 5
    flat = tf.random.normal([batch, cell.state_size])
    state = cell.state_from_flat(flat)
    outputs, final = S.run_rnn(cell, tf.random.normal([batch, steps, 7]), state)
    assert outputs.shape == (batch, steps, 6)
    assert all(s.shape[0] == batch for s in final)
    np.testing.assert_allclose(outputs[:, -1], cell.output(final), atol=1e-6)
    # Magenta's flat layouts: lstm [c, h]; layer_norm [h, c]; hyper [h, h_hyper, c, c_hyper]
    h = cell.output(state)
    first_half_is_h = kind != 'lstm'
    np.testing.assert_array_equal(h, flat[:, :6] if first_half_is_h else flat[:, 6:12])


@pytest.mark.parametrize('kind', S.CELL_TYPES)
def test_padding_does_not_change_z(kind):
    """A sketch encodes to the same z whatever the padding after it."""
    rng = np.random.default_rng(0)
    short = small_hps(enc_model=kind, max_seq_len=10, batch_size=2)
    long_ = small_hps(enc_model=kind, max_seq_len=30, batch_size=2)
    model = S.Seq2seqModel(short)
    x, lengths = random_batch(short, rng, lengths=[4, 10])
    x_long = np.zeros((2, 31, 5), np.float32)
    x_long[:, :11] = x
    x_long[:, 11:, 4] = 1
    # garbage in the padding must not reach z either
    x_long[0, 6:, :2] = 50.0
    mu_short, _ = model.encode(x[:, 1:], lengths)
    model.hps = long_
    mu_long, _ = model.encode(x_long[:, 1:], lengths)
    np.testing.assert_allclose(mu_short, mu_long, atol=1e-6)


def test_backward_encoder_starts_at_last_real_point():
    """The backward direction alone (mu reads only its half): it equals the
    cell run over just the real points, last point first, so padding never
    enters it."""
    hps = small_hps(batch_size=1, max_seq_len=8)
    model = S.Seq2seqModel(hps)
    kernel = model.mu_layer.kernel.numpy()
    kernel[:hps.enc_rnn_size] = 0.0  # the forward direction's half
    model.mu_layer.kernel.assign(kernel)
    x, lengths = random_batch(hps, np.random.default_rng(1), lengths=[5])
    x[0, 6:, :2] = 9.0  # padding that would show if it were read
    mu, _ = model.encode(x[:, 1:], lengths)
    real_points_reversed = tf.constant(x[:, 5:0:-1])
    _, (_, h) = S.run_rnn(model.enc_bw, real_points_reversed, model.enc_bw.zero_state(1))
    expected = h @ kernel[hps.enc_rnn_size:] + model.mu_layer.bias
    np.testing.assert_allclose(mu, expected, atol=1e-6)


def test_decoder_only_model_has_no_encoder_and_zero_kl():
    hps = small_hps(conditional=False)
    model = S.Seq2seqModel(hps)
    assert not hasattr(model, 'enc_fw')
    assert model.decoder.W_xh.shape[0] == 5  # input is the stroke only, no z
    x, lengths = random_batch(hps, np.random.default_rng(2))
    r_cost, kl_cost = model.compute_costs(x, lengths)
    assert float(kl_cost) == 0.0 and np.isfinite(float(r_cost))


def test_evaluation_costs_each_batch_on_its_own(monkeypatch):
    """evaluate_costs runs several batches per call, yet floors KL per batch,
    as Magenta's evaluate_model does batch by batch: with the tolerance
    between the batches' own KLs, flooring them together would differ."""
    hps = small_hps(batch_size=3, max_seq_len=40)
    model = S.Seq2seqModel(hps, seed=4)
    rng = np.random.default_rng(5)
    for layer in (model.mu_layer, model.presig_layer):  # KL of order 1, not ~1e-6 as at init
        layer.kernel.assign(rng.normal(scale=0.5, size=layer.kernel.shape))
    sketches = []
    for scale in (0.1, 1.0, 3.0, 10.0, 30.0):  # batches apart in KL (longer sketches last)
        for _ in range(3):
            length = 4 + 2 * len(sketches)
            sketch = np.zeros((length, 3), np.float32)
            sketch[:, :2] = rng.normal(size=(length, 2)) * scale
            sketch[:, 2] = rng.random(length) < 0.2
            sketches.append(sketch)
    loader = utils.DataLoader(sketches, batch_size=3, max_seq_length=hps.max_seq_len)
    assert loader.num_batches == 5
    model.hps.kl_tolerance = 0.0
    r_costs, kl_raw = np.transpose([
        [float(c) for c in model.compute_costs(x, seq_len, use_mean_z=True)]
        for _, x, seq_len in map(loader.get_batch, range(loader.num_batches))])
    # The first call's two batches straddle the tolerance, their mean above it.
    low, high = sorted(kl_raw[:2])
    assert high - low > 1e-3
    model.hps.kl_tolerance = low + 0.25 * (high - low)
    monkeypatch.setattr(sketchgen.model, 'EVAL_SKETCHES', 6)  # calls of 2, 2 and 1 batches
    costs = S.evaluate_costs(model, loader, use_mean_z=True)
    np.testing.assert_allclose(costs['r_cost'], r_costs.mean(), rtol=1e-6)
    np.testing.assert_allclose(costs['kl_cost'],
                               np.maximum(kl_raw, model.hps.kl_tolerance).mean(), rtol=1e-6)


def test_dropout_only_when_training():
    hps = small_hps(use_input_dropout=True, use_output_dropout=True)
    model = S.Seq2seqModel(hps, seed=3)
    x, lengths = random_batch(hps, np.random.default_rng(3))
    inputs = dict(strokes=x, seq_len=lengths)
    eval_a = model(inputs, use_mean_z=True)[0]['mu1']
    eval_b = model(inputs, use_mean_z=True)[0]['mu1']
    train_a = model(inputs, training=True, use_mean_z=True)[0]['mu1']
    np.testing.assert_array_equal(eval_a, eval_b)
    assert np.abs(np.asarray(eval_a) - np.asarray(train_a)).max() > 1e-6


def test_projection_kernels_are_independent_draws_with_magentas_stddev():
    """mu, presig and the initial state's kernels each draw their own
    N(0, 0.001^2) values (Magenta's super_linear init_w=0.001)."""
    model = S.Seq2seqModel(small_hps(enc_rnn_size=32, z_size=64))
    kernels = [layer.kernel.numpy().ravel()
               for layer in (model.mu_layer, model.presig_layer, model.initial_state_layer)]
    for kernel in kernels:
        assert 0.0009 < kernel.std() < 0.0011 and abs(kernel.mean()) < 1e-4
    size = min(len(k) for k in kernels)
    for i, j in ((0, 1), (0, 2), (1, 2)):
        assert abs(np.corrcoef(kernels[i][:size], kernels[j][:size])[0, 1]) < 0.1, (i, j)


def test_is_training_false_masks_the_pen_loss_as_magenta():
    hps = small_hps()
    x, lengths = random_batch(hps, np.random.default_rng(5))
    model = S.Seq2seqModel(hps, seed=1)
    masked = model.compute_costs(x, lengths, use_mean_z=True, mask_pen_loss=True)[0]
    hps_eval = small_hps(is_training=False)
    eval_model = S.Seq2seqModel(hps_eval, seed=1)
    for target, value in zip(eval_model.weights, model.weights):
        target.assign(value)
    r_cost = eval_model.compute_costs(x, lengths, use_mean_z=True)[0]
    assert float(r_cost) == pytest.approx(float(masked), abs=1e-7)
    assert float(r_cost) < float(model.compute_costs(x, lengths, use_mean_z=True)[0])


@pytest.mark.parametrize('kind', S.CELL_TYPES)
def test_dropout_wrappers_at_keep_one_give_the_undropped_gradients(kind):
    """Every dropout wrapper on at keep probability 1.0 takes each wrapper's
    path (input dropout feeds z through every step's input) and must give
    the same costs and gradients, dL/dz included, as no dropout (float64)."""
    keep_one = dict(use_input_dropout=True, input_dropout_prob=1.0,
                    use_output_dropout=True, output_dropout_prob=1.0,
                    use_recurrent_dropout=True, recurrent_dropout_prob=1.0)
    off = dict(use_input_dropout=False, use_output_dropout=False, use_recurrent_dropout=False)
    x, lengths = random_batch(small_hps(), np.random.default_rng(7))
    z = tf.constant(np.random.default_rng(8).normal(size=(6, 4)), tf.float64)
    results = []
    for settings in (keep_one, off):
        keras.utils.set_random_seed(4)
        model = S.Seq2seqModel(small_hps(dec_model=kind, enc_model=kind, **settings),
                               dtype='float64')
        with tf.GradientTape() as tape:
            tape.watch(z)
            output, _ = model.decode(tf.constant(x[:, :-1], tf.float64), z, training=True)
            loss = tf.reduce_sum(tf.sin(output))
        results.append([loss] + tape.gradient(loss, [z] + model.decoder.trainable_variables))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_pen_loss_masking_only_lowers_the_cost():
    hps = small_hps()
    model = S.Seq2seqModel(hps)
    x, lengths = random_batch(hps, np.random.default_rng(4))
    unmasked, _ = model.compute_costs(x, lengths, use_mean_z=True)
    masked, _ = model.compute_costs(x, lengths, use_mean_z=True, mask_pen_loss=True)
    assert float(masked) < float(unmasked)


def test_schedules_follow_magentas_formulas():
    hps = S.get_default_hparams()
    schedule = S.LearningRateSchedule(hps.learning_rate, hps.decay_rate, hps.min_learning_rate)
    for step in (0, 1, 1000, 50000):
        lr = (hps.learning_rate - hps.min_learning_rate) * hps.decay_rate ** step + hps.min_learning_rate
        klw = hps.kl_weight - (hps.kl_weight - hps.kl_weight_start) * hps.kl_decay_rate ** step
        assert float(schedule(step)) == pytest.approx(lr, rel=1e-5)
        assert float(S.kl_weight_at(hps, step)) == pytest.approx(klw, rel=1e-5)


@pytest.mark.parametrize('kind', S.CELL_TYPES)
@pytest.mark.slow
def test_small_model_learns(kind):
    """30 Adam steps on one fixed batch bring the cost well down."""
    keras.utils.set_random_seed(5)
    hps = small_hps(dec_model=kind, enc_model=kind, learning_rate=0.01)
    model = S.Seq2seqModel(hps, seed=5)
    model.compile(optimizer=S.make_optimizer(hps))
    x, lengths = random_batch(hps, np.random.default_rng(5))
    data = dict(strokes=x, seq_len=lengths)
    costs = [model.train_on_batch(data, return_dict=True)['cost'] for _ in range(30)]
    assert costs[-1] < 0.8 * costs[0], costs


def test_experiment_weights_round_trip(tmp_path):
    hps = small_hps()
    model = S.Seq2seqModel(hps)
    paths = S.experiment_paths(str(tmp_path))
    (tmp_path / 'logs').mkdir()
    (tmp_path / 'checkpoints').mkdir()
    S.write_model_config(paths['config'], hps, normalizing_scale_factor=2.5)
    model.save_weights(paths['best'])
    config = json.loads(open(paths['config']).read())
    assert config['normalizing_scale_factor'] == 2.5 and config['max_seq_len'] == 15
    loaded = S.load_model(str(tmp_path))
    for a, b in zip(model.trainable_variables, loaded.trainable_variables):
        np.testing.assert_array_equal(a, b)


def test_missing_magenta_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        S.load_magenta_checkpoint(str(tmp_path))


@pytest.mark.parametrize('jit_compile', [False, True], ids=['graph', 'XLA'])
@pytest.mark.parametrize('masked', [False, True], ids=['no dropout', 'recurrent dropout'])
@pytest.mark.parametrize('shared_by', ['sketch', 'batch'])
def test_fused_lstm_matches_autodiff_of_the_cell(masked, shared_by, jit_compile):
    """lstm_sequence's hand-written backward pass equals autodiff through
    LSTMCell.step (the same cell run by the generic scan), float64, for every
    input: the per-step inputs too (z tiled into them under input dropout).
    The shared input part is per sketch (bias + z) or one for the batch
    (bias); the loops run as TensorFlow graphs or compiled by XLA."""
    rng = np.random.default_rng(6)
    batch, steps, units, features = 3, 7, 5, 4
    cell = S.LSTMCell(units, dtype='float64')
    cell.build(features)
    const = lambda a: tf.constant(a, tf.float64)  # noqa: E731
    seq = const(rng.normal(size=(batch, steps, features)))
    shared = const(rng.normal(size=(batch if shared_by == 'sketch' else 1, 4 * units)))
    c0, h0 = const(rng.normal(size=(batch, units))), const(np.tanh(rng.normal(size=(batch, units))))
    masks = const((rng.uniform(size=(batch, steps, units)) < 0.9) / 0.9) if masked else None
    weights = [const(rng.normal(size=shape)) for shape in ((batch, steps, units), (batch, units))]
    W_x, W_hh = cell.W_xh.value, cell.W_hh.value

    def losses_and_grads(run):
        with tf.GradientTape() as tape:
            tape.watch([seq, shared, W_x, W_hh, c0, h0])
            hidden, c_T, h_T = run()
            loss = (tf.reduce_sum(hidden * weights[0]) + tf.reduce_sum(c_T * weights[1])
                    + tf.reduce_sum(h_T))
        return [hidden, c_T] + tape.gradient(loss, [seq, shared, W_x, W_hh, c0, h0])

    def scanned():
        projected = tf.einsum('btf,fg->btg', seq, W_x) + shared[:, None]
        elems = (tf.transpose(projected, [1, 0, 2]),) + (
            (tf.transpose(masks, [1, 0, 2]),) if masked else ())
        cs, hs = tf.scan(lambda prev, x: cell.step(x[0], prev, x[1] if masked else None),
                         elems, initializer=(c0, h0))
        return tf.transpose(hs, [1, 0, 2]), cs[-1], hs[-1]

    def fused():
        feature_major = lambda a: tf.transpose(a, [1, 2, 0])  # noqa: E731
        hidden, c_T, h_T = S.lstm_sequence(feature_major(seq), tf.transpose(shared), W_x, W_hh,
                                           c0, h0, feature_major(masks) if masked else None,
                                           jit_compile=jit_compile)
        return tf.transpose(hidden, [2, 0, 1]), c_T, h_T

    for ours, theirs in zip(losses_and_grads(fused), losses_and_grads(scanned)):
        np.testing.assert_allclose(ours, theirs, atol=1e-12)


@pytest.mark.parametrize('kind', S.CELL_TYPES)
@pytest.mark.slow
def test_bfloat16_policy_runs_in_bfloat16_with_float32_weights_and_losses(kind):
    """dtype='mixed_bfloat16': the same weights give nearly the same costs (bf16
    keeps 8 bits of mantissa), yet not bit-identical ones; weights, gradients,
    z and the losses stay float32, and 30 steps bring the cost down as in float32."""
    keras.utils.set_random_seed(8)  # the unseeded initialisers, whatever ran before
    hps = small_hps(dec_model=kind, enc_model=kind, learning_rate=0.01)
    fp32 = S.Seq2seqModel(hps, seed=8)
    bf16 = S.Seq2seqModel(hps, seed=8, dtype='mixed_bfloat16')
    bf16.set_weights(fp32.get_weights())
    x, lengths = random_batch(hps, np.random.default_rng(8))
    ours = bf16.compute_costs(x, lengths, use_mean_z=True)
    reference = fp32.compute_costs(x, lengths, use_mean_z=True)
    assert [c.dtype for c in ours] == [tf.float32, tf.float32]
    np.testing.assert_allclose(ours, reference, rtol=0.03)
    assert not np.array_equal(ours, reference)
    assert {v.dtype for v in bf16.weights} == {'float32'}

    data = dict(strokes=x, seq_len=lengths)
    trajectories = []  # seed=8: both draw the same dropout masks and z noise
    for model in (fp32, bf16):
        model.compile(optimizer=S.make_optimizer(hps))
        trajectories.append([float(model.train_on_batch(data, return_dict=True)['cost'])
                             for _ in range(30)])
    float32_costs, bfloat16_costs = trajectories
    assert np.all(np.isfinite(bfloat16_costs)), bfloat16_costs
    assert bfloat16_costs[-1] < 0.85 * bfloat16_costs[0], bfloat16_costs
    # Where 30 bf16 steps end is partly chance: the hyper model's kernel,
    # whose first-step bf16 gradients are as close to float32 as the scanned
    # cell's, ended 2% off float32 with seed 9 and 6-10% off with this seed.
    np.testing.assert_allclose(bfloat16_costs[-1], float32_costs[-1], rtol=0.15)


@pytest.mark.parametrize('user_value', [None, '0'])
@pytest.mark.slow
def test_importing_sets_tensorflow_settings_unless_the_user_did(user_value):
    """seq2seqVAE sets TF_CPU_SETTINGS before TensorFlow starts (TensorFlow
    then logs that oneDNN is on); a value the user set wins."""
    env = {k: v for k, v in os.environ.items() if k not in S.TF_CPU_SETTINGS}
    env['TF_CPP_MIN_LOG_LEVEL'] = '0'
    if user_value is not None:
        env['TF_ENABLE_ONEDNN_OPTS'] = user_value
    code = 'import os, seq2seqVAE as S; print(os.environ["TF_ENABLE_ONEDNN_OPTS"])'
    run = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.abspath(S.__file__)), check=True)
    assert run.stdout.split()[-1] == (user_value or S.TF_CPU_SETTINGS['TF_ENABLE_ONEDNN_OPTS'])
    assert ('oneDNN custom operations are on' in run.stderr) == (user_value is None)


def _top_level_imports(path):
    """Module names a file imports at its top level, in order."""
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names += [f'{node.module}.{alias.name}' for alias in node.names] + [node.module]
    return names


def _starts_tensorflow(module):
    return module.split('.')[0] in ('tensorflow', 'keras', 'tensorboard')


def test_every_module_sets_tensorflow_options_before_importing_it():
    """Whichever module a user imports first, TF_CPU_SETTINGS are in the
    environment before TensorFlow starts: every module that imports
    TensorFlow imports sketchgen.tf_settings (or seq2seqVAE) before it, and
    the package's __init__ imports nothing."""
    root = Path(S.__file__).resolve().parent
    checked = 0
    for path in [root / 'seq2seqVAE.py', *sorted((root / 'sketchgen').glob('*.py'))]:
        names = _top_level_imports(path)
        if path.name == '__init__.py':
            assert names == [], path
        elif any(_starts_tensorflow(name) for name in names):
            before = names[:[_starts_tensorflow(name) for name in names].index(True)]
            assert {'sketchgen.tf_settings', 'seq2seqVAE'} & set(before), path
            checked += 1
    assert checked >= 8


def test_eps_fixes_the_reparameterisation_noise():
    """compute_costs(eps=...) is z = mu + sigma * eps: zero eps is the
    posterior mean, the same eps the same costs, a train step with an `eps`
    in its batch uses it."""
    hps = small_hps(use_recurrent_dropout=False)
    model = S.Seq2seqModel(hps, seed=3)
    x, seq_len = random_batch(hps, np.random.default_rng(0))
    eps = np.random.default_rng(1).standard_normal((hps.batch_size, hps.z_size)).astype(np.float32)
    at_mean = model.compute_costs(x, seq_len, use_mean_z=True)
    np.testing.assert_allclose(model.compute_costs(x, seq_len, eps=tf.zeros_like(eps)), at_mean)
    fixed = model.compute_costs(x, seq_len, eps=eps)
    np.testing.assert_allclose(model.compute_costs(x, seq_len, eps=eps), fixed)
    assert float(fixed[0]) != pytest.approx(float(at_mean[0]), abs=1e-6)
    model.compile(optimizer=S.make_optimizer(hps))
    logs = model.train_step(dict(strokes=x, seq_len=seq_len, eps=eps))
    assert float(logs['r_cost']) == pytest.approx(float(fixed[0]), abs=1e-6)
