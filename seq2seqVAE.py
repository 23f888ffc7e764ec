"""Sketch-RNN (Ha & Eck, "A Neural Representation of Sketch Drawings", 2017)
as a Keras 3 model: a bidirectional-LSTM encoder reads a stroke-5 sketch into
a latent z, and an autoregressive LSTM decoder (plain, layer-norm or HyperLSTM
cell) emits a bivariate Gaussian mixture over pen offsets plus pen-state
logits.  A faithful port of Magenta's sketch_rnn: same hyper-parameters,
initialisers, losses and checkpoint variables.

The public API, gathered from the modules of `sketchgen/` that own each part
(DEVELOPERS.md, Architecture).  Importing it sets TensorFlow's CPU options
first (sketchgen.tf_settings).
"""
from sketchgen.tf_settings import TF_CPU_SETTINGS

from sketchgen.errors import (CheckpointError, ExperimentError, SettingsError, SketchGenError,
                              SketchJSError)
from sketchgen.hparams import (ARCHITECTURE, CELL_TYPES, CONFIG_EXTRAS, DEFAULT_HPARAMS, PRECISIONS,
                               HParams, get_default_hparams, read_model_config, write_model_config)
from sketchgen.lstm_kernel import forget_bias_vector, lstm_sequence
from sketchgen.cells import (CELLS, HyperLSTMCell, LayerNormLSTMCell, LSTMCell, LSTMOrthogonal,
                             make_cell, run_rnn)
from sketchgen.model import (ENCODER_SEGMENTS, LearningRateSchedule, Seq2seqModel,
                             bivariate_normal, evaluate_costs, kl_loss, kl_weight_at,
                             make_optimizer, mixture_coefficients, reconstruction_loss,
                             small_gaussian)
from sketchgen.experiment import Experiment, experiment_paths
from sketchgen.checkpoints import (load_magenta_checkpoint, load_model, magenta_checkpoint_prefix,
                                   training_checkpoint)
from sketchgen.sketch_js import export_sketch_rnn_js, load_sketch_js
from sketchgen.pretrained import load_pretrained
from sketchgen.sampling import (MIXTURE_KEYS, START_TOKEN, complete, decode, encode, sample,
                                sample_batch)

__all__ = [
    'TF_CPU_SETTINGS',
    'CheckpointError', 'ExperimentError', 'SettingsError', 'SketchGenError', 'SketchJSError',
    'ARCHITECTURE', 'CELL_TYPES', 'CONFIG_EXTRAS', 'DEFAULT_HPARAMS', 'PRECISIONS', 'HParams',
    'get_default_hparams', 'read_model_config', 'write_model_config',
    'forget_bias_vector', 'lstm_sequence',
    'CELLS', 'HyperLSTMCell', 'LayerNormLSTMCell', 'LSTMCell', 'LSTMOrthogonal', 'make_cell',
    'run_rnn',
    'ENCODER_SEGMENTS', 'LearningRateSchedule', 'Seq2seqModel', 'bivariate_normal',
    'evaluate_costs', 'kl_loss', 'kl_weight_at', 'make_optimizer', 'mixture_coefficients',
    'reconstruction_loss', 'small_gaussian',
    'Experiment', 'experiment_paths',
    'load_magenta_checkpoint', 'load_model', 'magenta_checkpoint_prefix', 'training_checkpoint',
    'export_sketch_rnn_js', 'load_sketch_js', 'load_pretrained',
    'MIXTURE_KEYS', 'START_TOKEN', 'complete', 'decode', 'encode', 'sample', 'sample_batch',
]
