"""Sketch-RNN (Ha & Eck, "A Neural Representation of Sketch Drawings", 2017)
as a Keras 3 model: a bidirectional-LSTM encoder reads a stroke-5 sketch into
a latent z, and an autoregressive LSTM decoder (plain, layer-norm or HyperLSTM
cell) emits a bivariate Gaussian mixture over pen offsets plus pen-state
logits.  A faithful port of Magenta's sketch_rnn: same hyper-parameters,
initialisers, losses and checkpoint variables.
"""
import functools
import json
import os

# TensorFlow settings read when it starts (set here unless the user has set
# them), so import this module before TensorFlow.
TF_CPU_SETTINGS = {
    # The default CPU allocator returns large tensors to the OS, so each
    # training step page-faulted its activations in afresh (~0.7 GB, ~0.5 s
    # for the decoder alone at the default size); BFC keeps and reuses them.
    'TF_CPU_ALLOCATOR_USE_BFC': 'true',
    # oneDNN kernels are on by default only on CPUs with AVX-512 VNNI, bf16 or
    # AMX.  On this project's AVX2 CPU: fp32 matmul 111 -> 165 GFLOP/s,
    # layer_norm training 4.9 -> 3.5 s/step, sampling +14%, default
    # training 5% slower (README, Performance).
    'TF_ENABLE_ONEDNN_OPTS': '1',
}
for _name, _value in TF_CPU_SETTINGS.items():
    os.environ.setdefault(_name, _value)

import numpy as np
import tensorflow as tf
import keras

import utils
from sketchgen import atomic, magenta_names, norm_kernels, pretrained, sketch_js

# --------------------------------------------------------------------------
# Hyper-parameters: Magenta's names and defaults.
# --------------------------------------------------------------------------
DEFAULT_HPARAMS = dict(
    data_set=['aaron_sheep.npz'],  # one .npz name or a list, concatenated
    num_steps=10000000,            # total training steps
    save_every=500,                # steps between validations/checkpoints
    max_seq_len=250,               # set by the data loader
    dec_rnn_size=512,
    dec_model='lstm',              # lstm, layer_norm or hyper
    enc_rnn_size=256,
    enc_model='lstm',              # lstm, layer_norm or hyper
    z_size=128,
    kl_weight=0.5,
    kl_weight_start=0.01,
    kl_tolerance=0.2,              # KL floor: below it the KL term is not optimised
    batch_size=100,
    grad_clip=1.0,
    num_mixture=20,
    learning_rate=0.001,
    decay_rate=0.9999,             # learning-rate decay per step
    kl_decay_rate=0.99995,         # KL-weight annealing per step
    min_learning_rate=0.00001,
    use_recurrent_dropout=True,    # dropout on the cell candidate, no memory loss
    recurrent_dropout_prob=0.90,   # keep probability
    use_input_dropout=False,
    input_dropout_prob=0.90,       # keep probability
    use_output_dropout=False,
    output_dropout_prob=0.90,      # keep probability
    random_scale_factor=0.15,      # data augmentation: random x/y stretch
    augment_stroke_prob=0.10,      # data augmentation: point dropping
    conditional=True,              # False: decoder-only model, no encoder
    is_training=True,              # False: pen loss masked after the sketch ends
)
CELL_TYPES = ('lstm', 'layer_norm', 'hyper')
PRECISIONS = {'float32': 'float32', 'bfloat16': 'mixed_bfloat16'}  # --precision -> dtype policy
ENCODER_SEGMENTS = 4  # time spans of the encoder's shrinking batch (see _encode_direction)


class HParams:
    """Attribute bag of hyper-parameters with Magenta's `parse` syntax."""

    def __init__(self, **values):
        unknown = set(values) - set(DEFAULT_HPARAMS)
        if unknown:
            raise ValueError(f'unknown hyper-parameter(s): {", ".join(sorted(unknown))}')
        self.__dict__.update(values)

    def values(self):
        return dict(self.__dict__)

    def copy(self):
        return HParams(**json.loads(json.dumps(self.values())))

    def set(self, name, value):
        """Sets one hyper-parameter, converted to the type of its default."""
        if name not in DEFAULT_HPARAMS:
            raise ValueError(f"unknown hyper-parameter '{name}'; known: "
                             f"{', '.join(sorted(DEFAULT_HPARAMS))}")
        value = _convert(name, value, DEFAULT_HPARAMS[name])
        if name in ('enc_model', 'dec_model') and value not in CELL_TYPES:
            raise ValueError(f"hyper-parameter '{name}': unknown cell '{value}'; choose one of "
                             f"{', '.join(CELL_TYPES)}")
        setattr(self, name, value)

    def parse(self, text):
        """Applies "name=value,name=value"; lists as name=[a.npz;b.npz] or a;b."""
        for item in _split_assignments(text):
            name, sep, value = item.partition('=')
            if not sep:
                raise ValueError(f"hyper-parameter '{item}' is not of the form name=value")
            self.set(name.strip(), value.strip())
        return self

    def to_json(self, **kwargs):
        return json.dumps(self.values(), **kwargs)

    def parse_json(self, text):
        for name, value in json.loads(text).items():
            self.set(name, value)
        return self

    def __repr__(self):
        return f'HParams({self.values()})'


def _split_assignments(text):
    """Splits on commas that are not inside [...] lists."""
    items, depth, current = [], 0, ''
    for ch in text:
        depth += {'[': 1, ']': -1}.get(ch, 0)
        if ch == ',' and depth == 0:
            items.append(current)
            current = ''
        else:
            current += ch
    items.append(current)
    return [item for item in (i.strip() for i in items) if item]


def _convert(name, value, default):
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() in ('true', '1'):
                    return True
                if value.lower() in ('false', '0'):
                    return False
                raise ValueError
            if value in (0, 1):
                return bool(value)
            raise ValueError
        if isinstance(default, list):
            if isinstance(value, str):
                value = [v.strip() for v in value.strip('[]').replace(';', ',').split(',')]
            elif not isinstance(value, (list, tuple)):
                value = [value]
            return [str(v) for v in value if str(v)]
        if isinstance(value, bool):
            raise ValueError  # True is an int to Python, never a size or rate here
        if isinstance(default, int):
            number = float(value)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if isinstance(default, float):
            return float(value)
        if not isinstance(value, str):
            raise ValueError
        return value
    except (TypeError, ValueError):
        raise ValueError(f"hyper-parameter '{name}': cannot use {value!r} "
                         f"(expected {type(default).__name__})") from None


def get_default_hparams():
    """A fresh HParams holding Magenta's defaults."""
    return HParams(**json.loads(json.dumps(DEFAULT_HPARAMS)))


