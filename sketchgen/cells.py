"""The recurrent cells: plain LSTM, layer-norm LSTM and HyperLSTM.

Each cell projects a whole input sequence at once
(`project_inputs`), so the time loop only multiplies the recurrent state.
States are tuples; `state_from_flat` reads Magenta's flat layout, which is
what the decoder's initial state tanh(W z + b) is laid out as.
"""
from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import keras
import tensorflow as tf

from sketchgen import norm_kernels
from sketchgen.hparams import CELL_TYPES
from sketchgen.lstm_kernel import lstm_sequence


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
