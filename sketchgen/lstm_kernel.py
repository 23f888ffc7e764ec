"""The plain LSTM's whole-sequence kernel, with its hand-written backward pass."""
import functools

from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import tensorflow as tf


def lstm_sequence(seq, shared, W_x, W_hh, c0, h0, keep_masks=None, forget_bias=1.0):
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
    c0, h0 [B, H].  Returns (H [T, H, B], c_T [B, H], h_T [B, H]).
    """
    args = [seq, shared, tf.convert_to_tensor(W_x), tf.convert_to_tensor(W_hh), c0, h0]
    if keep_masks is not None:
        args.append(keep_masks)
    return _lstm_sequence_fn(float(forget_bias), keep_masks is not None)(*args)


def forget_bias_vector(units, forget_bias):
    """[4H]: forget_bias on the f gate (order i, j, f, o), zero elsewhere."""
    return tf.concat([tf.zeros([2 * units]), tf.fill([units], forget_bias), tf.zeros([units])], 0)


@functools.cache
def _lstm_sequence_fn(forget_bias, masked):
    @tf.custom_gradient
    def lstm(seq, shared, W_x, W_hh, c0, h0, *masks):
        steps = tf.shape(seq)[0]
        units = W_hh.shape[0]
        W_T = tf.transpose(tf.concat([W_hh, W_x], 0))  # [4H, H + F]
        shared_f = shared + tf.cast(forget_bias_vector(units, forget_bias), shared.dtype)[:, None]

        def new_array(rows):
            # Not cleared after a read: a persistent tape may run grad twice.
            return tf.TensorArray(seq.dtype, size=steps, element_shape=(rows, None),
                                  clear_after_read=False)

        def step(t, c, h, i_ta, g_ta, f_ta, o_ta, tc_ta, c_ta, h_ta, hx_ta):
            hx = tf.concat([h, seq[t]], 0)
            gates = tf.matmul(W_T, hx) + shared_f  # [4H, B]
            i, j, f, o = tf.split(gates, 4, axis=0)
            i, g, f, o = tf.sigmoid(i), tf.tanh(j), tf.sigmoid(f), tf.sigmoid(o)
            c_new = c * f + i * (g * masks[0][t] if masked else g)
            tc = tf.tanh(c_new)
            h_new = tc * o
            # Saved for the backward pass: activations, c_{t-1} and the matmul's input.
            return (t + 1, c_new, h_new, i_ta.write(t, i), g_ta.write(t, g), f_ta.write(t, f),
                    o_ta.write(t, o), tc_ta.write(t, tc), c_ta.write(t, c), h_ta.write(t, h_new),
                    hx_ta.write(t, hx))

        loop = tf.while_loop(
            lambda t, *_: t < steps, step,
            (0, tf.transpose(c0), tf.transpose(h0)) + tuple(new_array(units) for _ in range(7))
            + (new_array(units + W_x.shape[0]),))
        c_T, h_T = loop[1:3]
        i_ta, g_ta, f_ta, o_ta, tc_ta, c_ta, h_ta, hx_ta = loop[3:]

        def grad(dH, dc_T, dh_T):
            def back(k, dc, dh, dg_ta):  # dc, dh: [H, B]
                t = steps - 1 - k
                if dH is not None:
                    dh += dH[t]
                i, g, f, o, tc = i_ta.read(t), g_ta.read(t), f_ta.read(t), o_ta.read(t), tc_ta.read(t)
                d_o = tf.raw_ops.SigmoidGrad(y=o, dy=dh * tc)
                dc += tf.raw_ops.TanhGrad(y=tc, dy=dh * o)
                dcm = dc * masks[0][t] if masked else dc
                d_i = tf.raw_ops.SigmoidGrad(y=i, dy=dcm * g)
                d_j = tf.raw_ops.TanhGrad(y=g, dy=dcm * i)
                d_f = tf.raw_ops.SigmoidGrad(y=f, dy=dc * c_ta.read(t))
                dgates = tf.concat([d_i, d_j, d_f, d_o], axis=0)  # [4H, B]
                return k + 1, dc * f, tf.matmul(W_hh, dgates), dg_ta.write(t, dgates)

            zeros = tf.zeros_like(c0)
            _, dc0, dh0, dg_ta = tf.while_loop(
                lambda k, *_: k < steps, back,
                (0, tf.transpose(zeros if dc_T is None else dc_T),
                 tf.transpose(zeros if dh_T is None else dh_T), new_array(4 * units)))
            dG = dg_ta.stack()  # [T, 4H, B]
            # [dW_hh; dW_x]^T = sum_t dgates_t [h_{t-1}; x_t]^T: one contraction
            # over all steps rather than an accumulation every step.
            dW_T = tf.einsum('tgb,tkb->gk', dG, hx_ta.stack())
            d_seq = tf.einsum('fg,tgb->tfb', W_x, dG)
            d_shared = tf.reduce_sum(dG, 0)
            if shared.shape[-1] == 1:
                d_shared = tf.reduce_sum(d_shared, 1, keepdims=True)
            return ((d_seq, d_shared, tf.transpose(dW_T[:, units:]), tf.transpose(dW_T[:, :units]),
                     tf.transpose(dc0), tf.transpose(dh0)) + (None,) * len(masks))

        return (h_ta.stack(), tf.transpose(c_T), tf.transpose(h_T)), grad

    # Traced once and called by every encoder span and the decoder: tracing
    # the loops and their gradient costs seconds each time.
    return tf.function(lstm)
