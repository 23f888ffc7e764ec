"""Adam as Magenta's optimizer, TF1's tf.train.AdamOptimizer, computes it.

Keras' Adam has TF1's update formula, but two of its float32 numbers differ:
- TF1 holds beta1 = 0.9 and beta2 = 0.999 as float32 and computes 1 - beta
  in float32; Keras computes 1 - beta from the Python float.  1 - float32(0.999)
  is 1.3e-5 below 0.001, which made every Keras update 6.6e-6 smaller than
  Magenta's.  Giving Keras the float32 values makes both the same.
- TF1 keeps beta^t as a float32 variable multiplied by beta after every step;
  Keras takes float32 pow(beta, t), which differs from the running product by
  an ulp at some steps, and 1 - beta2^t magnifies that: the step size of
  step 3 differed by 1e-5, of steps up to 100 by 2e-6.  Here beta^t is the
  running product, tabled up to the step where 1 - beta2^t rounds to 1
  (about 17,300) and equal to pow beyond.
The moments and their checkpoint names are Keras Adam's own.
"""
from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import keras
import numpy as np
import tensorflow as tf

POWER_STEPS = 20000  # beyond, 1 - beta^t is 1 in float32 either way


def running_powers(beta, steps=POWER_STEPS):
    """beta^1 .. beta^steps as TF1 keeps them: float32 products, one a step."""
    return np.cumprod(np.full(steps, beta, np.float32), dtype=np.float32)


@keras.saving.register_keras_serializable('sketchgen')
class MagentaAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam with TF1's float32 betas and beta powers."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(learning_rate, beta_1=float(np.float32(beta_1)),
                         beta_2=float(np.float32(beta_2)), epsilon=epsilon, **kwargs)
        self.beta_1_powers = tf.constant(running_powers(self.beta_1))
        self.beta_2_powers = tf.constant(running_powers(self.beta_2))

    @staticmethod
    def power(powers, beta, step):
        """beta^step (step >= 1) as TF1 has it, from its table `powers`."""
        return tf.where(step <= POWER_STEPS,
                        tf.gather(powers, tf.minimum(step, POWER_STEPS) - 1),
                        tf.pow(tf.constant(beta, tf.float32), tf.cast(step, tf.float32)))

    def update_step(self, gradient, variable, learning_rate):
        """Keras Adam's step, in TF1's (and Keras') order of operations."""
        step = self.iterations + 1
        lr = tf.cast(learning_rate, variable.dtype)
        gradient = tf.cast(gradient, variable.dtype)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        alpha = (lr * tf.sqrt(1 - self.power(self.beta_2_powers, self.beta_2, step))
                 / (1 - self.power(self.beta_1_powers, self.beta_1, step)))
        self.assign_add(m, (gradient - m) * (1 - self.beta_1))
        self.assign_add(v, (tf.square(gradient) - v) * (1 - self.beta_2))
        self.assign_sub(variable, (m * alpha) / (tf.sqrt(v) + self.epsilon))
