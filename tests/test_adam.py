"""Our Adam is Magenta's: tf.compat.v1.train.AdamOptimizer's float32 updates,
bit for bit, where Keras' own Adam drifts from them (sketchgen/adam.py)."""
import numpy as np
import pytest
import tensorflow as tf

import keras
from sketchgen.adam import POWER_STEPS, MagentaAdam, running_powers

STEPS = 40


def trajectories(make_optimizer, steps=STEPS, seed=0):
    """Two variables after each of `steps` updates by the optimizer, from
    the same seeded start and gradients (some tiny, as Adam's first steps amplify)."""
    rng = np.random.default_rng(seed)
    start = [rng.normal(0, 0.1, (64, 32)).astype(np.float32),
             rng.normal(0, 0.1, (32,)).astype(np.float32)]
    grads = [[(rng.normal(0, 1, v.shape) * 10.0 ** rng.integers(-7, 1, v.shape)
               ).astype(np.float32) for v in start] for _ in range(steps)]
    variables = [tf.Variable(v) for v in start]
    optimizer = make_optimizer()
    out = []
    for step_grads in grads:
        optimizer.apply_gradients(zip([tf.constant(g) for g in step_grads], variables))
        out.append([v.numpy().copy() for v in variables])
    return out


def tf1_adam():
    return tf.compat.v1.train.AdamOptimizer(0.001, epsilon=1e-8)


def test_every_update_is_tf1s_bit_for_bit():
    for step, (ours, theirs) in enumerate(zip(trajectories(lambda: MagentaAdam(0.001)),
                                              trajectories(tf1_adam)), 1):
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b, err_msg=f'step {step}')


def test_keras_adam_is_not_tf1s():
    """What the class is for: Keras' Adam differs from step 1 on."""
    ours = trajectories(lambda: keras.optimizers.Adam(0.001, epsilon=1e-8), steps=1)
    theirs = trajectories(tf1_adam, steps=1)
    assert not np.array_equal(ours[0][0], theirs[0][0])


def test_the_power_table_is_tf1s_running_product_then_pow():
    beta = np.float32(0.999)
    product = beta
    for t in range(1, 200):
        assert running_powers(beta)[t - 1] == product
        product = np.float32(product * beta)
    # Past the table, 1 - beta^t is 1 in float32 with the product and with pow.
    assert np.float32(1) - running_powers(beta)[-1] == 1
    power = MagentaAdam.power(tf.constant(running_powers(beta)), float(beta),
                              tf.constant(POWER_STEPS + 5, tf.int64))
    assert float(power) == pytest.approx(float(beta) ** (POWER_STEPS + 5), rel=1e-4)
