"""Whole-sequence kernels, with hand-written backward passes, for the
layer-norm and hyper LSTM cells (sketchgen.cells' LayerNormLSTMCell and
HyperLSTMCell), as sketchgen.lstm_kernel is for the plain LSTM: autodiff
through a scan of the cell's step runs dozens of small ops a step and
accumulates every weight gradient every step.

Layout as lstm_sequence: time-major and feature-major ([T, features, B]),
gate order i, j, f, o.  The forward loop saves the activations the backward
loop reads; the backward loop saves the pre-activation gradients, and the
weight gradients are contractions over all steps afterwards.
"""
import collections
import typing

from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import tensorflow as tf

from sketchgen.kernel_loops import (at_step, kept_activations, mask_at, sequence_kernel,
                                    shared_gradient, stacked, step_arrays, take, time_array,
                                    write_step, zeros_if_none)
from sketchgen.lstm_kernel import POINT_SIZE

EPSILON = 1e-3  # Magenta's layer-norm epsilon

# A layer-norm cell's norms in the kernels' layout: gates' gamma and beta
# [4, U, 1] (beta with the forget bias added), the cell's gamma_c, beta_c [U, 1].
Norms = collections.namedtuple('Norms', 'gamma beta gamma_c beta_c')


class HyperWeights(typing.NamedTuple):
    """A HyperLSTM cell's weights, as the hyper kernel takes them."""
    W_x: tf.Tensor          # the main cell: the rows of W_xh that read seq
    W_hh: tf.Tensor
    bias: tf.Tensor
    gamma: tf.Tensor
    beta: tf.Tensor
    gamma_c: tf.Tensor
    beta_c: tf.Tensor
    hyper_W_x: tf.Tensor    # the hyper cell reads [x, h] and its own h
    hyper_W_h: tf.Tensor
    hyper_W_hh: tf.Tensor
    hyper_gamma: tf.Tensor
    hyper_beta: tf.Tensor
    hyper_gamma_c: tf.Tensor
    hyper_beta_c: tf.Tensor
    zw_w: tf.Tensor         # the embeddings of the scales and shifts
    zw_b: tf.Tensor
    alpha_w: tf.Tensor
    zb_w: tf.Tensor
    beta_w: tf.Tensor


class HyperState(typing.NamedTuple):
    c: tf.Tensor
    h: tf.Tensor
    hyper_c: tf.Tensor
    hyper_h: tf.Tensor


class NormSaved(typing.NamedTuple):
    """What _update keeps for _update_grad: the gates' normalised
    pre-activations and 1/std, the gates, c_{t-1}, the new c normalised,
    its 1/std, and tanh of its layer norm."""
    n: tf.Tensor
    rstd: tf.Tensor
    i: tf.Tensor
    g: tf.Tensor
    f: tf.Tensor
    o: tf.Tensor
    c: tf.Tensor
    nc: tf.Tensor
    rstd_c: tf.Tensor
    tc: tf.Tensor


class NormSums(typing.NamedTuple):
    """The gradients of a layer norm's weights, summed over the batch (and steps)."""
    gamma: tf.Tensor    # [4, U]
    beta: tf.Tensor     # [4, U]
    gamma_c: tf.Tensor  # [U]
    beta_c: tf.Tensor   # [U]


class LayerNormSaved(typing.NamedTuple):
    """What the layer-norm forward loop keeps of each step."""
    update: NormSaved
    hx: tf.Tensor  # the matmul's input [h_{t-1}; x_t]


# --------------------------------------------------------------------------
# One cell update (LayerNormLSTMCell.step after its matmul) and its gradient.
# --------------------------------------------------------------------------
def _normalize(x):
    """Layer norm of x [K, U, B] over U, without gain and shift -> (n, 1/std)."""
    centred = x - tf.reduce_mean(x, 1, keepdims=True)
    rstd = tf.math.rsqrt(tf.reduce_mean(tf.square(centred), 1, keepdims=True) + EPSILON)
    return centred * rstd, rstd


def _normalize_grad(dn, n, rstd):
    return rstd * (dn - tf.reduce_mean(dn, 1, keepdims=True)
                   - n * tf.reduce_mean(dn * n, 1, keepdims=True))


