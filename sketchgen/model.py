"""The sketch-rnn VAE (`Seq2seqModel`), its losses, schedules and optimizer."""
from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import keras
import numpy as np
import tensorflow as tf

from sketchgen.adam import MagentaAdam
from sketchgen.cells import make_cell, run_rnn


ENCODER_SEGMENTS = 4  # time spans of the encoder's shrinking batch (see _encode_direction)
EVAL_SKETCHES = 1000  # sketches per call of evaluate_costs' network (whole batches)


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


def batch_mean(x, batch_size=None):
    """Mean of x [N, ...]; with batch_size, the mean of each consecutive
    batch_size rows, [N / batch_size]."""
    if batch_size is None:
        return tf.reduce_mean(x)
    return tf.reduce_mean(tf.reshape(x, [-1, batch_size * tf.size(x[0])]), 1)


def padded_mean(x, steps):
    """Mean of x [B, T] as if padded with zeros to [B, steps] (steps >= T)."""
    return tf.reduce_sum(x) / tf.cast(tf.shape(x)[0] * steps, x.dtype)


def reconstruction_loss(params, target, mask_pen_loss=False, batch_size=None, max_seq_len=None):
    """L_R of the paper (eq. 9): offset loss L_s, zero after the sketch ends,
    plus pen-state loss L_p (also masked when evaluating with masking); the
    mean is over batch x max_seq_len, as Magenta divides (see batch_mean).
    max_seq_len: a batch cut short of it (length buckets) is still divided
    by batch x max_seq_len, so the steps it skips count zero."""
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
    if max_seq_len is not None:
        return padded_mean(offset_loss + pen_loss, max_seq_len)
    return batch_mean(offset_loss + pen_loss, batch_size)


