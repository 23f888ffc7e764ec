"""Experiment folders, model_config.json, and loading models: ours, Magenta's
checkpoints, @magenta/sketch JSON files and Magenta's pretrained models."""
import json
import os

from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import numpy as np
import tensorflow as tf

from sketchgen import atomic, magenta_names, pretrained, sketch_js
from sketchgen.hparams import get_default_hparams
from sketchgen.model import Seq2seqModel


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
# Magenta's checkpoints, @magenta/sketch files and pretrained models.
# --------------------------------------------------------------------------
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
