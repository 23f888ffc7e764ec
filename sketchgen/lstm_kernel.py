"""The plain LSTM's step (`lstm_step`), its whole-sequence kernel with a
hand-written backward pass (`lstm_sequence`) and the samplers' step.  The
loop plumbing all kernels share is sketchgen.kernel_loops'."""
import typing

from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import tensorflow as tf

from sketchgen.kernel_loops import (at_step, kept_activations, mask_at, sequence_kernel,
                                    shared_gradient, stacked, step_arrays, time_array, write_step,
                                    zeros_if_none)

POINT_SIZE = 5  # the decoder's per-step input: the previous stroke-5 point


class Gates(typing.NamedTuple):
    """An LSTM step's gates after their nonlinearities, and tanh(c_t)."""
    i: tf.Tensor
    g: tf.Tensor
    f: tf.Tensor
    o: tf.Tensor
    tc: tf.Tensor


class Saved(typing.NamedTuple):
    """What the forward loop keeps of each step for the backward loop."""
    gates: Gates
    c_prev: tf.Tensor  # c_{t-1}
    hx: tf.Tensor      # the matmul's input [h_{t-1}; x_t]


def lstm_sequence(seq, shared, W_x, W_hh, c0, h0, keep_masks=None, forget_bias=1.0,
                  jit_compile=False, keep_activations=True):
    """LSTMCell.step over a whole sequence, with a hand-written backward pass.

    Autodiff through a while loop is slow on CPU: many small ops a step and
    a weight gradient accumulated every step.  Here a step is one matmul of
    [W_hh; W_x]^T with [h_{t-1}; x_t], the backward pass one reverse-time loop
    with a single matmul a step, and the weight gradient one contraction over
    all steps afterwards.  Everything inside is time-major and feature-major
    ([T, features, B]): on CPU W^T h^T is faster than h W, a step is a
    contiguous block, and no step needs a transpose.

    seq [T, F, B]: the per-step inputs (data, or z tiled in by input dropout);
    shared [4H, B or 1]: the input projection common to all steps (bias,
    static inputs); gate order i, j, f, o.  keep_masks [T, H, B] or None;
    c0, h0 [B, H].  jit_compile: both loops compiled by XLA, once per shape
    (see kernel_loops.sequence_kernel).  keep_activations: the forward loop
    keeps what the backward loop reads; without (forward-only use), a
    gradient runs the forward loop again to get them.
    Returns (H [T, H, B], c_T [B, H], h_T [B, H]).
    """
    args = [seq, shared, tf.convert_to_tensor(W_x), tf.convert_to_tensor(W_hh), c0, h0]
    if keep_masks is not None:
        args.append(keep_masks)
    kernel = sequence_kernel(_lstm_body, _lstm_forward, _lstm_backward, float(forget_bias),
                             keep_masks is not None, bool(jit_compile), bool(keep_activations))
    return kernel(*args)


