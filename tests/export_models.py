"""Small random models and what tests/test_export.py and tests/test_export_js.py
compare of them: exported arrays, our mixture parameters and the error that
quantising the exported weights can cause in them."""
import base64
import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import seq2seqVAE as S
from sketchgen.sketch_js import QUANT_STEP

REPO = Path(__file__).resolve().parents[1]
KEYS = ('pi', 'mu1', 'mu2', 'sigma1', 'sigma2', 'corr', 'pen')
SCALE_FACTOR = 12.5
# TF and TensorFlow.js sum in different orders, in float32.
FLOAT32_SLACK = 1e-5


def make_model(seed=0, **overrides):
    """A small random model with 20 mixtures, made less trivial than its
    initialisation: Magenta's tiny init of the z -> state layer would give an
    initial state of ~0, and a pen-end bias keeps samples a few strokes long."""
    hps = S.get_default_hparams()
    values = dict(dec_rnn_size=16, enc_rnn_size=8, z_size=4, num_mixture=20, max_seq_len=40,
                  batch_size=1)
    for name, value in dict(values, **overrides).items():
        hps.set(name, value)
    keras.utils.set_random_seed(seed)
    model = S.Seq2seqModel(hps)
    rng = np.random.default_rng(seed)
    if hps.conditional:
        layer = model.initial_state_layer
        layer.kernel.assign(rng.normal(0, 0.5, layer.kernel.shape))
    bias = model.output_layer.bias.numpy()
    bias[2] = -3.0
    model.output_layer.bias.assign(bias)
    return model


Z = np.array([0.3, -1.2, 0.8, 0.1], np.float32)


def z_for(model):
    return Z if model.hps.conditional else None


def read_export(path):
    info, dimensions, strings = json.loads(Path(path).read_text())
    arrays = [QUANT_STEP * np.frombuffer(base64.b64decode(s), '<i2').reshape(d)
              for s, d in zip(strings, dimensions)]
    return info, dimensions, arrays


def strokes(steps=10, seed=3):
    """S_0 then random stroke-5 rows, model units."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((steps, 5), np.float32)
    rows[0] = [0, 0, 1, 0, 0]
    rows[1:, 0:2] = rng.normal(0, 1, (steps - 1, 2))
    lifted = rng.random(steps - 1) < 0.3
    rows[1:, 2], rows[1:, 3] = ~lifted, lifted
    return rows


def mixture_params(model, rows, z):
    """Our mixture parameters after each row, [steps, 6 * 20 + 3] in KEYS order."""
    out, _ = model.decode(tf.constant(rows[None]), None if z is None else tf.constant(z[None]))
    params = model.mixture(out)
    return tf.concat([params[k][0] for k in KEYS], -1)


def quantisation_tolerance(model, rows, z):
    """First-order worst case of rounding every exported weight by up to half
    a quantisation step: QUANT_STEP / 2 * sum |d param / d weight| over the
    exported weights (the z rows of W_xh are not exported: their term is in
    the bias, which has the bias's gradient)."""
    cell, out = model.decoder, model.output_layer
    weights = [out.kernel, out.bias, cell.W_xh, cell.W_hh, cell.bias]

    @tf.function  # a graph loop over the outputs: twice as fast as eager
    def params_and_l1():
        with tf.GradientTape(persistent=True) as tape:  # the loop below needs a persistent tape
            params = mixture_params(model, rows, z)
        # Without pfor: it cannot vectorise the fused LSTM's custom gradient.
        jacobians = tape.jacobian(params, weights, experimental_use_pfor=False)
        jacobians[2] = jacobians[2][:, :, :5]
        flat = tf.concat([tf.shape(params), [-1]], 0)
        return params, sum(tf.reduce_sum(tf.abs(tf.reshape(j, flat)), -1) for j in jacobians)

    params, l1 = params_and_l1()
    return params.numpy(), QUANT_STEP / 2 * l1.numpy() + FLOAT32_SLACK
