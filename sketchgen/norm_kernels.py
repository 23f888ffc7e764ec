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
import functools

from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import tensorflow as tf

from sketchgen.lstm_kernel import (POINT_SIZE, kept_activations, kernel_loops, mask_at, new_arrays,
                                   shared_gradient, write_all, zeros_if_none)

EPSILON = 1e-3  # Magenta's layer-norm epsilon

# A layer-norm cell's norms in the kernels' layout: gates' gamma and beta
# [4, U, 1] (beta with the forget bias added), the cell's gamma_c, beta_c [U, 1].
Norms = collections.namedtuple('Norms', 'gamma beta gamma_c beta_c')

HyperWeights = collections.namedtuple('HyperWeights', [
    'W_x', 'W_hh', 'bias', 'gamma', 'beta', 'gamma_c', 'beta_c',  # the main cell
    'hyper_W_x', 'hyper_W_h', 'hyper_W_hh',  # the hyper cell reads [x, h] and its own h
    'hyper_gamma', 'hyper_beta', 'hyper_gamma_c', 'hyper_beta_c',
    'zw_w', 'zw_b', 'alpha_w', 'zb_w', 'beta_w'])  # scales and shifts


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
    return new_c, tc * o, (n, rstd, i, g, f, o, c, nc, rstd_c, tc)


def _update_grad(saved, dh, dc, keep_mask, norms):
    """_update backwards: (dh', dc') -> (da [4, U, B], dc, the norms'
    gradients summed over the batch: dgamma, dbeta [4, U], dgamma_c, dbeta_c [U])."""
    n, rstd, i, g, f, o, c, nc, rstd_c, tc = saved
    d_lc = tf.raw_ops.TanhGrad(y=tc, dy=dh * o)
    dc += _normalize_grad((d_lc * norms.gamma_c)[None], nc, rstd_c)[0]
    dcm = dc if keep_mask is None else dc * keep_mask
    d_gates = tf.stack([tf.raw_ops.SigmoidGrad(y=i, dy=dcm * g),
                        tf.raw_ops.TanhGrad(y=g, dy=dcm * i),
                        tf.raw_ops.SigmoidGrad(y=f, dy=dc * c),
                        tf.raw_ops.SigmoidGrad(y=o, dy=dh * tc)])
    da = _normalize_grad(d_gates * norms.gamma, n, rstd)
    sums = tuple(tf.reduce_sum(x, -1) for x in (d_gates * n, d_gates, d_lc * nc[0], d_lc))
    return da, dc * f, sums


def _norm_grads(sums):
    """Summed norm gradients -> gradients of (gamma [4U], beta [4U], gamma_c, beta_c)."""
    return tuple(tf.reshape(s, [-1]) for s in sums)


# --------------------------------------------------------------------------
# Loop plumbing.
# --------------------------------------------------------------------------
def _sum_dtype(dtype):
    """Sums over all steps are kept in float32 under a 16-bit compute dtype."""
    return tf.float32 if dtype in (tf.bfloat16, tf.float16) else dtype


def _zero_sums(shapes, dtype):
    return tuple(tf.zeros(shape, _sum_dtype(dtype)) for shape in shapes)


def _add(totals, parts):
    return tuple(a + tf.cast(b, a.dtype) for a, b in zip(totals, parts))


def _cast(tensors, dtype):
    return tuple(tf.cast(t, dtype) for t in tensors)


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
    kernel = _layer_norm_fn(float(forget_bias), bool(masks), bool(jit_compile),
                            bool(keep_activations))
    return kernel(*map(tf.convert_to_tensor, args))


def layer_norm_step(W_T, norms, hx, shared, c, keep_mask):
    """[h_{t-1}; x_t] [H + F, B] -> (c_t, h_t, saved for _update_grad)."""
    a = tf.matmul(W_T, hx) + shared
    return _update(tf.reshape(a, [4, norms.gamma_c.shape[0], -1]), c, keep_mask, norms)


def _layer_norm_forward(seq, shared, W_T, norms, c, h, masks, keep):
    """-> (H [T, H, B], c_T, h_T [H, B], saved: if keep, _update's values
    and the matmul's input [h_{t-1}; x_t] of every step)."""
    steps = tf.shape(seq)[0]

    def step(t, c, h, hidden, saved):
        hx = tf.concat([h, seq[t]], 0)
        c, h, values = layer_norm_step(W_T, norms, hx, shared, c, mask_at(masks, t))
        return t + 1, c, h, hidden.write(t, h), write_all(saved, t, values + (hx,))

    _, c, h, hidden, saved = tf.while_loop(
        lambda t, *_: t < steps, step,
        (0, c, h, new_arrays(seq.dtype, steps, 1)[0], new_arrays(seq.dtype, steps, 11 if keep else 0)))
    return hidden.stack(), c, h, tuple(a.stack() for a in saved)