def layer_norms(units, forget_bias, gamma, beta, gamma_c, beta_c):
    shift = tf.constant([0.0, 0.0, forget_bias, 0.0], beta.dtype)[:, None, None]
    return Norms(tf.reshape(gamma, [4, units, 1]), tf.reshape(beta, [4, units, 1]) + shift,
                 gamma_c[:, None], beta_c[:, None])


def _update(a, c, keep_mask, norms):
    """Gate pre-activations a [4, U, B] and c [U, B] -> (c', h', saved):
    layer norm on each gate, dropout on the candidate, layer norm on c'."""
    n, rstd = _normalize(a)
    i, j, f, o = tf.unstack(n * norms.gamma + norms.beta)
    i, g, f, o = tf.sigmoid(i), tf.tanh(j), tf.sigmoid(f), tf.sigmoid(o)
    new_c = c * f + i * (g if keep_mask is None else g * keep_mask)
    nc, rstd_c = _normalize(new_c[None])
    tc = tf.tanh(nc[0] * norms.gamma_c + norms.beta_c)
    return new_c, tc * o, NormSaved(n, rstd, i, g, f, o, c, nc, rstd_c, tc)


def _update_grad(saved, dh, dc, keep_mask, norms):
    """_update backwards: (dh', dc') -> (da [4, U, B], dc, the norms'
    gradients summed over the batch, NormSums)."""
    n, rstd, i, g, f, o, c, nc, rstd_c, tc = saved
    d_lc = tf.raw_ops.TanhGrad(y=tc, dy=dh * o)
    dc += _normalize_grad((d_lc * norms.gamma_c)[None], nc, rstd_c)[0]
    dcm = dc if keep_mask is None else dc * keep_mask
    d_gates = tf.stack([tf.raw_ops.SigmoidGrad(y=i, dy=dcm * g),
                        tf.raw_ops.TanhGrad(y=g, dy=dcm * i),
                        tf.raw_ops.SigmoidGrad(y=f, dy=dc * c),
                        tf.raw_ops.SigmoidGrad(y=o, dy=dh * tc)])
    da = _normalize_grad(d_gates * norms.gamma, n, rstd)
    sums = NormSums(*(tf.reduce_sum(x, -1) for x in (d_gates * n, d_gates, d_lc * nc[0], d_lc)))
    return da, dc * f, sums


def _norm_grads(sums):
    """NormSums -> the gradients of (gamma [4U], beta [4U], gamma_c, beta_c)."""
    return tuple(tf.reshape(s, [-1]) for s in sums)


# --------------------------------------------------------------------------
# Loop plumbing.
# --------------------------------------------------------------------------
def _sum_dtype(dtype):
    """Sums over all steps are kept in float32 under a 16-bit compute dtype."""
    return tf.float32 if dtype in (tf.bfloat16, tf.float16) else dtype


def _zeros(shape, dtype):
    """A sum's start, in the sums' dtype."""
    return tf.zeros(shape, _sum_dtype(dtype))


def _add(totals, parts):
    return tf.nest.map_structure(lambda a, b: a + tf.cast(b, a.dtype), totals, parts)


def _cast(tensors, dtype):
    return tf.nest.map_structure(lambda t: tf.cast(t, dtype), tensors)


def _zero_norm_sums(units, dtype):
    return NormSums(_zeros([4, units], dtype), _zeros([4, units], dtype), _zeros([units], dtype),
                    _zeros([units], dtype))


def _rows(x, sizes):
    """Splits x [sum(sizes), B] by rows; reshaped to 1-D first, so that
    aligned pieces share x's buffer rather than being copied."""
    flat, batch, start, pieces = tf.reshape(x, [-1]), tf.shape(x)[1], 0, []
    for size in sizes:
        pieces.append(tf.reshape(flat[start * batch:(start + size) * batch], [size, batch]))
        start += size
    return pieces


def _sum_shared(d_projected, shared):
    """The gradient of shared [G, B or 1] from d_projected [T, G, B]."""
    return shared_gradient(tf.reduce_sum(d_projected, 0), shared)


