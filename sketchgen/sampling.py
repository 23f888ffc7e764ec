"""Drawing sketches: Magenta's sample() one point at a time, the reference
notebook's encode/decode, a batched sampler that draws many sketches in
one compiled loop, and completion, which continues a sketch someone began
in that same loop."""
from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import numpy as np
import tensorflow as tf

from sketchgen.model import Seq2seqModel
from sketchgen.strokes import SketchDataError, to_big_strokes, to_normal_strokes


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


def float32_model(model):
    """`model` itself, or, for a model that computes in another dtype (mixed
    bfloat16), a float32 twin holding its current weights.  Sampling and
    encoding run in float32, the weights' own dtype: outside a Keras call
    nothing casts a mixed model's weights to its compute dtype, and a few
    sketches at a time gain nothing from bfloat16."""
    if model.compute_dtype == 'float32':
        return model
    twin = model.cached_function('float32 twin', lambda: Seq2seqModel(model.hps))
    for target, source in zip(twin.trainable_variables, model.trainable_variables):
        target.assign(source)
    return twin


def _step_functions(model):
    """(prepare, step) of the decoder's decode_steps, compiled; step: previous point
    [N, 5] -> (mixture parameters [N, ...], new state)."""
    prepare, advance, _ = model.decoder.decode_steps(model.initial_state)

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
    model = float32_model(model)
    rng = np.random.default_rng() if rng is None else rng
    if z is None:
        z = rng.standard_normal((1, model.hps.z_size))
    z = tf.constant(np.reshape(z, (1, -1)), tf.float32) if model.hps.conditional else None
    prepare, step = model.cached_function('step', lambda: _step_functions(model))
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
    model = float32_model(model)
    strokes = np.array(strokes3, np.float32)
    strokes[:, 0:2] /= scale_factor
    padded = to_big_strokes(strokes, model.hps.max_seq_len)
    mu, _ = model.encode(tf.constant(padded[None], tf.float32), tf.constant([len(strokes)]))
    return mu.numpy()


def decode(model, z=None, temperature=1.0, greedy_mode=False, seq_len=None, rng=None):
    """The notebook's decode(): a stroke-3 sketch sampled from z (random
    normal if None) for seq_len steps (default hps.max_seq_len)."""
    strokes5, _ = sample(model, seq_len or model.hps.max_seq_len, temperature,
                         greedy_mode, z, rng)
    return to_normal_strokes(strokes5)


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


def _batch_function(model, greedy):
    @tf.function(reduce_retracing=True)
    def run(z, num, seq_len, temperature, seed, state=None, point=None):
        """-> stroke-5 rows [steps, num, 5], zeros after a sketch's end.

        The decoder starts from its initial state at z and the start token,
        or from `state` (the model's layout, as model.decode returns it) with
        `point` [num, 5], the next input, as completion starts.  Ended
        sketches leave the batch, so the work follows their total length,
        and the loop stops when none is drawing.  It is model.decode's step
        without its scan, and the z part of the decoder's input projection
        [point, z] is computed once, not at every step."""
        prepare, advance, batch_axis = model.decoder.decode_steps(
            model.initial_state if state is None else lambda z, num: state)
        state, shared, weights = prepare(z, num)
        if point is None:
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


def _seeds(seed):
    """(z's seed, the loop's seed) from the caller's seed (default: a random one)."""
    if seed is None:
        seed = np.random.default_rng().integers(2 ** 31)
    return tf.unstack(tf.random.experimental.stateless_split(
        tf.constant([int(seed), 0], tf.int64), 2))


def _latents(model, num, z, z_seed):
    """z for `num` sketches: None for decoder-only models, else the given z
    ([1, z_size] shared or [num, z_size]) or one N(0, I) draw each."""
    if not model.hps.conditional:
        return None
    if z is None:
        return tf.random.stateless_normal([num, model.hps.z_size], z_seed)
    return tf.broadcast_to(tf.constant(z, tf.float32), [num, model.hps.z_size])