# --------------------------------------------------------------------------
# Recurrent cells.  Each cell projects a whole input sequence at once
# (`project_inputs`), so the time loop only multiplies the recurrent state.
# States are tuples; `state_from_flat` reads Magenta's flat layout, which is
# what the decoder's initial state tanh(W z + b) is laid out as.
# --------------------------------------------------------------------------
class LSTMOrthogonal(keras.initializers.Initializer):
    """Orthogonal initialisation of each of the four gate blocks separately."""

    def __call__(self, shape, dtype=None):
        rows, cols = shape
        blocks = [keras.initializers.Orthogonal()((rows, cols // 4), dtype=dtype)
                  for _ in range(4)]
        return keras.ops.concatenate(blocks, axis=1)


def layer_norm(x, gamma, beta, epsilon=1e-3):
    """Layer normalisation over the last axis (Ba et al. 2016), Magenta's epsilon."""
    mean = tf.reduce_mean(x, axis=-1, keepdims=True)
    var = tf.reduce_mean(tf.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * tf.math.rsqrt(var + epsilon) * gamma + beta


def layer_norm_gates(gates, gamma, beta):
    """Normalises each of the four gate pre-activations on its own."""
    shape = tf.shape(gates)
    units = gates.shape[-1] // 4
    split = tf.reshape(gates, tf.concat([shape[:-1], [4, units]], 0))
    split = layer_norm(split, 1.0, 0.0)
    return tf.reshape(split, shape) * gamma + beta


class LSTMCell(keras.layers.Layer):
    """LSTM with orthogonal recurrent weights, forget bias 1.0 and recurrent
    dropout on the candidate g only, so no memory is lost (Semeniuta et al. 2016).
    State: (c, h); Magenta's flat layout is [c, h]."""

    magenta_scope = 'LSTMCell'

    def __init__(self, units, forget_bias=1.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.forget_bias = forget_bias

    @property
    def state_size(self):
        return 2 * self.units

    def build(self, input_dim):
        self.W_xh = self.add_weight(name='W_xh', shape=(input_dim, 4 * self.units),
                                    initializer='glorot_uniform')
        self.W_hh = self.add_weight(name='W_hh', shape=(self.units, 4 * self.units),
                                    initializer=LSTMOrthogonal())
        self.bias = self.add_weight(name='bias', shape=(4 * self.units,), initializer='zeros')

    def project_inputs(self, seq, static=None):
        """seq [B, T, F] (+ static [B, S] shared by all steps) -> [B, T, 4H]."""
        return _project(seq, static, self.W_xh) + self.bias

    def state_from_flat(self, flat):
        c, h = tf.split(flat, 2, axis=-1)
        return (c, h)

    def zero_state(self, batch_size):
        return self.state_from_flat(tf.zeros([batch_size, self.state_size], self.compute_dtype))

    @staticmethod
    def output(state):
        return state[1]

    def step(self, projected, state, keep_mask):
        c, h = state
        gates = projected + tf.matmul(h, self.W_hh)
        return self._update(gates, c, keep_mask, lambda new_c: tf.tanh(new_c))

    def _update(self, gates, c, keep_mask, squash_c):
        i, j, f, o = tf.split(gates, 4, axis=-1)
        g = tf.tanh(j)
        if keep_mask is not None:
            g = g * keep_mask
        new_c = c * tf.sigmoid(f + self.forget_bias) + tf.sigmoid(i) * g
        new_h = squash_c(new_c) * tf.sigmoid(o)
        return (new_c, new_h)


class LayerNormLSTMCell(LSTMCell):
    """LSTM with layer norm on each gate and on the cell (no gate bias: the
    layer-norm beta plays its part).  Magenta's flat state layout is [h, c]."""

    magenta_scope = 'LayerNormLSTMCell'

    def build(self, input_dim):
        self.W_xh = self.add_weight(name='W_xh', shape=(input_dim, 4 * self.units),
                                    initializer='glorot_uniform')
        self.W_hh = self.add_weight(name='W_hh', shape=(self.units, 4 * self.units),
                                    initializer=LSTMOrthogonal())
        self.ln_all_gamma, self.ln_all_beta = self._ln_weights('ln_all', 4 * self.units)
        self.ln_c_gamma, self.ln_c_beta = self._ln_weights('ln_c', self.units)

    def _ln_weights(self, name, size):
        return (self.add_weight(name=f'{name}_gamma', shape=(size,), initializer='ones'),
                self.add_weight(name=f'{name}_beta', shape=(size,), initializer='zeros'))

    def project_inputs(self, seq, static=None):
        return _project(seq, static, self.W_xh)

    def state_from_flat(self, flat):
        h, c = tf.split(flat, 2, axis=-1)
        return (c, h)

    def step(self, projected, state, keep_mask):
        c, h = state
        gates = layer_norm_gates(projected + tf.matmul(h, self.W_hh),
                                 self.ln_all_gamma, self.ln_all_beta)
        return self._update(gates, c, keep_mask, self._squash_c)

    def _squash_c(self, new_c):
        return tf.tanh(layer_norm(new_c, self.ln_c_gamma, self.ln_c_beta))


class HyperLSTMCell(LayerNormLSTMCell):
    """HyperLSTM (Ha et al. 2016): a small layer-norm LSTM reads [x, h] and
    emits, every step, per-gate scales (and, for the recurrent part, shifts)
    of the main LSTM's pre-activations.  The eight hyper-norm projections of
    Magenta's cell are fused into two matmuls and two einsums.
    State: (c, h, hyper_c, hyper_h); Magenta's flat layout is
    [h, hyper_h, c, hyper_c]."""

    magenta_scope = 'HyperLSTMCell'
    GATES = ('i', 'j', 'f', 'o')

    def __init__(self, units, hyper_units=256, hyper_embedding_size=32, **kwargs):
        super().__init__(units, **kwargs)
        self.hyper_units = hyper_units
        self.embedding_size = hyper_embedding_size
        self.hyper_cell = LayerNormLSTMCell(hyper_units, name='hyper_cell', dtype=self.dtype_policy)

    @property
    def state_size(self):
        return 2 * (self.units + self.hyper_units)

    def build(self, input_dim):
        self.input_dim = input_dim
        units, emb = self.units, self.embedding_size
        self.W_xh = self.add_weight(name='W_xh', shape=(input_dim, 4 * units),
                                    initializer='glorot_uniform')
        self.W_hh = self.add_weight(name='W_hh', shape=(units, 4 * units),
                                    initializer=LSTMOrthogonal())
        self.bias = self.add_weight(name='bias', shape=(4 * units,), initializer='zeros')
        self.ln_all_gamma, self.ln_all_beta = self._ln_weights('ln_all', 4 * units)
        self.ln_c_gamma, self.ln_c_beta = self._ln_weights('ln_c', units)
        self.hyper_cell.build(input_dim + units)  # it reads [x, h]
        # Scales: 8 embeddings (ix..ox, ih..oh) start at exactly 1.0 (zero
        # weights, unit bias) times 0.1/emb, i.e. alpha = 0.1: the recurrent
        # batch-norm initialisation of Cooijmans et al. 2016.
        self.zw_w = self.add_weight(name='zw_w', shape=(self.hyper_units, 8 * emb),
                                    initializer='zeros')
        self.zw_b = self.add_weight(name='zw_b', shape=(8 * emb,), initializer='ones')
        self.alpha_w = self.add_weight(name='alpha_w', shape=(8, emb, units),
                                       initializer=keras.initializers.Constant(0.1 / emb))
        # Shifts, for the recurrent contributions only.
        self.zb_w = self.add_weight(name='zb_w', shape=(self.hyper_units, 4 * emb),
                                    initializer=keras.initializers.RandomNormal(stddev=0.01))
        self.beta_w = self.add_weight(name='beta_w', shape=(4, emb, units),
                                      initializer='zeros')

    def project_inputs(self, seq, static=None):
        """Main and hyper-cell input projections, side by side."""
        hyper_w_x = self.hyper_cell.W_xh[:self.input_dim]
        return tf.concat([_project(seq, static, self.W_xh),
                          _project(seq, static, hyper_w_x)], axis=-1)

    def state_from_flat(self, flat):
        total_h, total_c = tf.split(flat, 2, axis=-1)
        return (total_c[:, :self.units], total_h[:, :self.units],
                total_c[:, self.units:], total_h[:, self.units:])

    def step(self, projected, state, keep_mask):
        c, h, hyper_c, hyper_h = state
        x_part, hyper_x_part = tf.split(projected, [4 * self.units, 4 * self.hyper_units], -1)
        hyper_projected = hyper_x_part + tf.matmul(h, self.hyper_cell.W_xh[self.input_dim:])
        hyper_c, hyper_h = self.hyper_cell.step(hyper_projected, (hyper_c, hyper_h), None)

        batch = tf.shape(h)[0]
        emb = self.embedding_size
        zw = tf.reshape(tf.matmul(hyper_h, self.zw_w) + self.zw_b, [batch, 8, emb])
        alpha = tf.einsum('bke,keu->bku', zw, self.alpha_w)
        zb = tf.reshape(tf.matmul(hyper_h, self.zb_w), [batch, 4, emb])
        beta = tf.einsum('bke,keu->bku', zb, self.beta_w)
        xh = tf.reshape(x_part, [batch, 4, self.units])
        hh = tf.reshape(tf.matmul(h, self.W_hh), [batch, 4, self.units])
        gates = alpha[:, :4] * xh + alpha[:, 4:] * hh + beta
        gates = tf.reshape(gates, [batch, 4 * self.units]) + self.bias
        gates = layer_norm_gates(gates, self.ln_all_gamma, self.ln_all_beta)
        new_c, new_h = self._update(gates, c, keep_mask, self._squash_c)
        return (new_c, new_h, hyper_c, hyper_h)


def _project(seq, static, weights):
    """seq @ W[:F] (+ static @ W[F:] once for all steps, not every step)."""
    seq_dim = seq.shape[-1]
    out = tf.einsum('btf,fg->btg', seq, weights[:seq_dim])
    if static is not None:
        out += tf.matmul(static, weights[seq_dim:])[:, None, :]
    return out


CELLS = {'lstm': LSTMCell, 'layer_norm': LayerNormLSTMCell, 'hyper': HyperLSTMCell}


def make_cell(kind, units, name, dtype=None):
    if kind not in CELLS:
        raise ValueError(f"unknown cell '{kind}': choose one of {', '.join(CELL_TYPES)}")
    return CELLS[kind](units, name=name, dtype=dtype)


def run_rnn(cell, seq, state, static=None, keep_masks=None):
    """Runs `cell` over inputs seq [B, T, F] (+ static [B, S], features shared
    by all steps) from `state`, with the cell's whole-sequence kernel (its
    `step` over all steps, hand-written backward pass).  keep_masks [T, H, B]:
    recurrent-dropout masks already scaled by 1/keep.  Returns (outputs h
    [B, T, H], final state)."""
    if type(cell) is LSTMCell:
        seq_dim = seq.shape[-1]
        shared = cell.bias[None] if static is None else (
            tf.matmul(static, cell.W_xh[seq_dim:]) + cell.bias)  # [1 or B, 4H]
        hidden, c, h = lstm_sequence(tf.transpose(seq, [1, 2, 0]), tf.transpose(shared),
                                     cell.W_xh[:seq_dim], cell.W_hh, *state, keep_masks,
                                     cell.forget_bias)
        return tf.transpose(hidden, [2, 0, 1]), (c, h)
    if type(cell) is LayerNormLSTMCell:
        return norm_kernels.run_layer_norm_cell(cell, seq, state, static, keep_masks)
    return norm_kernels.run_hyper_cell(cell, seq, state, static, keep_masks)


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


# --------------------------------------------------------------------------
# Mixture density output and losses.
# --------------------------------------------------------------------------
def mixture_coefficients(output, num_mixture):
    """Splits decoder outputs [..., 3 + 6M] into the mixture parameters:
    pi, mu1, mu2, sigma1, sigma2, corr (each [..., M]), pen probabilities and
    pen logits ([..., 3]); Graves 2013, eqs. 18-23."""
    pen_logits = output[..., :3]
    pi, mu1, mu2, log_s1, log_s2, pre_corr = tf.split(output[..., 3:], 6, axis=-1)
    return dict(pi=tf.nn.softmax(pi), mu1=mu1, mu2=mu2,
                sigma1=tf.exp(log_s1), sigma2=tf.exp(log_s2), corr=tf.tanh(pre_corr),
                pen=tf.nn.softmax(pen_logits), pen_logits=pen_logits)


def bivariate_normal(x1, x2, mu1, mu2, s1, s2, rho):
    """Density of (x1, x2) under N(mu, s, rho); Graves 2013, eqs. 24-25."""
    norm1, norm2 = x1 - mu1, x2 - mu2
    s1s2 = s1 * s2
    z = tf.square(norm1 / s1) + tf.square(norm2 / s2) - 2.0 * rho * norm1 * norm2 / s1s2
    one_minus_rho2 = 1.0 - tf.square(rho)
    return tf.exp(-z / (2.0 * one_minus_rho2)) / (2.0 * np.pi * s1s2 * tf.sqrt(one_minus_rho2))


def reconstruction_loss(params, target, mask_pen_loss=False):
    """L_R of the paper (eq. 9): offset loss L_s, zero after the sketch ends,
    plus pen-state loss L_p (also masked when evaluating with masking); the
    mean is over batch x max_seq_len, as Magenta divides."""
    x1, x2 = target[..., 0:1], target[..., 1:2]
    pen_target = target[..., 2:5]
    density = bivariate_normal(x1, x2, params['mu1'], params['mu2'], params['sigma1'],
                               params['sigma2'], params['corr'])
    offset_loss = -tf.math.log(tf.reduce_sum(density * params['pi'], -1) + 1e-6)
    not_ended = 1.0 - pen_target[..., 2]
    offset_loss *= not_ended
    pen_loss = tf.nn.softmax_cross_entropy_with_logits(labels=pen_target,
                                                       logits=params['pen_logits'])
    if mask_pen_loss:
        pen_loss *= not_ended
    return tf.reduce_mean(offset_loss + pen_loss)


def kl_loss(mu, presig, kl_tolerance):
    """KL(q(z|x) || N(0, I)) averaged over batch and z, floored at the tolerance."""
    kl = -0.5 * tf.reduce_mean(1.0 + presig - tf.square(mu) - tf.exp(presig))
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        # Under tf.distribute each replica holds part of the batch: floor the
        # whole batch's KL, as one device does; each replica's gradient is its
        # own KL's, where the whole batch's is above the floor.
        batch_kl = context.all_reduce('MEAN', tf.stop_gradient(kl))
        return tf.where(batch_kl > kl_tolerance, kl - tf.stop_gradient(kl) + batch_kl,
                        kl_tolerance)
    return tf.maximum(kl, kl_tolerance)


# --------------------------------------------------------------------------
# Schedules (Magenta's per-step formulas).
# --------------------------------------------------------------------------
class LearningRateSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr = (lr0 - min_lr) * decay_rate^step + min_lr."""

    def __init__(self, learning_rate, decay_rate, min_learning_rate):
        self.learning_rate = learning_rate
        self.decay_rate = decay_rate
        self.min_learning_rate = min_learning_rate

    def __call__(self, step):
        # float64 as Magenta's Python arithmetic: float32 powers drift by 1e-5
        step = tf.cast(step, tf.float64)
        decay = tf.pow(tf.constant(self.decay_rate, tf.float64), step)
        lr = (self.learning_rate - self.min_learning_rate) * decay + self.min_learning_rate
        return tf.cast(lr, tf.float32)

    def get_config(self):
        return dict(learning_rate=self.learning_rate, decay_rate=self.decay_rate,
                    min_learning_rate=self.min_learning_rate)


def kl_weight_at(hps, step):
    """KL annealing: w - (w - w_start) * kl_decay_rate^step."""
    step = tf.cast(step, tf.float64)
    decay = tf.pow(tf.constant(hps.kl_decay_rate, tf.float64), step)
    return tf.cast(hps.kl_weight - (hps.kl_weight - hps.kl_weight_start) * decay, tf.float32)


# --------------------------------------------------------------------------
# The model.
# --------------------------------------------------------------------------
def small_gaussian():
    """Magenta's super_linear init_w=0.001.  A new initialiser per layer: an
    unseeded Keras 3 initialiser repeats its values on every call."""
    return keras.initializers.RandomNormal(stddev=0.001)


class Seq2seqModel(keras.Model):
    """Sketch-RNN VAE.  Inputs: a dict with `strokes` [B, max_seq_len + 1, 5],
    stroke-5 batches starting with the (0, 0, 1, 0, 0) token, and `seq_len` [B].
    dtype='mixed_bfloat16' runs the networks in bfloat16 with float32 weights;
    z, the mixture and the losses stay float32 (the default is all float32)."""

    def __init__(self, hps, seed=None, **kwargs):
        super().__init__(**kwargs)
        policy = self.dtype_policy
        self.hps = hps
        self.num_mixture = hps.num_mixture
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.compiled_functions = {}  # see _compiled
        if hps.conditional:
            self.enc_fw = make_cell(hps.enc_model, hps.enc_rnn_size, 'enc_fw', policy)
            self.enc_bw = make_cell(hps.enc_model, hps.enc_rnn_size, 'enc_bw', policy)
            self.mu_layer = keras.layers.Dense(hps.z_size, kernel_initializer=small_gaussian(),
                                               name='ENC_RNN_mu', dtype=policy)
            self.presig_layer = keras.layers.Dense(hps.z_size, kernel_initializer=small_gaussian(),
                                                   name='ENC_RNN_sigma', dtype=policy)
        self.decoder = make_cell(hps.dec_model, hps.dec_rnn_size, 'decoder', policy)
        if hps.conditional:
            self.initial_state_layer = keras.layers.Dense(
                self.decoder.state_size, kernel_initializer=small_gaussian(), name='linear',
                dtype=policy)
        self.output_layer = keras.layers.Dense(
            3 + 6 * hps.num_mixture, bias_initializer='glorot_uniform', name='output',
            dtype=policy)
        self.build_all()

    def build_all(self):
        hps = self.hps
        if hps.conditional:
            self.enc_fw.build(5)
            self.enc_bw.build(5)
            self.mu_layer.build((None, 2 * hps.enc_rnn_size))
            self.presig_layer.build((None, 2 * hps.enc_rnn_size))
            self.initial_state_layer.build((None, hps.z_size))
        self.decoder.build(5 + (hps.z_size if hps.conditional else 0))
        self.output_layer.build((None, hps.dec_rnn_size))
        self.built = True

    # -- pieces ------------------------------------------------------------
    def _noise_seed(self):
        """The next stateless seed from the model's generator.  Under
        tf.distribute the generator's state is mirrored, so each replica folds
        in its own id: replicas draw independent noise, as one device draws
        for every sketch of its batch (replica 0's is one device's seed)."""
        seed = self.seed_generator.next()
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            replica = tf.cast(context.replica_id_in_sync_group, seed.dtype)
            seed += tf.stack([replica, tf.zeros_like(replica)])
        # Keras' own cast: stateless ops take int32 seeds.
        return tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)

    def _keep_masks(self, shape, keep_prob):
        noise = tf.random.stateless_uniform(shape, self._noise_seed())
        return tf.cast(noise < keep_prob, self.compute_dtype) / keep_prob

    def _recurrent_masks(self, cell, strokes, training):
        """Masks on the candidate g, laid out [T, H, B] as run_rnn takes them."""
        if not (training and self.hps.use_recurrent_dropout):
            return None
        batch, steps = tf.unstack(tf.shape(strokes)[:2])
        return self._keep_masks((steps, cell.units, batch), self.hps.recurrent_dropout_prob)

    def encode(self, strokes, seq_len, training=False):
        """Posterior q(z|x): strokes [B, T, 5] without the start token -> (mu, presig).

        Each direction's state is read at the sketch's last real point, so
        padding never reaches z; the backward direction starts there too."""
        last_h = [self._encode_direction(cell, seq, seq_len, training)
                  for cell, seq in ((self.enc_fw, strokes),
                                    (self.enc_bw, tf.reverse_sequence(
                                        strokes, tf.cast(seq_len, tf.int32), seq_axis=1, batch_axis=0)))]
        last_h = tf.concat(last_h, axis=-1)
        return self.mu_layer(last_h), self.presig_layer(last_h)

    def _encode_direction(self, cell, seq, seq_len, training):
        """Runs one encoder direction and returns h at each sketch's last point, [B, H].

        Steps past a sketch's end cannot reach z, so they are skipped: with the
        sketches sorted longest first, time is cut into ENCODER_SEGMENTS spans
        and each span runs only the sketches still drawing when it starts
        (on aaron_sheep about 63% of the steps of the full batch; more spans
        save little and cost seconds of tracing each)."""
        lengths = tf.cast(seq_len, tf.int32)
        order = tf.argsort(lengths, direction='DESCENDING', stable=True)
        lengths = tf.gather(lengths, order)
        # At least one step per span: pad short batches with never-read steps.
        seq = tf.pad(tf.gather(seq, order), [[0, 0], [0, ENCODER_SEGMENTS], [0, 0]])
        span = tf.maximum(lengths[0], ENCODER_SEGMENTS)
        bounds = [span * k // ENCODER_SEGMENTS for k in range(ENCODER_SEGMENTS + 1)]
        state = cell.zero_state(tf.shape(seq)[0])
        positions, last_h = [], []
        for start, end in zip(bounds[:-1], bounds[1:]):
            active = tf.maximum(tf.reduce_sum(tf.cast(lengths > start, tf.int32)), 1)
            part = seq[:active, start:end]
            hidden, state = run_rnn(cell, part, tuple(s[:active] for s in state),
                                    keep_masks=self._recurrent_masks(cell, part, training))
            ends_here = tf.where((lengths > start) & (lengths <= end))[:, 0]
            ends_here = tf.cast(ends_here, tf.int32)
            last_h.append(tf.gather_nd(hidden, tf.stack(
                [ends_here, tf.gather(lengths, ends_here) - 1 - start], axis=1)))
            positions.append(tf.gather(order, ends_here))
        return tf.dynamic_stitch(positions, last_h)

    def sample_z(self, mu, presig, eps=None):
        """Reparameterisation: z = mu + sigma * eps, sigma = exp(presig / 2);
        eps [B, z_size] is drawn when None."""
        if eps is None:
            eps = tf.random.stateless_normal(tf.shape(mu), self._noise_seed())
        return mu + tf.exp(presig / 2.0) * eps

    def initial_state(self, z, batch_size):
        if self.hps.conditional:
            return self.decoder.state_from_flat(tf.tanh(self.initial_state_layer(z)))
        return self.decoder.zero_state(batch_size)

    def decode(self, strokes, z=None, state=None, training=False):
        """Runs the decoder over input strokes [B, T, 5] (conditioned on z at
        every step) from `state` (default: from z).  Returns the raw output
        [B, T, 3 + 6M] and the final state."""
        hps = self.hps
        batch = tf.shape(strokes)[0]
        if z is not None:
            z = tf.cast(z, self.compute_dtype)
        if state is None:
            state = self.initial_state(z, batch)
        if training and hps.use_input_dropout:
            strokes = self._dropout(strokes, hps.input_dropout_prob)
            if z is not None:  # the wrapper drops the whole cell input, z included
                z_seq = self._dropout(tf.tile(z[:, None], [1, tf.shape(strokes)[1], 1]),
                                      hps.input_dropout_prob)
                strokes, z = tf.concat([strokes, z_seq], -1), None
        hidden, final = run_rnn(self.decoder, strokes, state, z if hps.conditional else None,
                                self._recurrent_masks(self.decoder, strokes, training))
        if training and hps.use_output_dropout:
            hidden = self._dropout(hidden, hps.output_dropout_prob)
        return self.output_layer(hidden), final

    def _dropout(self, x, keep_prob):
        return x * self._keep_masks(tf.shape(x), keep_prob)

    def mixture(self, output):
        return mixture_coefficients(output, self.num_mixture)

    # -- forward pass and costs ----------------------------------------------
    def call(self, inputs, training=False, use_mean_z=False, eps=None):
        """Returns (mixture params dict, mu, presig); mu/presig None when decoder-only.
        eps [B, z_size]: the reparameterisation noise (None: drawn)."""
        x = tf.cast(inputs['strokes'], self.compute_dtype)
        seq_len = inputs['seq_len']
        target, decoder_input = x[:, 1:], x[:, :-1]
        mu = presig = z = None
        if self.hps.conditional:
            mu, presig = (tf.cast(t, tf.float32) for t in self.encode(target, seq_len, training))
            z = mu if use_mean_z else self.sample_z(mu, presig, eps)
        output, _ = self.decode(decoder_input, z, training=training)
        return self.mixture(tf.cast(output, tf.float32)), mu, presig

    def compute_costs(self, x, seq_len, training=False, use_mean_z=False, mask_pen_loss=False,
                      eps=None):
        params, mu, presig = self(dict(strokes=x, seq_len=seq_len), training=training,
                                  use_mean_z=use_mean_z, eps=eps)
        # Magenta masks the pen loss of models built with is_training=False.
        r_cost = reconstruction_loss(params, tf.cast(x[:, 1:], tf.float32),
                                     mask_pen_loss or not self.hps.is_training)
        if self.hps.conditional:
            kl_cost = kl_loss(mu, presig, self.hps.kl_tolerance)
        else:
            kl_cost = tf.zeros([])
        return r_cost, kl_cost

    def train_step(self, data):
        x, seq_len, eps = _unpack(data)
        step = self.optimizer.iterations
        kl_weight = kl_weight_at(self.hps, step)
        with tf.GradientTape() as tape:
            r_cost, kl_cost = self.compute_costs(x, seq_len, training=True, eps=eps)
            cost = r_cost + kl_weight * kl_cost
            # Under tf.distribute each replica sees batch/N sketches; gradients
            # are summed across replicas, so scale to match one device.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = cost / replicas
        grads = tape.gradient(scaled, self.trainable_variables)
        clip = self.optimizer.clipvalue
        if replicas > 1 and clip:
            # Keras clips each replica's part before summing them: clip the
            # sum instead, as one device does, and give each replica 1/N of it.
            grads = tf.distribute.get_replica_context().all_reduce('SUM', grads)
            grads = [tf.clip_by_value(g, -clip, clip) / replicas for g in grads]
        lr = self.optimizer.learning_rate  # the rate this step uses, read before the update
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return dict(cost=cost, r_cost=r_cost, kl_cost=kl_cost, lr=lr, kl_weight=kl_weight)

    def test_step(self, data):
        x, seq_len, _ = _unpack(data)
        r_cost, kl_cost = self.compute_costs(x, seq_len, use_mean_z=True)
        return dict(cost=r_cost + self.hps.kl_weight_start * kl_cost, r_cost=r_cost, kl_cost=kl_cost)


def _unpack(data):
    """-> strokes, seq_len and the optional `eps` (fixed reparameterisation noise)."""
    inputs = keras.utils.unpack_x_y_sample_weight(data)[0]
    return inputs['strokes'], inputs['seq_len'], inputs.get('eps')


def make_optimizer(hps):
    """Adam (TF1's epsilon) on Magenta's learning-rate schedule, gradients
    clipped by value."""
    return keras.optimizers.Adam(
        learning_rate=LearningRateSchedule(hps.learning_rate, hps.decay_rate,
                                           hps.min_learning_rate),
        epsilon=1e-8, clipvalue=hps.grad_clip)


# --------------------------------------------------------------------------
# Evaluation and Magenta checkpoints.
# --------------------------------------------------------------------------
def _compiled(model, name, make):
    """A tf.function built once per model and purpose (tracing costs seconds)."""
    if name not in model.compiled_functions:
        model.compiled_functions[name] = make()
    return model.compiled_functions[name]


def evaluate_costs(model, data_loader, use_mean_z=True, mask_pen_loss=False):
    """Average cost, r_cost and kl_cost over get_batch(0 .. num_batches-1),
    without dropout, as Magenta's evaluate_model.  As there, cost weighs KL
    by kl_weight_start (Magenta's eval model never anneals its KL weight),
    so costs compare across training steps."""
    costs = _compiled(model, f'costs mean_z={use_mean_z} masked={mask_pen_loss}',
                      lambda: tf.function(lambda x, seq_len: model.compute_costs(
                          x, seq_len, use_mean_z=use_mean_z, mask_pen_loss=mask_pen_loss)))
    totals = np.zeros(2)
    for i in range(data_loader.num_batches):
        _, x, seq_len = data_loader.get_batch(i)
        totals += [float(c) for c in costs(tf.constant(x, tf.float32), tf.constant(seq_len, tf.int32))]
    r_cost, kl_cost = totals / data_loader.num_batches
    return dict(cost=r_cost + model.hps.kl_weight_start * kl_cost, r_cost=r_cost, kl_cost=kl_cost)


def magenta_checkpoint_prefix(path):
    """A Magenta checkpoint folder (with its `checkpoint` file) or prefix -> prefix."""
    if os.path.isdir(path):
        prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            raise FileNotFoundError(f'{path}: no TensorFlow checkpoint in this folder')
        return prefix
    if not tf.io.gfile.exists(path + '.index'):
        raise FileNotFoundError(f'{path}: neither a checkpoint folder nor a checkpoint prefix')
    return path


def load_magenta_checkpoint(path, **overrides):
    """Builds the Seq2seqModel that a Magenta checkpoint describes (its
    model_config.json, beside it) and loads every weight.  `overrides` set
    hyper-parameters, e.g. batch_size."""
    prefix = magenta_checkpoint_prefix(path)
    config_path = os.path.join(os.path.dirname(prefix), 'model_config.json')
    if not os.path.exists(config_path):
        raise FileNotFoundError(f'{config_path}: missing; Magenta writes it beside the checkpoint')
    hps, _ = read_model_config(config_path, **overrides)
    model = Seq2seqModel(hps)
    reader = tf.train.load_checkpoint(prefix)

    def read(name):
        if not reader.has_tensor(name):
            raise ValueError(f'{prefix}: variable {name} missing; the checkpoint does not '
                             'match model_config.json')
        return reader.get_tensor(name)

    try:
        _assign_magenta_weights(model, read)
    except ValueError as err:  # a variable of another shape
        raise ValueError(f'{prefix}: does not match {config_path}: '
                         f'{str(err).splitlines()[0]}') from None
    return model


def _assign_magenta_weights(model, read):
    """Every trainable variable from its Magenta names (magenta_layout: the
    one place that knows them, which magenta_arrays inverts)."""
    for variable, names, fused in magenta_names.magenta_layout(model):
        parts = [read(name) for name in names]
        if fused == 'concat':
            variable.assign(np.concatenate(parts, axis=-1))
        else:
            variable.assign(np.stack(parts) if fused == 'stack' else parts[0])


def load_sketch_js(path, **overrides):
    """The decoder-only model of a @magenta/sketch JSON file (what
    seq2seqVAE_export.export_sketch_rnn_js writes, and Magenta's pretrained
    models): its int16 weights de-quantised into a plain LSTM decoder with
    the file's number of mixtures.  The file's scale_factor, the data's
    normalizing scale factor (data units = model units x it), is kept as
    model.normalizing_scale_factor.  Raises sketch_js.SketchJSError."""
    info, arrays, num_mixture = sketch_js.read_model(path)
    if 'initial_state' in info:  # our decoder-only models start from zeros
        raise sketch_js.SketchJSError(
            f'{path}: a conditional model exported at one z (info.initial_state); a '
            'decoder-only model cannot start from that state: load the model it came from')
    output_kernel, output_bias, w_xh, w_hh, bias = arrays
    hps = get_default_hparams()
    name = str(info.get('name') or os.path.basename(path).split('.')[0])
    for key, value in dict(conditional=False, dec_model='lstm', dec_rnn_size=w_hh.shape[0],
                           num_mixture=num_mixture, max_seq_len=info['max_seq_len'],
                           data_set=[f'{name}.npz'], **overrides).items():
        hps.set(key, value)
    model = Seq2seqModel(hps)
    for variable, value in ((model.decoder.W_xh, w_xh), (model.decoder.W_hh, w_hh),
                            (model.decoder.bias, bias), (model.output_layer.kernel, output_kernel),
                            (model.output_layer.bias, output_bias)):
        variable.assign(value)
    model.normalizing_scale_factor = float(info['scale_factor'])
    return model


def load_pretrained(name, progress=True, **overrides):
    """Magenta's pretrained decoder-only model NAME (one of
    sketchgen.pretrained.names(), e.g. 'cat'), downloaded once into the cache
    (download.cache_dir('models')); see load_sketch_js.  Raises
    pretrained.PretrainedError (unknown name, offline) or
    sketch_js.SketchJSError (a bad file)."""
    return load_sketch_js(pretrained.fetch_model(name, progress), **overrides)


# --------------------------------------------------------------------------
# Experiment folders (written by seq2seqVAE_train.py).
# --------------------------------------------------------------------------
CONFIG_EXTRAS = ('normalizing_scale_factor',)


def write_model_config(path, hps, **extras):
    """model_config.json: every hyper-parameter plus data facts (scale factor)."""
    values = dict(hps.values(), **extras)
    atomic.write_json(path, values, sort_keys=True)


ARCHITECTURE = ('conditional', 'enc_model', 'enc_rnn_size', 'dec_model', 'dec_rnn_size',
                'z_size', 'num_mixture')


def read_model_config(path, **overrides):
    """-> (hps, extras) from a model_config.json (ours or Magenta's), with
    `overrides` applied; ValueError with one line naming the file otherwise."""
    try:
        with open(path) as f:
            values = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f'{path}: not JSON ({err})') from None
    if isinstance(values, list):  # Magenta 2.1.4's trainer writes only the names
        missing = [name for name in ARCHITECTURE if name not in overrides]
        if missing:
            raise ValueError(
                f'{path}: lists hyper-parameter names without their values; write them as a '
                f'JSON object {{"name": value, ...}} or pass them, e.g. load_model(path, '
                f'{", ".join(f"{name}=..." for name in missing)})')
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f'{path}: holds a JSON {type(values).__name__}, not an object of '
                         'hyper-parameters')
    extras = {k: values.pop(k) for k in CONFIG_EXTRAS if k in values}
    try:
        hps = get_default_hparams()
        for name, value in dict(values, **overrides).items():
            hps.set(name, value)
    except ValueError as err:
        raise ValueError(f'{path}: {err}') from None
    return hps, extras


def experiment_paths(exp_dir):
    return dict(config=os.path.join(exp_dir, 'logs', 'model_config.json'),
                log=os.path.join(exp_dir, 'logs', 'log.txt'),
                flags=os.path.join(exp_dir, 'logs', 'flags.json'),
                lock=os.path.join(exp_dir, 'logs', 'run.lock'),
                best=os.path.join(exp_dir, 'checkpoints', 'best.weights.h5'),
                latest=os.path.join(exp_dir, 'checkpoints', 'latest'),
                samples=os.path.join(exp_dir, 'samples'),
                tensorboard=os.path.join(exp_dir, 'tensorboard'))


def training_checkpoint(model, **extra):
    """Everything an exact resume needs: weights, Adam moments and step,
    the dropout RNG, plus the trainer's bookkeeping variables."""
    return tf.train.Checkpoint(model=model, optimizer=model.optimizer,
                               dropout_seed=model.seed_generator.state, **extra)


def load_model(path, checkpoint=None, **overrides):
    """A trained model from an experiment folder (ours) or a Magenta
    checkpoint folder.  checkpoint: 'best' (default), 'latest', or a
    .weights.h5 file.  `overrides` set hyper-parameters (e.g. batch_size=1)."""
    paths = experiment_paths(path)
    if not os.path.exists(paths['config']):
        if checkpoint not in (None, 'best', 'latest'):
            path = checkpoint
        return load_magenta_checkpoint(path, **overrides)
    hps, _ = read_model_config(paths['config'], **overrides)
    model = Seq2seqModel(hps)
    if checkpoint == 'latest':
        latest = tf.train.latest_checkpoint(paths['latest'])
        if latest is None:
            raise FileNotFoundError(f'{paths["latest"]}: no latest checkpoint')
        tf.train.Checkpoint(model=model).restore(latest).expect_partial()
        return model
    weights = paths['best'] if checkpoint in (None, 'best') else checkpoint
    if not os.path.exists(weights):
        raise FileNotFoundError(f'{weights}: no checkpoint (has the experiment validated once?)')
    model.load_weights(weights)
    return model


# --------------------------------------------------------------------------
# Sampling
# Magenta's sample() one point at a time, the reference notebook's
# encode/decode, and a batched sampler that draws many sketches in one
# compiled loop.
# --------------------------------------------------------------------------
START_TOKEN = (0.0, 0.0, 1.0, 0.0, 0.0)  # S_0: the pen starts a new stroke
MIXTURE_KEYS = ('pi', 'mu1', 'mu2', 'sigma1', 'sigma2', 'corr', 'pen')
def _check_temperature(temperature):
    if not temperature > 0:
        raise ValueError(f'temperature must be > 0, got {temperature}')


def _adjust_temperature(pdf, temperature):
    """Magenta's adjust_temp: p^(1/T), renormalised (through logs)."""
    pdf = np.log(pdf) / temperature
    pdf -= pdf.max()
    pdf = np.exp(pdf)
    return pdf / pdf.sum()


def _pick_index(uniform, pdf, temperature, greedy):
    """Magenta's get_pi_idx: the argmax when greedy, else the first index
    whose cumulative (temperature-adjusted) probability reaches `uniform`."""
    if greedy:
        return int(np.argmax(pdf))
    cumulative = np.cumsum(_adjust_temperature(pdf, temperature))
    # Where rounding leaves the sum below `uniform` Magenta returns -1: the last.
    return min(int(np.searchsorted(cumulative, uniform)), len(pdf) - 1)


def _sample_gaussian_2d(mu1, mu2, s1, s2, rho, temp, greedy, rng):
    """Magenta's sample_gaussian_2d; it is passed sqrt(temperature), so the
    sigmas are scaled by the temperature itself."""
    if greedy:
        return mu1, mu2
    s1 *= temp * temp
    s2 *= temp * temp
    cov = [[s1 * s1, rho * s1 * s2], [rho * s1 * s2, s2 * s2]]
    x = rng.multivariate_normal([mu1, mu2], cov, 1)
    return x[0][0], x[0][1]


def _step_functions(model):
    """(prepare, step) of _decoder_steps, compiled; step: previous point
    [N, 5] -> (mixture parameters [N, ...], new state)."""
    prepare, advance, _ = _decoder_steps(model)

    @tf.function
    def step(point, state, shared, weights):
        state, h = advance(point, state, shared, weights)
        return model.mixture(model.output_layer(h)), state
    return tf.function(prepare), step


def sample(model, seq_len=250, temperature=1.0, greedy_mode=False, z=None, rng=None):
    """Magenta's sample(): draws one sketch point by point, each point fed
    back as the next input.  Returns (strokes5 [seq_len, 5], mixture_params:
    per step [pi, mu1, mu2, sigma1, sigma2, corr, pen] as numpy arrays).
    Like Magenta it always runs seq_len steps; to_normal_strokes cuts the
    sketch at its first end-of-sketch row.  z: [1, z_size], random normal if
    None (ignored by decoder-only models).  rng: a numpy Generator or
    RandomState (default: a fresh Generator)."""
    _check_temperature(temperature)
    rng = np.random.default_rng() if rng is None else rng
    if z is None:
        z = rng.standard_normal((1, model.hps.z_size))
    z = tf.constant(np.reshape(z, (1, -1)), tf.float32) if model.hps.conditional else None
    prepare, step = _compiled(model, 'step', lambda: _step_functions(model))
    state, shared, weights = prepare(z, 1)
    point = np.array([START_TOKEN], np.float32)
    strokes = np.zeros((seq_len, 5), np.float32)
    mixture_params = []
    for i in range(seq_len):
        params, state = step(tf.constant(point), state, shared, weights)
        params = [params[key].numpy()[0] for key in MIXTURE_KEYS]
        pi, mu1, mu2, sigma1, sigma2, corr, pen = params
        # Magenta's draw order: a uniform for the mixture, one for the pen,
        # then the Gaussian (the uniforms are drawn even when greedy).
        idx = _pick_index(rng.random(), pi, temperature, greedy_mode)
        pen_state = _pick_index(rng.random(), pen, temperature, greedy_mode)
        strokes[i, 0:2] = _sample_gaussian_2d(mu1[idx], mu2[idx], sigma1[idx], sigma2[idx],
                                              corr[idx], np.sqrt(temperature), greedy_mode, rng)
        strokes[i, 2 + pen_state] = 1
        mixture_params.append(params)
        point = strokes[i:i + 1]
    return strokes, mixture_params


def encode(model, strokes3, scale_factor=1.0):
    """Posterior mean z [1, z_size] of one stroke-3 sketch (the notebook's
    encode, without the sampling noise).

    The model reads offsets divided by its data's normalizing scale factor
    (the std of the training offsets, computed by utils.load_dataset and
    stored in our model_config.json): sketches from a DataLoader are already
    divided; for raw ones pass that factor as `scale_factor`.  The sketch is
    padded to hps.max_seq_len with end-of-sketch rows as the data loader does;
    the encoder reads the points after the start token (0, 0, 1, 0, 0)."""
    if not model.hps.conditional:
        raise ValueError('a decoder-only model (conditional=False) has no encoder')
    strokes = np.array(strokes3, np.float32)
    strokes[:, 0:2] /= scale_factor
    padded = utils.to_big_strokes(strokes, model.hps.max_seq_len)
    mu, _ = model.encode(tf.constant(padded[None], tf.float32), tf.constant([len(strokes)]))
    return mu.numpy()


def decode(model, z=None, temperature=1.0, greedy_mode=False, seq_len=None, rng=None):
    """The notebook's decode(): a stroke-3 sketch sampled from z (random
    normal if None) for seq_len steps (default hps.max_seq_len)."""
    strokes5, _ = sample(model, seq_len or model.hps.max_seq_len, temperature,
                         greedy_mode, z, rng)
    return utils.to_normal_strokes(strokes5)


def _pick_indices(uniform, logits, temperature):
    """_pick_index for a batch, from logits: softmax(logits / T) is Magenta's
    p^(1/T) renormalised.  The count of cumulative probabilities below the
    uniform is the first index whose cumulative sum reaches it."""
    below = tf.cumsum(tf.nn.softmax(logits / temperature), axis=-1) < uniform[:, None]
    return tf.minimum(tf.reduce_sum(tf.cast(below, tf.int32), -1), logits.shape[-1] - 1)


def _draw_points(output, temperature, greedy, seed):
    """One batched step of Magenta's draws from the output layer's
    [B, 3 + 6M] -> stroke-5 points [B, 5].  Only the chosen component's
    parameters go through exp and tanh (mixture_coefficients' transforms)."""
    pen_logits = output[:, :3]
    # [B, 6, M]: pi, mu1, mu2, log sigma1, log sigma2, pre-tanh corr
    components = tf.reshape(output[:, 3:], [-1, 6, (output.shape[-1] - 3) // 6])
    if greedy:
        idx, pen_state = tf.argmax(components[:, 0], -1), tf.argmax(pen_logits, -1)
    else:
        uniform_seed, normal_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        batch = tf.shape(output)[0]
        uniform = tf.random.stateless_uniform([batch, 2], uniform_seed)
        idx = _pick_indices(uniform[:, 0], components[:, 0], temperature)
        pen_state = _pick_indices(uniform[:, 1], pen_logits, temperature)
    mu1, mu2, log_s1, log_s2, pre_corr = tf.unstack(
        tf.gather(components[:, 1:], idx, axis=2, batch_dims=1), axis=1)
    x1, x2 = mu1, mu2
    if not greedy:
        scale = tf.square(tf.sqrt(temperature))  # as _sample_gaussian_2d
        s1, s2, rho = tf.exp(log_s1) * scale, tf.exp(log_s2) * scale, tf.tanh(pre_corr)
        eps = tf.random.stateless_normal([batch, 2], normal_seed)
        x1 += s1 * eps[:, 0]
        x2 += s2 * (rho * eps[:, 0] + tf.sqrt(1.0 - tf.square(rho)) * eps[:, 1])
    return tf.concat([tf.stack([x1, x2], -1), tf.one_hot(pen_state, 3)], -1)


def _decoder_steps(model):
    """The decoder one step at a time, for the samplers: (prepare, advance, batch_axis).
    prepare(z, num) -> (state, shared, weights): the initial state, the input
    projection common to all steps (z part, bias) and the weights as advance
    reads them; advance(point [N, 5], state, shared, weights) -> (state, h [N, H]).
    batch_axis: the batch axis of state and shared.

    A plain LSTM runs in lstm_sequence's layout: state feature-major [H, N]
    and [h; point] projected by one matmul (the faster form on CPU); the
    layer-norm and hyper cells run their kernels' step (sketchgen.norm_kernels),
    feature-major too."""
    cell = model.decoder
    if type(cell) is LSTMCell:
        def prepare(z, num):
            shared = (cell.project_inputs(tf.zeros([num, 1, 5]), z)[:, 0]  # bias included
                      + forget_bias_vector(cell.units, cell.forget_bias))
            W_T = tf.transpose(tf.concat([cell.W_hh, cell.W_xh[:5]], 0))  # [4H, H + 5]
            # Gate rows reordered i, f, o, j: one sigmoid covers three gates.
            i, j, f, o = tf.split(tf.concat([W_T, tf.transpose(shared)], 1), 4, axis=0)
            W_T, shared = tf.split(tf.concat([i, f, o, j], 0), [W_T.shape[1], num], axis=1)
            state = model.initial_state(z, num)
            return tuple(tf.transpose(s) for s in state), shared, W_T

        def advance(point, state, shared, W_T):
            c, h = state
            gates = tf.matmul(W_T, tf.concat([h, tf.transpose(point)], 0)) + shared
            # Slicing or splitting rows of [4H, N] copies them (~1 ms at
            # N = 1000); splits of [4, H * N] share its buffer.
            sigmoid_gates, j = tf.split(tf.reshape(gates, [4, -1]), [3, 1])
            i, f, o = tf.unstack(tf.reshape(tf.sigmoid(sigmoid_gates), [3, cell.units, -1]))
            c = c * f + i * tf.tanh(tf.reshape(j, [cell.units, -1]))
            h = tf.tanh(c) * o
            return (c, h), tf.transpose(h)
        return prepare, advance, 1

    if type(cell) is LayerNormLSTMCell:
        return norm_kernels.layer_norm_steps(cell, model.initial_state)
    return norm_kernels.hyper_steps(cell, model.initial_state)


def _batch_function(model, greedy):
    prepare, advance, batch_axis = _decoder_steps(model)
    @tf.function(reduce_retracing=True)
    def run(z, num, seq_len, temperature, seed):
        """-> stroke-5 rows [steps, num, 5], zeros after a sketch's end.

        Ended sketches leave the batch, so the work follows their total
        length, and the loop stops when none is drawing.  It is
        model.decode's step without its scan, and the z part of the decoder's
        input projection [point, z] is computed once, not at every step."""
        state, shared, weights = prepare(z, num)
        point = tf.tile(tf.constant([START_TOKEN]), [num, 1])
        drawing = tf.range(num)  # the sketches in the batch
        alive = tf.ones([num], tf.bool)  # which of them have not ended
        rows = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
        i = tf.constant(0)
        any_batch = lambda t: tf.TensorShape(  # noqa: E731
            [None if axis == batch_axis else size for axis, size in enumerate(t.shape)])
        while i < seq_len and tf.reduce_any(alive):
            tf.autograph.experimental.set_loop_options(shape_invariants=[
                (state, tuple(any_batch(s) for s in state)), (shared, any_batch(shared)),
                (point, tf.TensorShape([None, 5])), (drawing, tf.TensorShape([None])),
                (alive, tf.TensorShape([None]))])
            state, h = advance(point, state, shared, weights)
            point = _draw_points(model.output_layer(h), temperature, greedy,
                                 tf.random.experimental.stateless_fold_in(seed, i))
            rows = rows.write(i, tf.scatter_nd(drawing[:, None], tf.where(alive[:, None], point, 0.0),
                                               [num, 5]))
            alive &= point[:, 4] == 0
            # Ended sketches leave once they are an eighth of the batch:
            # copying the batch every step costs more than a few idle rows.
            if 8 * tf.reduce_sum(tf.cast(~alive, tf.int32)) >= tf.size(alive):
                keep = alive
                drawing, point, alive = (tf.boolean_mask(t, keep) for t in (drawing, point, alive))
                state, shared = tf.nest.map_structure(
                    lambda t, keep=keep: tf.boolean_mask(t, keep, axis=batch_axis), (state, shared))
            i += 1
        return rows.stack()
    return run


def sample_batch(model, num, seq_len=250, temperature=1.0, greedy_mode=False, z=None, seed=None):
    """Draws `num` sketches at once in one compiled loop, with sample()'s
    temperature and greedy semantics but TensorFlow's stateless random ops
    (reproducible from `seed`).  z: [1, z_size] shared, [num, z_size], or
    None (random normal from the seed; ignored by decoder-only models).
    Returns a list of stroke-5 arrays, each cut after its own first
    end-of-sketch row (or seq_len rows long)."""
    _check_temperature(temperature)
    if seed is None:
        seed = np.random.default_rng().integers(2 ** 31)
    z_seed, loop_seed = tf.unstack(tf.random.experimental.stateless_split(
        tf.constant([int(seed), 0], tf.int64), 2))
    if not model.hps.conditional:
        z = None
    elif z is None:
        z = tf.random.stateless_normal([num, model.hps.z_size], z_seed)
    else:
        z = tf.broadcast_to(tf.constant(z, tf.float32), [num, model.hps.z_size])
    run = _compiled(model, f'batch_greedy={greedy_mode}',
                    lambda: _batch_function(model, greedy_mode))
    rows = run(z, tf.constant(num), tf.constant(seq_len), tf.constant(temperature, tf.float32),
               loop_seed).numpy()
    sketches = []
    for strokes in np.transpose(rows, [1, 0, 2]):
        ends = np.flatnonzero(strokes[:, 4])
        sketches.append(strokes[:ends[0] + 1] if len(ends) else strokes)
    return sketches