def kl_loss(mu, presig, kl_tolerance, batch_size=None):
    """KL(q(z|x) || N(0, I)) averaged over batch and z, floored at the
    tolerance (per batch: see batch_mean)."""
    kl = -0.5 * batch_mean(1.0 + presig - tf.square(mu) - tf.exp(presig), batch_size)
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
    """lr = (lr0 - min_lr) * decay_rate^step + min_lr, times `scale` when
    given (a variable: the factor a run's rollback sets, sketchgen.nonfinite)."""

    def __init__(self, learning_rate, decay_rate, min_learning_rate, scale=None):
        self.learning_rate = learning_rate
        self.decay_rate = decay_rate
        self.min_learning_rate = min_learning_rate
        self.scale = scale

    def __call__(self, step):
        # float64 as Magenta's Python arithmetic: float32 powers drift by 1e-5
        step = tf.cast(step, tf.float64)
        decay = tf.pow(tf.constant(self.decay_rate, tf.float64), step)
        lr = (self.learning_rate - self.min_learning_rate) * decay + self.min_learning_rate
        lr = tf.cast(lr, tf.float32)
        return lr if self.scale is None else lr * self.scale  # x 1.0 leaves every bit

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
    z, the mixture and the losses stay float32 (the default is all float32).
    length_buckets: training batches may stop short of max_seq_len
    (sketchgen.length_buckets); train_step divides their reconstruction loss
    by batch x max_seq_len all the same, Magenta's normaliser."""

    def __init__(self, hps, seed=None, length_buckets=False, **kwargs):
        super().__init__(**kwargs)
        policy = self.dtype_policy
        self.hps = hps
        self.length_buckets = length_buckets
        self.num_mixture = hps.num_mixture
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.compiled_functions = {}  # see cached_function
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

    def cached_function(self, name, make):
        """make(), a tf.function, built once per model and purpose (tracing costs seconds)."""
        if name not in self.compiled_functions:
            self.compiled_functions[name] = make()
        return self.compiled_functions[name]

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
                                    keep_masks=self._recurrent_masks(cell, part, training),
                                    feature_major=True, keep_activations=training)
            ends_here = tf.where((lengths > start) & (lengths <= end))[:, 0]
            last_h.append(_columns_at(hidden, tf.gather(lengths, ends_here) - 1 - start,
                                      ends_here))
            positions.append(tf.gather(order, ends_here))
        return tf.dynamic_stitch(positions, last_h)

    def sample_z(self, mu, presig, eps=None):
        """Reparameterisation: z = mu + sigma * eps, sigma = exp(presig / 2);
        eps [B, z_size] is drawn when None."""
        if eps is None:
            eps = tf.random.stateless_normal(tf.shape(mu), self._noise_seed())
        # Keras casts a call's tensor arguments to the compute dtype; z stays float32.
        return mu + tf.exp(presig / 2.0) * tf.cast(eps, mu.dtype)

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
                                self._recurrent_masks(self.decoder, strokes, training),
                                # XLA: faster at training's batch, slower at evaluation's
                                # larger forward-only batches (docs/performance.md).
                                feature_major=True, jit_compile=training,
                                keep_activations=training)
        if training and hps.use_output_dropout:
            hidden = self._dropout(hidden, hps.output_dropout_prob)
        return self._output(hidden), final

    def _output(self, hidden):
        """The output layer on the kernel's [T, H, B] -> [B, T, 3 + 6M]: each
        step's [H, B] block goes through the layer's weights, so only the
        output (3 + 6M rows a step against the hidden states' H) is transposed."""
        layer = self.output_layer
        kernel, bias = (tf.cast(w, self.compute_dtype) for w in (layer.kernel, layer.bias))
        output = tf.matmul(kernel, hidden, transpose_a=True) + bias[:, None]
        return tf.transpose(output, [2, 0, 1])

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
                      eps=None, batch_size=None, max_seq_len=None):
        """(r_cost, kl_cost) of the batch; with batch_size, x holds several
        batches of batch_size sketches and each gets its own costs, [N / batch_size].
        max_seq_len: x may stop short of it (see reconstruction_loss)."""
        params, mu, presig = self(dict(strokes=x, seq_len=seq_len), training=training,
                                  use_mean_z=use_mean_z, eps=eps)
        # Magenta masks the pen loss of models built with is_training=False.
        r_cost = reconstruction_loss(params, tf.cast(x[:, 1:], tf.float32),
                                     mask_pen_loss or not self.hps.is_training, batch_size,
                                     max_seq_len)
        if self.hps.conditional:
            kl_cost = kl_loss(mu, presig, self.hps.kl_tolerance, batch_size)
        else:
            kl_cost = tf.zeros_like(r_cost)
        return r_cost, kl_cost

    def train_step(self, data):
        x, seq_len, eps = _unpack(data)
        step = self.optimizer.iterations
        kl_weight = kl_weight_at(self.hps, step)
        with tf.GradientTape() as tape:
            r_cost, kl_cost = self.compute_costs(
                x, seq_len, training=True, eps=eps,
                max_seq_len=self.hps.max_seq_len if self.length_buckets else None)
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
            health = gradient_health(grads, clip)
            grads = [tf.clip_by_value(g, -clip, clip) / replicas for g in grads]
        else:
            health = gradient_health(grads, clip)
        lr = self.optimizer.learning_rate  # the rate this step uses, read before the update
        # A NaN or inf cost or gradient: no update at all (sketchgen.nonfinite).
        finite = tf.math.is_finite(cost) & tf.math.is_finite(health['grad_norm'])
        if replicas > 1:  # one decision for the whole batch
            finite = tf.distribute.get_replica_context().all_reduce(
                'SUM', tf.cast(~finite, tf.float32)) == 0
        apply_where(finite, self.optimizer, grads, self.trainable_variables)
        return dict(cost=cost, r_cost=r_cost, kl_cost=kl_cost, lr=lr, kl_weight=kl_weight,
                    skipped=1.0 - tf.cast(finite, tf.float32), **health)

    def test_step(self, data):
        x, seq_len, _ = _unpack(data)
        r_cost, kl_cost = self.compute_costs(x, seq_len, use_mean_z=True)
        return dict(cost=r_cost + self.hps.kl_weight_start * kl_cost, r_cost=r_cost, kl_cost=kl_cost)


def _columns_at(hidden, steps, columns):
    """hidden [T, H, B] at (steps[i], :, columns[i]) -> [N, H], gathered from
    the flat array rather than from a transposed copy of it."""
    steps, columns = tf.cast(steps, tf.int64), tf.cast(columns, tf.int64)  # T*H*B may pass 2^31
    units, batch = hidden.shape[1], tf.shape(hidden, out_type=tf.int64)[2]
    index = (steps[:, None] * units + tf.range(units, dtype=tf.int64)[None]) * batch + columns[:, None]
    return tf.gather(tf.reshape(hidden, [-1]), index)


def _unpack(data):
    """-> strokes, seq_len and the optional `eps` (fixed reparameterisation noise)."""
    inputs = keras.utils.unpack_x_y_sample_weight(data)[0]
    return inputs['strokes'], inputs['seq_len'], inputs.get('eps')


def gradient_health(grads, clip):
    """grad_norm: the global norm of the gradients before clipping (NaN or
    inf where any is, or where it passes float32's range); clipped: 1.0 where
    clipping by value at `clip` changes any element, else 0.0."""
    grad_norm = tf.linalg.global_norm(grads)
    if not clip:
        return dict(grad_norm=grad_norm, clipped=tf.zeros([]))
    largest = tf.reduce_max(tf.stack([tf.reduce_max(tf.abs(g)) for g in grads]))
    return dict(grad_norm=grad_norm, clipped=tf.cast(largest > clip, tf.float32))