def _draw_batch(model, num, seq_len, temperature, greedy_mode, z, loop_seed, state=None,
                point=None):
    """The compiled loop's sketches as stroke-5 arrays, each cut after its own
    first end-of-sketch row (or seq_len rows long)."""
    run = model.cached_function(f'batch_greedy={greedy_mode}',
                                lambda: _batch_function(model, greedy_mode))
    rows = run(z, tf.constant(num), tf.constant(seq_len), tf.constant(temperature, tf.float32),
               loop_seed, state, point).numpy()
    sketches = []
    for strokes in np.transpose(rows, [1, 0, 2]):
        ends = np.flatnonzero(strokes[:, 4])
        sketches.append(strokes[:ends[0] + 1] if len(ends) else strokes)
    return sketches


def sample_batch(model, num, seq_len=250, temperature=1.0, greedy_mode=False, z=None, seed=None):
    """Draws `num` sketches at once in one compiled loop, with sample()'s
    temperature and greedy semantics but TensorFlow's stateless random ops
    (reproducible from `seed`).  z: [1, z_size] shared, [num, z_size], or
    None (random normal from the seed; ignored by decoder-only models).
    Returns a list of stroke-5 arrays, each cut after its own first
    end-of-sketch row (or seq_len rows long)."""
    _check_temperature(temperature)
    model = float32_model(model)
    z_seed, loop_seed = _seeds(seed)
    z = _latents(model, num, z, z_seed)
    return _draw_batch(model, num, seq_len, temperature, greedy_mode, z, loop_seed)


def _prefix_inputs(strokes3, scale_factor=1.0):
    """The decoder's teacher-forced inputs for a partial stroke-3 sketch:
    the start token, then its rows as stroke-5 (offsets / scale_factor, no
    end-of-sketch row), [len + 1, 5] float32."""
    prefix = np.array(strokes3, np.float32)
    if prefix.size == 0:
        prefix = prefix.reshape(0, 3)
    if prefix.ndim != 2 or prefix.shape[1] != 3:
        raise SketchDataError(f'a partial sketch is an (N, 3) array of (dx, dy, pen_lifted); '
                              f'got shape {prefix.shape}')
    prefix[:, 0:2] /= scale_factor
    return np.concatenate([[START_TOKEN], to_big_strokes(prefix, len(prefix))]).astype(np.float32)


def _read_prefix(model, inputs, z):
    """The decoder's state after all but the last of the teacher-forced
    `inputs` [num, T, 5], from model.decode (the training pass, at z [num,
    z_size] or None), in the model's layout; the last input is the sampling
    loop's first.  None when the start token is the only input: the loop
    then starts from the initial state, as sample_batch does."""
    if inputs.shape[1] == 1:
        return None
    read = model.cached_function('read_prefix', lambda: tf.function(
        lambda x, z: model.decode(x, z)[1], reduce_retracing=True))
    return read(tf.constant(inputs[:, :-1]), z)


def complete(model, strokes, num=1, seq_len=250, temperature=1.0, greedy_mode=False, z=None,
             seed=None, scale_factor=1.0):
    """Finishes a sketch someone began: `num` continuations of the partial
    stroke-3 sketch `strokes`, drawn together in sample_batch's loop.

    The decoder reads the sketch as in training (teacher forcing from the
    start token, model.decode), then samples the rest with sample_batch's
    temperature, greedy and seed semantics, for at most seq_len rows more.
    Offsets are divided by `scale_factor`, as encode does: the data's
    normalizing scale factor for raw sketches, 1.0 (the default) for
    sketches in model units.  z: [1, z_size] shared, [num, z_size], or None
    (random normal from the seed; ignored by decoder-only models); a z from
    encode() of another sketch continues this one in that sketch's manner.
    An empty sketch gives what sample_batch gives with the same arguments.

    Returns a list of `num` stroke-5 arrays in model units, as sample_batch:
    the sketch's own rows (len(strokes) of them) followed by one
    continuation, cut after its first end-of-sketch row."""
    _check_temperature(temperature)
    model = float32_model(model)
    prefix = _prefix_inputs(strokes, scale_factor)
    z_seed, loop_seed = _seeds(seed)
    z = _latents(model, num, z, z_seed)
    inputs = np.tile(prefix[None], [num, 1, 1])
    continuations = _draw_batch(model, num, seq_len, temperature, greedy_mode, z, loop_seed,
                                _read_prefix(model, inputs, z),
                                None if len(prefix) == 1 else tf.constant(inputs[:, -1]))
    return [np.concatenate([prefix[1:], rows]) for rows in continuations]