# --------------------------------------------------------------------------
# Layer-norm LSTM.
# --------------------------------------------------------------------------
def layer_norm_sequence(seq, shared, W_x, W_hh, norms, c0, h0, keep_masks=None, forget_bias=1.0,
                        jit_compile=False, keep_activations=True):
    """LayerNormLSTMCell.step over a whole sequence; a step is one matmul of
    [W_hh; W_x]^T with [h_{t-1}; x_t].

    seq [T, F, B]: per-step inputs; shared [4H, B or 1]: the input projection
    common to all steps (static inputs, zeros if none); norms: (gamma, beta
    [4H], gamma_c, beta_c [H]); keep_masks [T, H, B] or None; c0, h0 [B, H];
    jit_compile, keep_activations as lstm_sequence's.
    Returns (H [T, H, B], c_T [B, H], h_T [B, H])."""
    masks = [] if keep_masks is None else [keep_masks]
    args = [seq, shared, W_x, W_hh, *norms, c0, h0, *masks]
    kernel = sequence_kernel(_layer_norm_body, _layer_norm_forward, _layer_norm_backward,
                             float(forget_bias), bool(masks), bool(jit_compile),
                             bool(keep_activations))
    return kernel(*map(tf.convert_to_tensor, args))


def layer_norm_step(W_T, norms, hx, shared, c, keep_mask):
    """[h_{t-1}; x_t] [H + F, B] -> (c_t, h_t, saved for _update_grad)."""
    a = tf.matmul(W_T, hx) + shared
    return _update(tf.reshape(a, [4, norms.gamma_c.shape[0], -1]), c, keep_mask, norms)


def _layer_norm_forward(seq, shared, W_T, norms, c, h, masks, keep):
    """-> (H [T, H, B], c_T, h_T [H, B], saved: if keep, each step's
    LayerNormSaved, stacked; else ())."""
    steps = tf.shape(seq)[0]

    def step(t, c, h, hidden, saved):
        hx = tf.concat([h, seq[t]], 0)
        c, h, update = layer_norm_step(W_T, norms, hx, shared, c, mask_at(masks, t))
        return t + 1, c, h, hidden.write(t, h), write_step(saved, t, LayerNormSaved(update, hx))

    _, c, h, hidden, saved = tf.while_loop(
        lambda t, *_: t < steps, step,
        (0, c, h, time_array(seq.dtype, steps), step_arrays(LayerNormSaved, seq.dtype, steps, keep)))
    return hidden.stack(), c, h, stacked(saved)


def _layer_norm_backward(saved, W_hh, norms, dH, dc, dh, masks):
    """-> (the pre-activations' gradients [T, 4H, B], dc_0, dh_0 [H, B], the
    norms' gradients summed over steps and batch)."""
    steps, units = tf.shape(dH)[0], W_hh.shape[0]

    def back(k, dc, dh, sums, d_gates):
        t = steps - 1 - k
        da, dc, step_sums = _update_grad(at_step(saved.update, t), dh + dH[t], dc,
                                         mask_at(masks, t), norms)
        da = tf.reshape(da, [4 * units, -1])
        return k + 1, dc, tf.matmul(W_hh, da), _add(sums, step_sums), d_gates.write(t, da)

    sums = _zero_norm_sums(units, dH.dtype)
    _, dc, dh, sums, d_gates = tf.while_loop(
        lambda k, *_: k < steps, back, (0, dc, dh, sums, time_array(dH.dtype, steps)))
    return d_gates.stack(), dc, dh, _norm_grads(_cast(sums, dH.dtype))


def _layer_norm_body(loops, args, forget_bias, keep_activations):
    """The layer-norm kernel (see sequence_kernel): args (seq, shared, W_x,
    W_hh, gamma, beta, gamma_c, beta_c, c0, h0, *masks)."""
    forward, backward = loops
    seq, shared, W_x, W_hh, gamma, beta, gamma_c, beta_c, c0, h0, *masks = args
    units = W_hh.shape[0]
    W_T = tf.transpose(tf.concat([W_hh, W_x], 0))  # [4H, H + F]
    norms = layer_norms(units, forget_bias, gamma, beta, gamma_c, beta_c)
    inputs = (seq, shared, W_T, norms, tf.transpose(c0), tf.transpose(h0), masks)
    hidden, c_T, h_T, saved = forward(*inputs, keep_activations)

    def grad(dH, dc_T, dh_T):
        kept = kept_activations(forward, inputs, saved)
        dA, dc0, dh0, norm_grads = backward(
            kept, W_hh, norms, zeros_if_none(dH, hidden),
            tf.transpose(zeros_if_none(dc_T, c0)), tf.transpose(zeros_if_none(dh_T, h0)), masks)
        dW_T = tf.einsum('tgb,tkb->gk', dA, kept.hx)  # [4H, H + F]
        return ((tf.einsum('fg,tgb->tfb', W_x, dA), _sum_shared(dA, shared),
                 tf.transpose(dW_T[:, units:]), tf.transpose(dW_T[:, :units]))
                + norm_grads + (tf.transpose(dc0), tf.transpose(dh0)) + (None,) * len(masks))

    return (hidden, tf.transpose(c_T), tf.transpose(h_T)), grad