def _layer_norm_backward(saved, W_hh, norms, dH, dc, dh, masks):
    """-> (the pre-activations' gradients [T, 4H, B], dc_0, dh_0 [H, B], the
    norms' gradients summed over steps and batch)."""
    steps, units = tf.shape(dH)[0], W_hh.shape[0]

    def back(k, dc, dh, sums, d_gates):
        t = steps - 1 - k
        da, dc, step_sums = _update_grad(tuple(a[t] for a in saved[:10]), dh + dH[t], dc,
                                         mask_at(masks, t), norms)
        da = tf.reshape(da, [4 * units, -1])
        return k + 1, dc, tf.matmul(W_hh, da), _add(sums, step_sums), d_gates.write(t, da)

    sums = _zero_sums([[4, units], [4, units], [units], [units]], dH.dtype)
    _, dc, dh, sums, d_gates = tf.while_loop(
        lambda k, *_: k < steps, back, (0, dc, dh, sums, new_arrays(dH.dtype, steps, 1)[0]))
    return d_gates.stack(), dc, dh, _norm_grads(_cast(sums, dH.dtype))


@functools.cache
def _layer_norm_fn(forget_bias, masked, jit_compile, keep_activations):
    forward, backward = kernel_loops(_layer_norm_forward, _layer_norm_backward, jit_compile)

    @tf.custom_gradient
    def kernel(seq, shared, W_x, W_hh, gamma, beta, gamma_c, beta_c, c0, h0, *masks):
        units = W_hh.shape[0]
        W_T = tf.transpose(tf.concat([W_hh, W_x], 0))  # [4H, H + F]
        norms = layer_norms(units, forget_bias, gamma, beta, gamma_c, beta_c)
        inputs = (seq, shared, W_T, norms, tf.transpose(c0), tf.transpose(h0), masks)
        hidden, c_T, h_T, saved = forward(*inputs, keep_activations)

        def grad(dH, dc_T, dh_T):
            kept = kept_activations(forward, inputs, saved)
            dA, dc0, dh0, norm_grads = backward(
                kept, W_hh, norms, zeros_if_none(dH, hidden),
                tf.transpose(zeros_if_none(dc_T, c0)), tf.transpose(zeros_if_none(dh_T, h0)),
                masks)
            dW_T = tf.einsum('tgb,tkb->gk', dA, kept[-1])  # [4H, H + F]
            return ((tf.einsum('fg,tgb->tfb', W_x, dA), _sum_shared(dA, shared),
                     tf.transpose(dW_T[:, units:]), tf.transpose(dW_T[:, :units]))
                    + norm_grads + (tf.transpose(dc0), tf.transpose(dh0)) + (None,) * len(masks))

        return (hidden, tf.transpose(c_T), tf.transpose(h_T)), grad

    # Traced once per setting, and called by every encoder span.
    return tf.function(kernel)


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
    kernel = _hyper_fn(float(forget_bias), bool(masks), bool(jit_compile), bool(keep_activations))
    outputs = kernel(*map(tf.convert_to_tensor, args))
    return outputs[0], tuple(outputs[1:])


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
    return (c, h, hyper_c, hyper_h), r, (saved, hyper_saved, z, alpha_x, alpha_h, m)


def _hyper_step_grad(fused, saved, x_main, d_state, dr, keep_mask):
    """hyper_step backwards: d_state (dc, dh, d_hyper_c, d_hyper_h) of the
    step's new state, dr of its r -> (d_state of the step's state, the
    gradients of the projections: d_x_main [4H, B], d_q = d_x_hyper = d of
    the previous r [4Hh, B]; d of both matmuls' outputs; sums)."""
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
    sums = (main_sums + hyper_sums + (tf.reduce_sum(da, -1),
                                      tf.matmul(z, d_scales, transpose_b=True)))
    return d_state, (tf.reshape(da * alpha_x, [4 * units, batch]), d_q, d_h_out, d_hyper_out), sums


_SAVED = ((0,) * 10, (0,) * 10, 0, 0, 0, 0)  # the structure of hyper_step's saved values


def _hyper_forward(fused, x_main, x_hyper, state, r, masks, keep):
    """-> (H [T, H, B], the final state, saved: if keep, hyper_step's values
    (flattened), h_{t-1} and the new hyper h of every step)."""
    steps = tf.shape(x_main)[0]

    def step(t, state, r, hidden, saved):
        new, r, values = hyper_step(fused, x_main[t], x_hyper[t], state, r, mask_at(masks, t))
        return (t + 1, new, r, hidden.write(t, new[1]),
                write_all(saved, t, tf.nest.flatten(values) + [state[1], new[3]]))

    _, state, _, hidden, saved = tf.while_loop(
        lambda t, *_: t < steps, step,
        (0, state, r, new_arrays(x_main.dtype, steps, 1)[0],
         new_arrays(x_main.dtype, steps, len(tf.nest.flatten(_SAVED)) + 2 if keep else 0)))
    return hidden.stack(), state, tuple(a.stack() for a in saved)