def apply_where(finite, optimizer, grads, variables):
    """optimizer.apply_gradients where `finite` (a boolean tensor), else
    nothing at all: the weights, Adam's moments and its iteration count stay
    as they were.  Decided in the step's graph, with no round trip to the
    host.  Under tf.distribute the optimizer synchronises the replicas
    (merge_call), which a tf.cond taken in each replica cannot hold: there
    the cond is taken once, across replicas, as Keras' LossScaleOptimizer
    does (`finite` is the same on every replica)."""
    def apply():
        optimizer.apply_gradients(zip(grads, variables))

    if not optimizer.built:  # variables are made outside the cond
        optimizer.build(variables)
    if not tf.distribute.has_strategy():
        tf.cond(finite, apply, lambda: None)
        return

    def across_replicas(strategy, finite):
        tf.cond(strategy.experimental_local_results(finite)[0],
                lambda: strategy.extended.call_for_each_replica(apply), lambda: None)

    tf.distribute.get_replica_context().merge_call(across_replicas, args=(finite,))


def make_optimizer(hps, lr_scale=None):
    """Adam as Magenta's TF1 optimizer computes it (sketchgen.adam), on
    Magenta's learning-rate schedule (times lr_scale, a variable, when
    given), gradients clipped by value."""
    return MagentaAdam(
        learning_rate=LearningRateSchedule(hps.learning_rate, hps.decay_rate,
                                           hps.min_learning_rate, lr_scale),
        epsilon=1e-8, clipvalue=hps.grad_clip)


# --------------------------------------------------------------------------
# Evaluation.
# --------------------------------------------------------------------------
def evaluate_costs(model, data_loader, use_mean_z=False, mask_pen_loss=False, noise_seed=0):
    """Average cost, r_cost and kl_cost over get_batch(0 .. num_batches-1),
    without dropout, as Magenta's evaluate_model: z = mu + sigma * eps with
    eps drawn afresh for every batch (validation_noise(noise_seed, batch)),
    or z = mu with use_mean_z.  As there, cost weighs KL by kl_weight_start
    (Magenta's eval model never anneals its KL weight), so costs compare
    across training steps.

    Up to EVAL_SKETCHES sketches (whole batches) go through the network in
    one call, which keeps its matmuls busier than one batch does, yet every
    batch has its own costs, so KL's floor applies per batch as in Magenta."""
    batch_size = data_loader.batch_size
    draws = model.hps.conditional and not use_mean_z
    costs = model.cached_function(
        f'costs draws={draws} masked={mask_pen_loss} batch={batch_size}',
        lambda: tf.function(
            lambda x, seq_len, eps: model.compute_costs(
                x, seq_len, use_mean_z=not draws, mask_pen_loss=mask_pen_loss,
                eps=eps if draws else None, batch_size=batch_size),
            input_signature=[tf.TensorSpec([None, None, 5], tf.float32),
                             tf.TensorSpec([None], tf.int32),
                             tf.TensorSpec([None, model.hps.z_size], tf.float32)]))
    per_call = max(1, EVAL_SKETCHES // batch_size)
    totals = np.zeros(2)
    for first in range(0, data_loader.num_batches, per_call):
        indices = range(first, min(first + per_call, data_loader.num_batches))
        batches = [data_loader.get_batch(i) for i in indices]
        x, seq_len = (np.concatenate([batch[k] for batch in batches]) for k in (1, 2))
        eps = np.concatenate([validation_noise(noise_seed, i, batch_size, model.hps.z_size)
                              if draws else np.zeros((batch_size, model.hps.z_size), np.float32)
                              for i in indices])
        r_costs, kl_costs = costs(tf.constant(x, tf.float32), tf.constant(seq_len, tf.int32),
                                  tf.constant(eps))
        totals += [np.sum(r_costs.numpy(), dtype=np.float64), np.sum(kl_costs.numpy(), dtype=np.float64)]
    r_cost, kl_cost = totals / data_loader.num_batches
    return dict(cost=r_cost + model.hps.kl_weight_start * kl_cost, r_cost=r_cost, kl_cost=kl_cost)


def validation_noise(noise_seed, batch, batch_size, z_size):
    """The eps [batch_size, z_size] evaluate_costs draws z with for batch
    `batch`: standard normal from numpy's generator seeded with (*noise_seed,
    batch); noise_seed is an int or a sequence of them (the trainer's: the
    run's seed and the step), so a validation can be repeated exactly."""
    entropy = [int(s) for s in np.atleast_1d(noise_seed)] + [int(batch)]
    return np.random.default_rng(entropy).standard_normal((batch_size, z_size)).astype(np.float32)