# --------------------------------------------------------------------------
# HyperLSTM.
# --------------------------------------------------------------------------
def hyper_sequence(seq, shared, weights, state, keep_masks=None, forget_bias=1.0,
                   jit_compile=False, keep_activations=True):
    """HyperLSTMCell.step over a whole sequence.

    A step is three matmuls: h_{t-1} through [W_hh, hyper_W_h] (the main
    cell's recurrent part and the hyper cell's read of h); the new hyper h
    through [zw_w, zb_w, hyper_W_hh] (the scale and shift embeddings, and the
    hyper cell's recurrent part for the next step); one batched matmul of the
    12 embeddings into scales and shifts.  The inputs of all steps are
    projected before the loop: the main cell's projection is scaled every
    step, so it cannot join the recurrent matmul.

    seq [T, F, B]; shared [4H + 4Hh, B or 1]: the input projections common
    to all steps, main then hyper (static inputs, zeros if none); weights:
    HyperWeights (W_x, hyper_W_x: the rows of seq's features; hyper_W_h: the
    rows of h in the hyper cell's W_xh); state (c, h, hyper_c, hyper_h)
    [B, *]; keep_masks [T, H, B] or None; jit_compile, keep_activations as
    lstm_sequence's.
    Returns (H [T, H, B], final state as `state`)."""
    masks = [] if keep_masks is None else [keep_masks]
    args = [seq, shared, *weights, *state, *masks]
    kernel = sequence_kernel(_hyper_body, _hyper_forward, _hyper_backward, float(forget_bias),
                             bool(masks), bool(jit_compile), bool(keep_activations))
    outputs = kernel(*map(tf.convert_to_tensor, args))
    return outputs[0], tuple(outputs[1:])


class HyperStepSaved(typing.NamedTuple):
    """What hyper_step keeps for _hyper_step_grad."""
    main: NormSaved
    hyper: NormSaved
    z: tf.Tensor        # the 12 embeddings [12, E, B]
    alpha_x: tf.Tensor  # the scales of the input and recurrent projections
    alpha_h: tf.Tensor
    m: tf.Tensor        # the main cell's recurrent projection [4, H, B]


class HyperSaved(typing.NamedTuple):
    """What the hyper forward loop keeps of each step."""
    step: HyperStepSaved
    h_prev: tf.Tensor   # h_{t-1}, read by both cells' matmul
    hyper_h: tf.Tensor  # the new hyper h, read by the embeddings' matmul


class HyperStepGrads(typing.NamedTuple):
    """A step's gradients of the projections and of both matmuls' outputs."""
    d_x_main: tf.Tensor     # [4H, B]
    d_q: tf.Tensor          # [4Hh, B]: d of x_hyper, and of the previous step's r
    d_h_out: tf.Tensor      # [4H + 4Hh, B]: d of h's matmul
    d_hyper_out: tf.Tensor  # [12E + 4Hh, B]: d of the hyper h's matmul


class HyperSums(typing.NamedTuple):
    """The hyper kernel's weight gradients that are sums over steps and batch."""
    main: NormSums
    hyper: NormSums
    bias: tf.Tensor    # [4, H]
    scales: tf.Tensor  # [12, E, H]


Fused = collections.namedtuple('Fused', [
    'h_W', 'h_W_T',  # [H, 4H + 4Hh]: both reads of h
    'hyper_h_W', 'hyper_h_W_T',  # [Hh, 12E + 4Hh]: embeddings, hyper recurrence
    'scales_w', 'emb_bias', 'bias', 'norms', 'hyper_norms'])


