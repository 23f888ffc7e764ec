"""The layer-norm and hyper cells' whole-sequence kernels (sketchgen.norm_kernels)
against autodiff through the cells' own `step` under tf.scan, in float64."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import seq2seqVAE as S
from sketchgen import model as model_module
from sketchgen.cells import scan_rnn
from test_model import random_batch, small_hps

KERNEL_CELLS = ('layer_norm', 'hyper')


def randomize(weights, rng):
    """Random weights: the initial ones are zeros or ones in places (hyper
    scales, layer-norm gains), which would hide a wrong gradient."""
    for weight in weights:
        weight.assign(rng.normal(scale=0.5, size=weight.shape))


# The decoder's cases also with XLA-compiled loops, as the model trains them.
@pytest.mark.parametrize('inputs, masked, jit_compile', [
    pytest.param('static z', True, False, id='decoder'),
    pytest.param('static z', True, True, id='decoder, XLA'),
    pytest.param('z in every step', False, False, id='decoder, input dropout'),
    pytest.param('z in every step', False, True, id='decoder, input dropout, XLA'),
    pytest.param('no z', True, False, id='encoder, recurrent dropout'),
    pytest.param('no z', False, False, id='encoder')])
@pytest.mark.parametrize('kind', KERNEL_CELLS)
def test_kernel_matches_autodiff_of_the_cell(kind, inputs, masked, jit_compile):
    """Outputs, final state and the gradients of every input (per-step
    inputs, static inputs, initial state, hyper state included, every
    weight) equal autodiff through the cell's step, with and without
    recurrent dropout, with the loops run as TensorFlow graphs or compiled
    by XLA.  'static z': a decoder's z, projected once; 'z in every step':
    input dropout tiles z into the per-step inputs; 'no z': an encoder."""
    rng = np.random.default_rng(11)
    batch, steps, point, z_size, units = 3, 5, 4, 2, 6
    cell = (S.LayerNormLSTMCell(units, dtype='float64') if kind == 'layer_norm' else
            S.HyperLSTMCell(units, hyper_units=4, hyper_embedding_size=3, dtype='float64'))
    seq_dim = point + (z_size if inputs == 'z in every step' else 0)
    cell.build(point + (0 if inputs == 'no z' else z_size))
    randomize(cell.weights, rng)
    const = lambda shape: tf.constant(rng.normal(size=shape), tf.float64)  # noqa: E731
    seq = const((batch, steps, seq_dim))
    static = const((batch, z_size)) if inputs == 'static z' else None
    state = cell.state_from_flat(tf.tanh(const((batch, cell.state_size))))
    masks = tf.constant((rng.uniform(size=(steps, units, batch)) < 0.8) / 0.8) if masked else None
    loss_weights = [const((batch, steps, units))] + [const(s.shape) for s in state]
    watched = [seq, *state] + ([static] if static is not None else [])

    def outputs_and_grads(run):
        with tf.GradientTape() as tape:
            tape.watch(watched)
            hidden, final = run(cell, seq, state, static, masks, jit_compile=jit_compile)
            loss = sum(tf.reduce_sum(t * w) for t, w in zip((hidden,) + final, loss_weights))
        return [hidden, *final] + tape.gradient(loss, watched + cell.trainable_variables)

    ours, theirs = outputs_and_grads(S.run_rnn), outputs_and_grads(scan_rnn)
    assert len(ours) == 1 + len(state) + len(watched) + len(cell.trainable_variables)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


@pytest.mark.slow
def test_model_gradients_match_the_scanned_cells(monkeypatch):
    """A training step's costs and gradients of a whole model with
    layer-norm encoders and a hyper decoder (recurrent dropout, input
    dropout: z in every step's input) equal those with the cells scanned."""
    hps = small_hps(enc_model='layer_norm', dec_model='hyper', use_input_dropout=True,
                    input_dropout_prob=0.8, recurrent_dropout_prob=0.8, max_seq_len=8)
    x, lengths = random_batch(hps, np.random.default_rng(12))
    # One span: each span's shapes are a trace of the kernel.
    monkeypatch.setattr(model_module, 'ENCODER_SEGMENTS', 1)
    results = []
    for run in (S.run_rnn, scan_rnn):
        monkeypatch.setattr(model_module, 'run_rnn', run)
        keras.utils.set_random_seed(12)
        model = S.Seq2seqModel(hps, seed=12, dtype='float64')
        randomize(model.trainable_variables, np.random.default_rng(13))
        with tf.GradientTape() as tape:
            r_cost, kl_cost = model.compute_costs(x, lengths, training=True)
            cost = r_cost + kl_cost
        results.append([r_cost, kl_cost] + tape.gradient(cost, model.trainable_variables))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('kind', S.CELL_TYPES)
def test_a_forward_only_run_still_has_the_gradient(kind):
    """keep_activations=False keeps nothing for the backward pass (the
    model's forward-only passes); a gradient taken anyway runs the forward
    loop again and equals the gradient of a run that kept them."""
    rng = np.random.default_rng(15)
    cell = S.make_cell(kind, 6, 'cell', dtype='float64')
    cell.build(5)
    randomize(cell.weights, rng)
    seq = tf.constant(rng.normal(size=(3, 4, 5)), tf.float64)

    def outputs_and_grads(keep_activations):
        with tf.GradientTape() as tape:
            tape.watch(seq)
            hidden, _ = S.run_rnn(cell, seq, cell.zero_state(3), keep_activations=keep_activations)
            loss = tf.reduce_sum(hidden * hidden)
        return [hidden] + tape.gradient(loss, [seq] + cell.trainable_variables)

    for kept, recomputed in zip(outputs_and_grads(True), outputs_and_grads(False)):
        np.testing.assert_allclose(recomputed, kept, rtol=0, atol=1e-12)


@pytest.mark.parametrize('conditional', [True, False], ids=['conditional', 'decoder-only'])
@pytest.mark.parametrize('kind', S.CELL_TYPES)
def test_sampler_step_matches_the_cell(kind, conditional):
    """The samplers' step (feature-major; the plain LSTM's with its gates
    reordered) fed given points gives the decoder outputs of the cell's own
    step from z's initial state."""
    hps = small_hps(dec_model=kind, conditional=conditional)
    model = S.Seq2seqModel(hps, dtype='float64')
    rng = np.random.default_rng(14)
    randomize(model.trainable_variables, rng)
    num, steps = 3, 4
    points = tf.constant(rng.normal(size=(num, steps, 5)), tf.float64)
    z = tf.constant(rng.normal(size=(num, hps.z_size)), tf.float64) if conditional else None
    prepare, advance, _ = model.decoder.decode_steps(model.initial_state)
    state, shared, weights = prepare(z, num)
    outputs = []
    for t in range(steps):
        state, h = advance(points[:, t], state, shared, weights)
        outputs.append(h)
    expected, _ = scan_rnn(model.decoder, points, model.initial_state(z, num), z)
    np.testing.assert_allclose(tf.stack(outputs, 1), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize('kind', ('lstm',) + KERNEL_CELLS)
@pytest.mark.slow
def test_a_trace_for_any_batch_serves_a_decoder_only_model(kind):
    """A conditional model inside fit traces each kernel for a z projection
    of unknown width [G, None]; a decoder-only model's bias column [G, 1]
    then runs that same trace, and its gradient must still be summed over
    the batch (it was returned per sketch, and the backward pass failed)."""
    rng = np.random.default_rng(5)
    batch, steps, point, z_size, units = 3, 4, 5, 2, 6
    cell = {'lstm': lambda: S.LSTMCell(units, dtype='float64'),
            'layer_norm': lambda: S.LayerNormLSTMCell(units, dtype='float64'),
            'hyper': lambda: S.HyperLSTMCell(units, hyper_units=4, hyper_embedding_size=3,
                                             dtype='float64')}[kind]()
    cell.build(point + z_size)
    randomize(cell.weights, rng)
    seq = tf.constant(rng.normal(size=(batch, steps, point)), tf.float64)

    @tf.function(input_signature=[tf.TensorSpec([None, steps, point], tf.float64),
                                  tf.TensorSpec([None, z_size], tf.float64)])
    def conditional_gradients(seq, z):
        with tf.GradientTape() as tape:
            tape.watch(seq)
            hidden, _ = S.run_rnn(cell, seq, cell.zero_state(tf.shape(seq)[0]), z)
            loss = tf.reduce_sum(hidden)
        return tape.gradient(loss, [seq] + cell.trainable_variables)

    conditional_gradients(seq, tf.constant(rng.normal(size=(batch, z_size)), tf.float64))

    def decoder_only_gradients(run):
        with tf.GradientTape() as tape:
            tape.watch(seq)
            hidden, _ = run(cell, seq, cell.zero_state(batch))
            loss = tf.reduce_sum(hidden)
        return tape.gradient(loss, [seq] + cell.trainable_variables)

    for ours, autodiff in zip(decoder_only_gradients(S.run_rnn), decoder_only_gradients(scan_rnn)):
        np.testing.assert_allclose(ours, autodiff, rtol=0, atol=1e-10)
