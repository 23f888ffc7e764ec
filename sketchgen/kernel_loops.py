"""The plumbing every whole-sequence kernel shares (sketchgen.lstm_kernel,
sketchgen.norm_kernels): the one factory that makes a kernel's traced
function with its hand-written gradient, the records a forward loop keeps
for its backward loop, and small helpers of the loops.

A kernel is three functions: forward(*inputs, keep) -> (..., saved), a
tf.while_loop over time that keeps, when asked, what the backward pass
reads; backward(...), the reverse-time loop; and a body that prepares the
inputs, calls both and contracts the weight gradients over all steps.
"""
import functools
import typing

from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import tensorflow as tf


@functools.cache
def sequence_kernel(body, forward, backward, forget_bias, masked, jit_compile, keep_activations):
    """The kernel of `body` as a traced tf.function with a custom gradient,
    made once per setting (tracing the loops and their gradient costs
    seconds, and the encoder calls a kernel for each of its spans).

    body((forward, backward), args, forget_bias, keep_activations) ->
    (outputs, grad), as tf.custom_gradient wants; `masked` only keeps the
    masked and unmasked kernels (which take one argument more) apart.
    With jit_compile both loops are compiled by XLA, which fuses each step's
    elementwise ops and compiles the whole loop once per input shape: worth
    it where the shapes repeat (the decoder in training), not where every
    batch brings new ones (the encoder's spans).  The weight contractions
    stay outside, on TensorFlow's own matmul."""
    del masked  # a key of the cache only
    loops = (tf.function(forward, jit_compile=jit_compile),
             tf.function(backward, jit_compile=jit_compile))

    @tf.custom_gradient
    def kernel(*args):
        return body(loops, args, forget_bias, keep_activations)

    return tf.function(kernel)


def kept_activations(forward, inputs, saved):
    """The activations a forward loop saved.  A forward-only run
    (keep_activations=False) saved none, (): the loop runs again to get them."""
    return saved or forward(*inputs, True)[-1]


# --------------------------------------------------------------------------
# Records: named tuples of tensors (nested ones too), kept per step.
# --------------------------------------------------------------------------
def _is_record(kind):
    return isinstance(kind, type) and issubclass(kind, tuple) and hasattr(kind, '_fields')


def record_of(record_type, leaf):
    """An instance of the NamedTuple `record_type` holding leaf() at each of
    its tensor fields, nested records filled the same way."""
    kinds = typing.get_type_hints(record_type)
    return record_type(*(record_of(kinds[name], leaf) if _is_record(kinds[name]) else leaf()
                         for name in record_type._fields))


def take(record_type, args):
    """(record_type(*first fields' worth of args), the args left): a kernel's
    flat arguments back into a record, counted by the record's fields."""
    count = len(record_type._fields)
    return record_type(*args[:count]), args[count:]


def step_arrays(record_type, dtype, steps, keep):
    """A TensorArray of `steps` for each tensor of `record_type` when `keep`,
    else () (a loop variable cannot be None): what a forward loop fills for
    its backward loop."""
    if not keep:
        return ()
    return record_of(record_type, lambda: tf.TensorArray(dtype, size=steps))


def write_step(arrays, t, record):
    """Each tensor of `record` into its array at step t (none without arrays)."""
    if not arrays:
        return arrays
    return tf.nest.map_structure(lambda array, value: array.write(t, value), arrays, record)


def stacked(arrays):
    """The arrays as [T, ...] tensors, in their record; () stays ()."""
    return tf.nest.map_structure(lambda array: array.stack(), arrays)


def at_step(record, t):
    """Step t of each stacked tensor of `record`."""
    return tf.nest.map_structure(lambda x: x[t], record)


# --------------------------------------------------------------------------
# Small helpers of the loops.
# --------------------------------------------------------------------------
def time_array(dtype, steps):
    """One TensorArray of `steps` (a loop's per-step output)."""
    return tf.TensorArray(dtype, size=steps)


def mask_at(masks, t):
    """The step-t keep mask of the optional masks (), or (keep_masks [T, H, B],)."""
    return masks[0][t] if masks else None


def zeros_if_none(grad, like):
    """An output's incoming gradient, zeros where the output was not used."""
    return tf.zeros_like(like) if grad is None else grad


def shared_gradient(d_gates, shared):
    """The gradient of shared [G, B or 1] from the gates' [G, B]: summed over
    the batch where shared was one column for all.  A trace made for an
    unknown width also serves width 1, so that case is decided at run time."""
    width = shared.shape[-1]
    if width is None:
        columns = tf.stack([tf.shape(d_gates)[0], tf.shape(shared)[-1], -1])
        return tf.reduce_sum(tf.reshape(d_gates, columns), 2)
    return tf.reduce_sum(d_gates, 1, keepdims=True) if width == 1 else d_gates