def fuse_hyper_weights(w, forget_bias):
    units, hyper_units = w.W_hh.shape[0], w.hyper_W_hh.shape[0]
    emb = w.zw_b.shape[0] // 8
    h_W = tf.concat([w.W_hh, w.hyper_W_h], 1)
    hyper_h_W = tf.concat([w.zw_w, w.zb_w, w.hyper_W_hh], 1)
    return Fused(
        h_W, tf.transpose(h_W), hyper_h_W, tf.transpose(hyper_h_W),
        tf.concat([w.alpha_w, w.beta_w], 0),  # [12, E, H]
        tf.reshape(tf.concat([w.zw_b, tf.zeros([4 * emb], w.zw_b.dtype)], 0), [12, emb, 1]),
        tf.reshape(w.bias, [4, units, 1]),
        layer_norms(units, forget_bias, w.gamma, w.beta, w.gamma_c, w.beta_c),
        layer_norms(hyper_units, forget_bias, w.hyper_gamma, w.hyper_beta,
               w.hyper_gamma_c, w.hyper_beta_c))


def hyper_step(fused, x_main, x_hyper, state, r, keep_mask):
    """One step from the inputs' projections x_main [4, H, B], x_hyper
    [4Hh, B] and r [4Hh, B], the hyper cell's recurrent part ->
    (state, the next step's r, saved for _hyper_step_grad)."""
    c, h, hyper_c, hyper_h = state
    units, emb = fused.bias.shape[1], fused.emb_bias.shape[1]
    m, q = _rows(tf.matmul(fused.h_W_T, h), [4 * units, fused.h_W.shape[1] - 4 * units])
    hyper_c, hyper_h, hyper_saved = _update(tf.reshape(q + r + x_hyper, [4, -1, tf.shape(h)[1]]),
                                            hyper_c, None, fused.hyper_norms)
    z, r = _rows(tf.matmul(fused.hyper_h_W_T, hyper_h), [12 * emb, q.shape[0]])
    z = tf.reshape(z, [12, emb, -1]) + fused.emb_bias
    alpha_x, alpha_h, shift = tf.split(tf.matmul(fused.scales_w, z, transpose_a=True), 3)
    m = tf.reshape(m, [4, units, -1])
    a = alpha_x * x_main + alpha_h * m + shift + fused.bias
    c, h, saved = _update(a, c, keep_mask, fused.norms)
    return (c, h, hyper_c, hyper_h), r, HyperStepSaved(saved, hyper_saved, z, alpha_x, alpha_h, m)


def _hyper_step_grad(fused, saved, x_main, d_state, dr, keep_mask):
    """hyper_step backwards: d_state (dc, dh, d_hyper_c, d_hyper_h) of the
    step's new state, dr of its r -> (d_state of the step's state,
    HyperStepGrads, HyperSums of the step)."""
    main_saved, hyper_saved, z, alpha_x, alpha_h, m = saved
    dc, dh, d_hyper_c, d_hyper_h = d_state
    # Shapes from the loop's own tensors: what is read back from arrays has none.
    units, emb, batch = fused.bias.shape[1], fused.emb_bias.shape[1], tf.shape(dr)[1]
    da, dc, main_sums = _update_grad(main_saved, dh, dc, keep_mask, fused.norms)
    d_scales = tf.concat([da * x_main, da * m, da], 0)  # [12, H, B]
    d_z = tf.matmul(fused.scales_w, d_scales)  # [12, E, B]
    d_hyper_out = tf.concat([tf.reshape(d_z, [12 * emb, batch]), dr], 0)
    d_hyper_h += tf.matmul(fused.hyper_h_W, d_hyper_out)
    d_q, d_hyper_c, hyper_sums = _update_grad(hyper_saved, d_hyper_h, d_hyper_c, None,
                                              fused.hyper_norms)
    d_q = tf.reshape(d_q, tf.shape(dr))
    d_h_out = tf.concat([tf.reshape(da * alpha_h, [4 * units, batch]), d_q], 0)
    d_state = (dc, tf.matmul(fused.h_W, d_h_out), d_hyper_c, tf.zeros_like(d_hyper_h))
    sums = HyperSums(main_sums, hyper_sums, tf.reduce_sum(da, -1),
                     tf.matmul(z, d_scales, transpose_b=True))
    grads = HyperStepGrads(tf.reshape(da * alpha_x, [4 * units, batch]), d_q, d_h_out, d_hyper_out)
    return d_state, grads, sums