def lstm_step(W_T, hx, shared_f, c, keep_mask=None):
    """One LSTM step, feature-major: W_T [4H, H + F] times [h_{t-1}; x_t]
    [H + F, B], plus shared_f [4H, B or 1] (shared inputs, bias and forget
    bias).  Dropout on the candidate only (Semeniuta et al. 2016).
    -> (c_t, h_t, Gates for the backward pass)."""
    gates = tf.matmul(W_T, hx) + shared_f
    # Unstacking [4, H, B] shares the gates' buffer; splitting rows of [4H, B]
    # copies them unless B is a multiple of 16.
    i, j, f, o = tf.unstack(tf.reshape(gates, [4, W_T.shape[0] // 4, -1]))
    i, g, f, o = tf.sigmoid(i), tf.tanh(j), tf.sigmoid(f), tf.sigmoid(o)
    c_new = c * f + i * (g if keep_mask is None else g * keep_mask)
    tc = tf.tanh(c_new)
    return c_new, tc * o, Gates(i, g, f, o, tc)


def forget_bias_vector(units, forget_bias):
    """[4H]: forget_bias on the f gate (order i, j, f, o), zero elsewhere."""
    return tf.concat([tf.zeros([2 * units]), tf.fill([units], forget_bias), tf.zeros([units])], 0)


def _lstm_forward(seq, shared_f, W_T, c, h, masks, keep):
    """The forward loop -> (H [T, H, B], c_T, h_T [H, B], saved: if keep,
    each step's Saved, stacked; else ())."""
    steps = tf.shape(seq)[0]

    def step(t, c, h, hidden, saved):
        hx = tf.concat([h, seq[t]], 0)
        c_new, h_new, gates = lstm_step(W_T, hx, shared_f, c, mask_at(masks, t))
        return (t + 1, c_new, h_new, hidden.write(t, h_new),
                write_step(saved, t, Saved(gates, c, hx)))

    _, c, h, hidden, saved = tf.while_loop(
        lambda t, *_: t < steps, step, (0, c, h, time_array(seq.dtype, steps),
                                        step_arrays(Saved, seq.dtype, steps, keep)))
    return hidden.stack(), c, h, stacked(saved)


def _lstm_backward(saved, W_hh, dH, dc, dh, masks):
    """The reverse-time loop -> (the gates' gradients [T, 4H, B], dc_0, dh_0 [H, B])."""
    steps = tf.shape(dH)[0]

    def back(k, dc, dh, d_gates):
        t = steps - 1 - k
        kept = at_step(saved, t)
        dg, dc = _lstm_step_grad(kept.gates, kept.c_prev, dh + dH[t], dc, mask_at(masks, t))
        return k + 1, dc, tf.matmul(W_hh, dg), d_gates.write(t, dg)

    _, dc, dh, d_gates = tf.while_loop(lambda k, *_: k < steps, back,
                                       (0, dc, dh, time_array(dH.dtype, steps)))
    return d_gates.stack(), dc, dh


def _lstm_body(loops, args, forget_bias, keep_activations):
    """The LSTM kernel (see sequence_kernel): args (seq, shared, W_x, W_hh, c0, h0, *masks)."""
    forward, backward = loops
    seq, shared, W_x, W_hh, c0, h0, *masks = args
    units = W_hh.shape[0]
    W_T = tf.transpose(tf.concat([W_hh, W_x], 0))  # [4H, H + F]
    shared_f = shared + tf.cast(forget_bias_vector(units, forget_bias), shared.dtype)[:, None]
    inputs = (seq, shared_f, W_T, tf.transpose(c0), tf.transpose(h0), masks)
    hidden, c_T, h_T, saved = forward(*inputs, keep_activations)

    def grad(dH, dc_T, dh_T):
        kept = kept_activations(forward, inputs, saved)
        d_gates, dc0, dh0 = backward(
            kept, W_hh, zeros_if_none(dH, hidden), tf.transpose(zeros_if_none(dc_T, c0)),
            tf.transpose(zeros_if_none(dh_T, h0)), masks)
        return (_lstm_input_grads(d_gates, kept.hx, W_x, shared)
                + (tf.transpose(dc0), tf.transpose(dh0)) + (None,) * len(masks))

    return (hidden, tf.transpose(c_T), tf.transpose(h_T)), grad


def _lstm_step_grad(gates, c_prev, dh, dc, keep_mask):
    """lstm_step backwards from its Gates, and (dh_t, dc_t) -> (the gates'
    gradient [4H, B], dc_{t-1})."""
    i, g, f, o, tc = gates
    d_o = tf.raw_ops.SigmoidGrad(y=o, dy=dh * tc)
    dc += tf.raw_ops.TanhGrad(y=tc, dy=dh * o)
    dcm = dc if keep_mask is None else dc * keep_mask
    d_i = tf.raw_ops.SigmoidGrad(y=i, dy=dcm * g)
    d_j = tf.raw_ops.TanhGrad(y=g, dy=dcm * i)
    d_f = tf.raw_ops.SigmoidGrad(y=f, dy=dc * c_prev)
    return tf.concat([d_i, d_j, d_f, d_o], axis=0), dc * f


def _lstm_input_grads(dG, hx, W_x, shared):
    """Gradients of (seq, shared, W_x, W_hh) from the gates' gradients dG
    [T, 4H, B] and the matmul's inputs hx [T, H + F, B]."""
    units = dG.shape[1] // 4
    # [dW_hh; dW_x]^T = sum_t dgates_t [h_{t-1}; x_t]^T: one contraction
    # over all steps rather than an accumulation every step.
    dW_T = tf.einsum('tgb,tkb->gk', dG, hx)
    d_seq = tf.einsum('fg,tgb->tfb', W_x, dG)
    d_shared = shared_gradient(tf.reduce_sum(dG, 0), shared)
    return d_seq, d_shared, tf.transpose(dW_T[:, units:]), tf.transpose(dW_T[:, :units])


def lstm_steps(cell, initial_state):
    """The samplers' step for an LSTMCell decoder (see LSTMCell.decode_steps).

    lstm_step's math with its gate rows reordered i, f, o, j, so one sigmoid
    covers three gates and no row block is copied, and nothing saved: a
    second copy kept for the samplers' speed, which
    tests/test_kernels.py::test_sampler_step_matches_the_cell holds equal."""
    units = cell.units

    def prepare(z, num):
        shared = cell.project_static(z, num)
        shared += tf.cast(forget_bias_vector(units, cell.forget_bias), shared.dtype)
        W_T = tf.transpose(tf.concat([cell.W_hh, cell.W_xh[:POINT_SIZE]], 0))  # [4H, H + 5]
        i, j, f, o = tf.split(tf.concat([W_T, tf.transpose(shared)], 1), 4, axis=0)
        W_T, shared = tf.split(tf.concat([i, f, o, j], 0), [W_T.shape[1], num], axis=1)
        return tuple(tf.transpose(s) for s in initial_state(z, num)), shared, W_T

    def advance(point, state, shared, W_T):
        c, h = state
        gates = tf.matmul(W_T, tf.concat([h, tf.transpose(point)], 0)) + shared
        # Splits of [4, H * N] share its buffer; slicing rows of [4H, N] copies them.
        sigmoid_gates, j = tf.split(tf.reshape(gates, [4, -1]), [3, 1])
        i, f, o = tf.unstack(tf.reshape(tf.sigmoid(sigmoid_gates), [3, units, -1]))
        c = c * f + i * tf.tanh(tf.reshape(j, [units, -1]))
        h = tf.tanh(c) * o
        return (c, h), tf.transpose(h)
    return prepare, advance, 1
