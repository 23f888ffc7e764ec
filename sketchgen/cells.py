"""The recurrent cells: plain LSTM, layer-norm LSTM and HyperLSTM.

Every cell has the same methods, so callers never ask which cell they hold:
- `project_static(static)`: the input projection shared by all steps;
- `run_sequence(seq, state, static, keep_masks, jit_compile,
  keep_activations)`: a whole sequence through the cell's kernel
  (sketchgen.lstm_kernel, sketchgen.norm_kernels), outputs in the kernels'
  layout [T, H, B];
- `decode_steps(initial_state)`: one step at a time, for the samplers;
- `project_inputs` and `step`: one step, batch-major, the autodiff reference
  the tests scan.  The step math is written once, feature-major, in the
  kernel modules; `step` calls it transposed.
States are tuples; `state_from_flat` reads Magenta's flat layout, which is
what the decoder's initial state tanh(W z + b) is laid out as.
"""
from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import keras
import tensorflow as tf

from sketchgen import lstm_kernel, norm_kernels
from sketchgen.hparams import CELL_TYPES
from sketchgen.lstm_kernel import forget_bias_vector, lstm_sequence, lstm_step


class LSTMOrthogonal(keras.initializers.Initializer):
    """Orthogonal initialisation of each of the four gate blocks separately."""

    def __call__(self, shape, dtype=None):
        rows, cols = shape
        blocks = [keras.initializers.Orthogonal()((rows, cols // 4), dtype=dtype)
                  for _ in range(4)]
        return keras.ops.concatenate(blocks, axis=1)


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
        self._add_lstm_weights(input_dim, gate_bias=True)

    def _add_lstm_weights(self, input_dim, gate_bias):
        """W_xh, W_hh and the gate bias, which every cell creates first, in this order."""
        self.W_xh = self.add_weight(name='W_xh', shape=(input_dim, 4 * self.units),
                                    initializer='glorot_uniform')
        self.W_hh = self.add_weight(name='W_hh', shape=(self.units, 4 * self.units),
                                    initializer=LSTMOrthogonal())
        if gate_bias:
            self.bias = self.add_weight(name='bias', shape=(4 * self.units,), initializer='zeros')

    def project_inputs(self, seq, static=None):
        """seq [B, T, F] (+ static [B, S] shared by all steps) -> [B, T, 4H]."""
        return _project(seq, static, self.W_xh) + self.bias

    def project_static(self, static, batch=1):
        """[B, 4H]: the input projection shared by all steps, static [B, S]
        through W_xh's last S rows, plus the bias; the bias alone, [batch, 4H],
        without static inputs."""
        if static is None:
            return tf.tile(self.bias[None], [batch, 1])
        return _project_static(static, self.W_xh) + self.bias

    def state_from_flat(self, flat):
        c, h = tf.split(flat, 2, axis=-1)
        return (c, h)

    def zero_state(self, batch_size):
        return self.state_from_flat(tf.zeros([batch_size, self.state_size], self.compute_dtype))

    @staticmethod
    def output(state):
        return state[1]

    def step(self, projected, state, keep_mask):
        """One step, batch-major: projected [B, 4H] (project_inputs at one
        step), state (c, h) -> new state; lstm_kernel.lstm_step, transposed."""
        c, h = state
        forget_bias = tf.cast(forget_bias_vector(self.units, self.forget_bias), projected.dtype)
        c, h, _ = lstm_step(tf.transpose(self.W_hh), tf.transpose(h),
                            tf.transpose(projected) + forget_bias[:, None], tf.transpose(c),
                            _transpose(keep_mask))
        return (tf.transpose(c), tf.transpose(h))

    def run_sequence(self, seq, state, static=None, keep_masks=None, jit_compile=False,
                     keep_activations=True):
        """See run_rnn: the fused kernel of sketchgen.lstm_kernel."""
        hidden, c, h = lstm_sequence(_feature_major(seq), tf.transpose(self.project_static(static)),
                                     self.W_xh[:seq.shape[-1]], self.W_hh, *state, keep_masks,
                                     self.forget_bias, jit_compile, keep_activations)
        return hidden, (c, h)

    def decode_steps(self, initial_state):
        """The decoder one step at a time, for the samplers: (prepare, advance,
        batch_axis).  prepare(z, num) -> (state, shared, weights): the initial
        state from initial_state(z, num), the input projection common to all
        steps (project_static) and the weights as advance reads them;
        advance(point [N, 5], state, shared, weights) -> (state, h [N, H]);
        batch_axis: the batch axis of state and shared (feature-major: 1)."""
        return lstm_kernel.lstm_steps(self, initial_state)


class LayerNormLSTMCell(LSTMCell):
    """LSTM with layer norm on each gate and on the cell (no gate bias: the
    layer-norm beta plays its part).  Magenta's flat state layout is [h, c]."""

    magenta_scope = 'LayerNormLSTMCell'

    def build(self, input_dim):
        self._add_lstm_weights(input_dim, gate_bias=False)
        self._add_norms()

    def _add_norms(self):
        self.ln_all_gamma, self.ln_all_beta = self._ln_weights('ln_all', 4 * self.units)
        self.ln_c_gamma, self.ln_c_beta = self._ln_weights('ln_c', self.units)

    def _ln_weights(self, name, size):
        return (self.add_weight(name=f'{name}_gamma', shape=(size,), initializer='ones'),
                self.add_weight(name=f'{name}_beta', shape=(size,), initializer='zeros'))

    def project_inputs(self, seq, static=None):
        return _project(seq, static, self.W_xh)

    def project_static(self, static, batch=1):
        """[B, 4H]: static [B, S] through W_xh's last S rows; zeros [batch, 4H]
        without static inputs (no bias: layer norm's beta follows)."""
        if static is None:
            return tf.zeros([batch, 4 * self.units], self.W_xh.dtype)
        return _project_static(static, self.W_xh)

    def state_from_flat(self, flat):
        h, c = tf.split(flat, 2, axis=-1)
        return (c, h)

    def step(self, projected, state, keep_mask):
        """One step, batch-major: projected [B, 4H] (project_inputs at one
        step), state (c, h) -> new state; norm_kernels.layer_norm_step, transposed."""
        c, h, _ = norm_kernels.layer_norm_step(
            tf.transpose(self.W_hh), self._kernel_norms(), tf.transpose(state[1]),
            tf.transpose(projected), tf.transpose(state[0]), _transpose(keep_mask))
        return (tf.transpose(c), tf.transpose(h))

    def _kernel_norms(self):
        return norm_kernels.layer_norms(self.units, self.forget_bias, self.ln_all_gamma,
                                        self.ln_all_beta, self.ln_c_gamma, self.ln_c_beta)

    def run_sequence(self, seq, state, static=None, keep_masks=None, jit_compile=False,
                     keep_activations=True):
        """See run_rnn: sketchgen.norm_kernels' layer-norm kernel."""
        norms = (self.ln_all_gamma, self.ln_all_beta, self.ln_c_gamma, self.ln_c_beta)
        hidden, c, h = norm_kernels.layer_norm_sequence(
            _feature_major(seq), tf.transpose(self.project_static(static)),
            self.W_xh[:seq.shape[-1]], self.W_hh, norms, *state, keep_masks, self.forget_bias,
            jit_compile, keep_activations)
        return hidden, (c, h)

    def decode_steps(self, initial_state):
        """See LSTMCell.decode_steps: the layer-norm kernel's step."""
        return norm_kernels.layer_norm_steps(self, initial_state)


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
        self._add_lstm_weights(input_dim, gate_bias=True)
        self._add_norms()
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

    def project_static(self, static, batch=1):
        """[B, 4H + 4Hh]: static [B, S] through the main and the hyper cell's
        W_xh, side by side; zeros [batch, 4H + 4Hh] without static inputs (no
        bias: the main cell scales its input projection before its bias)."""
        if static is None:
            return tf.zeros([batch, 4 * (self.units + self.hyper_units)], self.W_xh.dtype)
        return tf.concat([_project_static(static, self.W_xh),
                          _project_static(static, self.hyper_cell.W_xh[:self.input_dim])], -1)

    def kernel_weights(self, seq_dim):
        """The weights as norm_kernels.hyper_sequence takes them, for seq_dim per-step features."""
        hyper = self.hyper_cell
        return norm_kernels.HyperWeights(
            self.W_xh[:seq_dim], self.W_hh, self.bias, self.ln_all_gamma, self.ln_all_beta,
            self.ln_c_gamma, self.ln_c_beta,
            hyper.W_xh[:seq_dim], hyper.W_xh[self.input_dim:], hyper.W_hh, hyper.ln_all_gamma,
            hyper.ln_all_beta, hyper.ln_c_gamma, hyper.ln_c_beta,
            self.zw_w, self.zw_b, self.alpha_w, self.zb_w, self.beta_w)

    def state_from_flat(self, flat):
        total_h, total_c = tf.split(flat, 2, axis=-1)
        return (total_c[:, :self.units], total_h[:, :self.units],
                total_c[:, self.units:], total_h[:, self.units:])

    def step(self, projected, state, keep_mask):
        """One step, batch-major: projected [B, 4H + 4Hh] (project_inputs at
        one step), state -> new state; norm_kernels.hyper_step, transposed."""
        c, h, hyper_c, hyper_h = (tf.transpose(s) for s in state)
        x_main, x_hyper = tf.split(tf.transpose(projected), [4 * self.units, 4 * self.hyper_units])
        r = tf.matmul(self.hyper_cell.W_hh, hyper_h, transpose_a=True)  # the hyper cell's h part
        new, _, _ = norm_kernels.hyper_step(
            norm_kernels.fuse_hyper_weights(self.kernel_weights(self.input_dim), self.forget_bias),
            tf.reshape(x_main, [4, self.units, -1]), x_hyper, (c, h, hyper_c, hyper_h), r,
            _transpose(keep_mask))
        return tuple(tf.transpose(s) for s in new)

    def run_sequence(self, seq, state, static=None, keep_masks=None, jit_compile=False,
                     keep_activations=True):
        """See run_rnn: sketchgen.norm_kernels' hyper kernel."""
        hidden, final = norm_kernels.hyper_sequence(
            _feature_major(seq), tf.transpose(self.project_static(static)),
            self.kernel_weights(seq.shape[-1]), state, keep_masks, self.forget_bias, jit_compile,
            keep_activations)
        return hidden, final

    def decode_steps(self, initial_state):
        """See LSTMCell.decode_steps: the hyper kernel's step; its state
        carries the hyper cell's next recurrent input r as well."""
        return norm_kernels.hyper_steps(self, initial_state)


def _project_static(static, weights):
    """static [B, S] through the last S rows of weights (the rows that read it)."""
    return tf.matmul(static, weights[weights.shape[0] - static.shape[-1]:])


def _project(seq, static, weights):
    """seq @ W[:F] (+ static @ W[F:] once for all steps, not every step)."""
    out = tf.einsum('btf,fg->btg', seq, weights[:seq.shape[-1]])
    if static is not None:
        out += _project_static(static, weights)[:, None, :]
    return out


CELLS = {'lstm': LSTMCell, 'layer_norm': LayerNormLSTMCell, 'hyper': HyperLSTMCell}


def make_cell(kind, units, name, dtype=None):
    if kind not in CELLS:
        raise ValueError(f"unknown cell '{kind}': choose one of {', '.join(CELL_TYPES)}")
    return CELLS[kind](units, name=name, dtype=dtype)


def run_rnn(cell, seq, state, static=None, keep_masks=None, feature_major=False,
            jit_compile=False, keep_activations=True):
    """Runs `cell` over inputs seq [B, T, F] (+ static [B, S], features shared
    by all steps) from `state`, with the cell's whole-sequence kernel (its
    `step` over all steps, hand-written backward pass).  keep_masks [T, H, B]:
    recurrent-dropout masks already scaled by 1/keep.  jit_compile: the
    kernel's loops compiled by XLA, once for each new input shape;
    keep_activations=False for forward-only use (see lstm_sequence).  Returns
    (outputs h [B, T, H], or the kernels' [T, H, B] if feature_major, final state)."""
    hidden, final = cell.run_sequence(seq, state, static, keep_masks, jit_compile,
                                      keep_activations)
    return (hidden if feature_major else _batch_major(hidden)), final


def scan_rnn(cell, seq, state, static=None, keep_masks=None, feature_major=False,
             jit_compile=False, keep_activations=True):
    """run_rnn's contract, by tf.scan over cell.step, autodiff doing the
    backward pass: the reference the kernels are held equal to
    (tests/test_kernels.py, bench/bench_kernels.py), many times slower.
    jit_compile and keep_activations, which change only how run_rnn's loops
    run, are ignored."""
    elems = [tf.transpose(cell.project_inputs(seq, static), [1, 0, 2])]
    if keep_masks is not None:
        elems.append(tf.transpose(keep_masks, [0, 2, 1]))
    states = tf.scan(lambda prev, x: cell.step(x[0], prev, x[1] if keep_masks is not None else None),
                     tuple(elems), initializer=tuple(state))
    hidden = cell.output(states)  # [T, B, H]
    return (tf.transpose(hidden, [0, 2, 1] if feature_major else [1, 0, 2]),
            tuple(s[-1] for s in states))


def _feature_major(seq):
    """[B, T, F] -> the kernels' layout [T, F, B]."""
    return tf.transpose(seq, [1, 2, 0])


def _transpose(mask):
    return None if mask is None else tf.transpose(mask)


def _batch_major(hidden):
    """The kernels' [T, H, B] -> [B, T, H]."""
    return tf.transpose(hidden, [2, 0, 1])