def _hyper_forward(fused, x_main, x_hyper, state, r, masks, keep):
    """-> (H [T, H, B], the final state, saved: if keep, each step's
    HyperSaved, stacked; else ())."""
    steps = tf.shape(x_main)[0]

    def step(t, state, r, hidden, saved):
        new, r, values = hyper_step(fused, x_main[t], x_hyper[t], state, r, mask_at(masks, t))
        return (t + 1, new, r, hidden.write(t, new[1]),
                write_step(saved, t, HyperSaved(values, state[1], new[3])))

    _, state, _, hidden, saved = tf.while_loop(
        lambda t, *_: t < steps, step,
        (0, state, r, time_array(x_main.dtype, steps),
         step_arrays(HyperSaved, x_main.dtype, steps, keep)))
    return hidden.stack(), state, stacked(saved)


def _hyper_backward(fused, saved, x_main, dH, d_state, masks):
    """-> (the HyperStepGrads of every step, stacked [T, *, B], d_state of
    the initial state, dr of the first step's r, HyperSums over steps and batch)."""
    steps = tf.shape(dH)[0]
    units, hyper_units = fused.bias.shape[1], fused.hyper_norms.gamma_c.shape[0]

    def back(k, d_state, dr, sums, d_arrays):
        t = steps - 1 - k
        d_state = (d_state[0], d_state[1] + dH[t]) + d_state[2:]
        d_state, d_out, step_sums = _hyper_step_grad(fused, at_step(saved.step, t), x_main[t],
                                                     d_state, dr, mask_at(masks, t))
        return k + 1, d_state, d_out.d_q, _add(sums, step_sums), write_step(d_arrays, t, d_out)

    sums = HyperSums(_zero_norm_sums(units, dH.dtype), _zero_norm_sums(hyper_units, dH.dtype),
                     _zeros([4, units], dH.dtype),
                     _zeros([12, fused.emb_bias.shape[1], units], dH.dtype))
    _, d_state, dr, sums, d_arrays = tf.while_loop(
        lambda k, *_: k < steps, back,
        (0, d_state, tf.zeros([4 * hyper_units, tf.shape(dH)[2]], dH.dtype), sums,
         step_arrays(HyperStepGrads, dH.dtype, steps, True)))
    return stacked(d_arrays), d_state, dr, _cast(sums, dH.dtype)


def _hyper_body(loops, args, forget_bias, keep_activations):
    """The hyper kernel (see sequence_kernel): args (seq, shared,
    *HyperWeights, *HyperState, *masks)."""
    forward, backward = loops
    seq, shared, *rest = args
    w, rest = take(HyperWeights, rest)
    state0, masks = take(HyperState, rest)
    steps, units = tf.shape(seq)[0], w.W_hh.shape[0]
    fused = fuse_hyper_weights(w, forget_bias)
    x_main = tf.reshape(tf.einsum('fg,tfb->tgb', w.W_x, seq) + shared[:4 * units],
                        [steps, 4, units, -1])
    x_hyper = tf.einsum('fg,tfb->tgb', w.hyper_W_x, seq) + shared[4 * units:]
    state = tuple(tf.transpose(s) for s in state0)
    r = tf.matmul(w.hyper_W_hh, state[3], transpose_a=True)
    inputs = (fused, x_main, x_hyper, state, r, masks)
    hidden, final, saved = forward(*inputs, keep_activations)

    def grad(dH, *d_final):
        kept = kept_activations(forward, inputs, saved)
        d_state = tuple(tf.transpose(zeros_if_none(d, s)) for s, d in zip(state0, d_final))
        d_steps, d_state, dr, sums = backward(fused, kept, x_main, zeros_if_none(dH, hidden),
                                              d_state, masks)
        grads = _hyper_weight_grads(w, seq, shared, state[3], dr, sums, d_steps, kept.h_prev,
                                    kept.hyper_h)
        d_state = d_state[:3] + (d_state[3] + tf.matmul(w.hyper_W_hh, dr),)
        return grads + tuple(tf.transpose(d) for d in d_state) + (None,) * len(masks)

    return (hidden,) + tuple(tf.transpose(s) for s in final), grad


