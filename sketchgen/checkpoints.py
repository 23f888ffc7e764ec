"""TensorFlow checkpoints: what a training checkpoint holds, loading a model
from an experiment folder or from Magenta's own checkpoints."""
import os

from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import numpy as np
import tensorflow as tf

from sketchgen import magenta_names
from sketchgen.errors import CheckpointError, MissingCheckpointError
from sketchgen.messages import first_line
from sketchgen.experiment import Experiment, is_experiment
from sketchgen.hparams import read_model_config
from sketchgen.model import Seq2seqModel


def training_checkpoint(model, **extra):
    """Everything an exact resume needs: weights, Adam moments and step,
    the dropout RNG, plus the trainer's bookkeeping variables."""
    return tf.train.Checkpoint(model=model, optimizer=model.optimizer,
                               dropout_seed=model.seed_generator.state, **extra)


def load_model(path, checkpoint=None, **overrides):
    """A trained model from an experiment folder (ours) or a Magenta
    checkpoint folder.  checkpoint: 'best' (default), 'latest', or a
    .weights.h5 file (ours); a checkpoint prefix (Magenta's).  `overrides`
    set hyper-parameters (e.g. batch_size=1).  Raises a SketchGenError
    (CheckpointError, ModelConfigError, ExperimentError) naming the file."""
    if is_experiment(path):
        return Experiment(path).load_model(checkpoint, **overrides)
    if checkpoint not in (None, 'best', 'latest'):
        path = checkpoint
    return load_magenta_checkpoint(path, **overrides)


# --------------------------------------------------------------------------
# Magenta's checkpoints.
# --------------------------------------------------------------------------
def magenta_checkpoint_prefix(path):
    """A Magenta checkpoint folder (with its `checkpoint` file) or prefix -> prefix."""
    if os.path.isdir(path):
        prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            raise MissingCheckpointError(f'{path}: no TensorFlow checkpoint in this folder')
        return prefix
    if not tf.io.gfile.exists(path + '.index'):
        raise MissingCheckpointError(f'{path}: neither a checkpoint folder nor a checkpoint prefix')
    return path


def load_magenta_checkpoint(path, **overrides):
    """Builds the Seq2seqModel that a Magenta checkpoint describes (its
    model_config.json, beside it) and loads every weight.  `overrides` set
    hyper-parameters, e.g. batch_size."""
    prefix = magenta_checkpoint_prefix(path)
    config_path = os.path.join(os.path.dirname(prefix), 'model_config.json')
    if not os.path.exists(config_path):
        raise MissingCheckpointError(f'{config_path}: missing; Magenta writes it beside the checkpoint')
    hps, _ = read_model_config(config_path, **overrides)
    model = Seq2seqModel(hps)
    try:
        reader = tf.train.load_checkpoint(prefix)
    except tf.errors.OpError as err:
        raise CheckpointError(f'{prefix}: cannot read this checkpoint: {first_line(err)}') from None

    def read(name):
        if not reader.has_tensor(name):
            raise CheckpointError(f'{prefix}: variable {name} missing; the checkpoint does not '
                                  'match model_config.json')
        return reader.get_tensor(name)

    try:
        _assign_magenta_weights(model, read)
    except ValueError as err:  # a variable of another shape
        raise CheckpointError(f'{prefix}: does not match {config_path}: '
                              f'{first_line(err)}') from None
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