def _hyper_backward(fused, saved, x_main, dH, d_state, masks):
    """-> (the per-step gradients of the projections and of both matmuls'
    outputs, stacked [T, *, B] (see _hyper_step_grad), d_state of the
    initial state, dr of the first step's r, the sums over steps and batch)."""
    steps = tf.shape(dH)[0]
    units, hyper_units = fused.bias.shape[1], fused.hyper_norms.gamma_c.shape[0]

    def back(k, d_state, dr, sums, d_arrays):
        t = steps - 1 - k
        d_state = (d_state[0], d_state[1] + dH[t]) + d_state[2:]
        values = tf.nest.pack_sequence_as(_SAVED, [a[t] for a in saved[:-2]])
        d_state, d_out, step_sums = _hyper_step_grad(fused, values, x_main[t], d_state, dr,
                                                     mask_at(masks, t))
        return k + 1, d_state, d_out[1], _add(sums, step_sums), write_all(d_arrays, t, d_out)

    sums = _zero_sums([[4, units], [4, units], [units], [units],
                       [4, hyper_units], [4, hyper_units], [hyper_units], [hyper_units],
                       [4, units], [12, fused.emb_bias.shape[1], units]], dH.dtype)
    _, d_state, dr, sums, d_arrays = tf.while_loop(
        lambda k, *_: k < steps, back,
        (0, d_state, tf.zeros([4 * hyper_units, tf.shape(dH)[2]], dH.dtype), sums,
         new_arrays(dH.dtype, steps, 4)))
    return tuple(a.stack() for a in d_arrays), d_state, dr, _cast(sums, dH.dtype)


@functools.cache
def _hyper_fn(forget_bias, masked, jit_compile, keep_activations):
    forward, backward = kernel_loops(_hyper_forward, _hyper_backward, jit_compile)

    @tf.custom_gradient
    def kernel(seq, shared, *rest):
        w, state0, masks = HyperWeights(*rest[:19]), rest[19:23], rest[23:]
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
            d_arrays, d_state, dr, sums = backward(fused, kept, x_main,
                                                   zeros_if_none(dH, hidden), d_state, masks)
            grads = _hyper_weight_grads(w, seq, shared, state[3], dr, sums, d_arrays,
                                        kept[-2], kept[-1])
            d_state = d_state[:3] + (d_state[3] + tf.matmul(w.hyper_W_hh, dr),)
            return grads + tuple(tf.transpose(d) for d in d_state) + (None,) * len(masks)

        return (hidden,) + tuple(tf.transpose(s) for s in final), grad

    # Traced once per setting, and called by every encoder span.
    return tf.function(kernel)


def _hyper_weight_grads(w, seq, shared, hyper_h0, dr, sums, d_arrays, h_prev, hyper_h):
    """Gradients of (seq, shared, *weights): contractions over all steps of
    the per-step gradients d_arrays (d_x_main, d_q, d_h_out, d_hyper_out
    [T, *, B]) with what the matmuls read (seq, h_prev, hyper_h [T, *, B])."""
    d_x_main, d_q, d_h_out, d_hyper_out = d_arrays
    units, emb = w.W_hh.shape[0], w.zw_b.shape[0] // 8
    d_seq = (tf.einsum('fg,tgb->tfb', w.W_x, d_x_main)
             + tf.einsum('fg,tgb->tfb', w.hyper_W_x, d_q))
    d_shared = shared_gradient(
        tf.concat([tf.reduce_sum(d_x_main, 0), tf.reduce_sum(d_q, 0)], 0), shared)
    d_W_hh, d_hyper_W_h = tf.split(tf.einsum('tkb,tgb->kg', h_prev, d_h_out), [4 * units, -1], 1)
    d_zw_w, d_zb_w, d_hyper_W_hh = tf.split(tf.einsum('tkb,tgb->kg', hyper_h, d_hyper_out),
                                            [8 * emb, 4 * emb, -1], 1)
    d_hyper_W_hh += tf.matmul(hyper_h0, dr, transpose_b=True)  # the first step's r
    d_alpha_w, d_beta_w = tf.split(sums[9], [8, 4])
    return (d_seq, d_shared) + tuple(HyperWeights(
        tf.einsum('tfb,tgb->fg', seq, d_x_main), d_W_hh, tf.reshape(sums[8], [-1]),
        *_norm_grads(sums[:4]),
        tf.einsum('tfb,tgb->fg', seq, d_q), d_hyper_W_h, d_hyper_W_hh, *_norm_grads(sums[4:8]),
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