def _hyper_weight_grads(w, seq, shared, hyper_h0, dr, sums, d_steps, h_prev, hyper_h):
    """Gradients of (seq, shared, *weights): contractions over all steps of
    the per-step gradients d_steps (HyperStepGrads [T, *, B]) with what the
    matmuls read (seq, h_prev, hyper_h [T, *, B])."""
    d_x_main, d_q, d_h_out, d_hyper_out = d_steps
    units, emb = w.W_hh.shape[0], w.zw_b.shape[0] // 8
    d_seq = (tf.einsum('fg,tgb->tfb', w.W_x, d_x_main)
             + tf.einsum('fg,tgb->tfb', w.hyper_W_x, d_q))
    d_shared = shared_gradient(
        tf.concat([tf.reduce_sum(d_x_main, 0), tf.reduce_sum(d_q, 0)], 0), shared)
    d_W_hh, d_hyper_W_h = tf.split(tf.einsum('tkb,tgb->kg', h_prev, d_h_out), [4 * units, -1], 1)
    d_zw_w, d_zb_w, d_hyper_W_hh = tf.split(tf.einsum('tkb,tgb->kg', hyper_h, d_hyper_out),
                                            [8 * emb, 4 * emb, -1], 1)
    d_hyper_W_hh += tf.matmul(hyper_h0, dr, transpose_b=True)  # the first step's r
    d_alpha_w, d_beta_w = tf.split(sums.scales, [8, 4])
    return (d_seq, d_shared) + tuple(HyperWeights(
        tf.einsum('tfb,tgb->fg', seq, d_x_main), d_W_hh, tf.reshape(sums.bias, [-1]),
        *_norm_grads(sums.main),
        tf.einsum('tfb,tgb->fg', seq, d_q), d_hyper_W_h, d_hyper_W_hh, *_norm_grads(sums.hyper),
        d_zw_w, tf.reduce_sum(d_hyper_out[:, :8 * emb], [0, 2]), d_alpha_w, d_zb_w, d_beta_w))


# --------------------------------------------------------------------------
# The samplers' step.
# --------------------------------------------------------------------------
def layer_norm_steps(cell, initial_state):
    """LayerNormLSTMCell.decode_steps: the kernel's forward step,
    feature-major.  initial_state(z, num) -> (c, h)."""
    def prepare(z, num):
        shared = tf.transpose(cell.project_static(z, num))
        W_T = tf.transpose(tf.concat([cell.W_hh, cell.W_xh[:POINT_SIZE]], 0))
        norms = layer_norms(cell.units, cell.forget_bias, cell.ln_all_gamma, cell.ln_all_beta,
                       cell.ln_c_gamma, cell.ln_c_beta)
        return tuple(tf.transpose(s) for s in initial_state(z, num)), shared, (W_T, norms)

    def advance(point, state, shared, weights):
        c, h = state
        c, h, _ = layer_norm_step(*weights, tf.concat([h, tf.transpose(point)], 0), shared,
                                   c, None)
        return (c, h), tf.transpose(h)
    return prepare, advance, 1


def hyper_steps(cell, initial_state):
    """HyperLSTMCell.decode_steps: the kernel's forward step, feature-major,
    its state (c, h, hyper_c, hyper_h, r).  initial_state(z, num) -> (c, h,
    hyper_c, hyper_h)."""
    units = cell.units

    def prepare(z, num):
        weights = cell.kernel_weights(POINT_SIZE)
        shared = tf.transpose(cell.project_static(z, num))
        W_x_T = tf.transpose(tf.concat([weights.W_x, weights.hyper_W_x], 1))  # [4H + 4Hh, 5]
        state = tuple(tf.transpose(s) for s in initial_state(z, num))
        r = tf.matmul(weights.hyper_W_hh, state[3], transpose_a=True)
        return state + (r,), shared, (fuse_hyper_weights(weights, cell.forget_bias), W_x_T)

    def advance(point, state, shared, weights):
        fused, W_x_T = weights
        x_main, x_hyper = _rows(tf.matmul(W_x_T, tf.transpose(point)) + shared,
                                [4 * units, 4 * cell.hyper_units])
        state, r, _ = hyper_step(fused, tf.reshape(x_main, [4, units, -1]), x_hyper,
                                  state[:4], state[4], None)
        return state + (r,), tf.transpose(state[1])
    return prepare, advance, 1
