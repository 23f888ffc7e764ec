"""The JSON model format of @magenta/sketch (the npm library behind Magenta's
sketch-rnn demos), read and written here only.

A model is [info, dimensions, weights]: info holds at least scale_factor
(the data's normalizing scale factor) and max_seq_len; weights are five
base64 strings of little-endian int16 q, read as w = 10 * q / 32767, in the
order output kernel [H, 3 + 6M], output bias [3 + 6M], W_xh [5, 4H],
W_hh [H, 4H], LSTM bias [4H].  The LSTM is tf.basicLSTMCell (gates i, j, f,
o; forget bias 1) fed the stroke-5 point alone: a decoder-only model.

The library hard-codes 20 mixtures.  A model with M < 20 is written padded
(pad_mixtures): each of the six mixture blocks of the output layer gets
20 - M columns of zero kernel, whose mixture logit is the format's lowest,
-10, and whose other biases are 0 (mu 0, sigma 1, corr 0); the real
logits are shifted up to the format's top (softmax ignores a common shift),
so the padded components' total weight is at most padded_weight_bound().
info.num_mixture = M marks the padding; read_model drops it again.

Both directions between models and files are here: load_sketch_js (a
file -> a decoder-only model), export_sketch_rnn_js (a model -> a file) and
import_sketch_js (a file -> an experiment folder)."""
import base64
import binascii
import json
import os

from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import numpy as np

from sketchgen.errors import ExportError, SketchJSError
from sketchgen.experiment import Experiment
from sketchgen.hparams import get_default_hparams
from sketchgen.model import Seq2seqModel
from sketchgen.run_settings import RunSettings

MAX_WEIGHT = 10.0        # the library decodes q -> MAX_WEIGHT * q / 32767
QUANT_STEP = MAX_WEIGHT / 32767
NUM_MIXTURE = 20         # hard-coded in the library (NMIXTURE)
STROKE_INPUTS = 5        # stroke-5 rows; the LSTM has no other input
ARRAY_NAMES = ('output kernel', 'output bias', 'W_xh', 'W_hh', 'LSTM bias')


def _steps(array):
    """`array` in whole quantisation steps, as the library stores it."""
    return np.round(np.asarray(array, np.float64) / QUANT_STEP)


def quantize(array):
    """float array -> the library's base64 int16 string (little-endian)."""
    return base64.b64encode(_steps(array).ravel().astype('<i2').tobytes()).decode('ascii')


def rounded(array):
    """`array` as the library reads it back after quantize()."""
    return _steps(array) * QUANT_STEP


# --------------------------------------------------------------------------
# Padding to the library's 20 mixtures.  Output columns are [pen logits 3 |
# pi M | mu1 M | mu2 M | log sigma1 M | log sigma2 M | corr M].
# --------------------------------------------------------------------------
def _with_mixtures(array, num_mixture, blocks):
    """[..., 3 + 6M] -> [..., 3 + 6N] from blocks [..., 6, N] -> [..., 6, N]."""
    lead = array.shape[:-1]
    mixtures = blocks(array[..., 3:].reshape(lead + (6, num_mixture)))
    return np.concatenate([array[..., :3], mixtures.reshape(lead + (-1,))], -1)


def _padded(array, num_mixture, fill):
    """`array` with each block widened to NUM_MIXTURE columns of `fill` ([6, 1] or scalar)."""
    def widen(blocks):
        pad = np.broadcast_to(fill, blocks.shape[:-1] + (NUM_MIXTURE - num_mixture,))
        return np.concatenate([blocks, pad], -1)
    return _with_mixtures(array, num_mixture, widen)


PAD_BIAS = np.array([[-MAX_WEIGHT], [0], [0], [0], [0], [0]])  # pi logit -10; mu, log s, corr 0


def pad_mixtures(output_kernel, output_bias, num_mixture):
    """The output layer of an M <= 20 mixture model widened to the
    library's 20; the real pi logits are shifted to the top of the format's
    range, away from the padded ones."""
    bias = np.array(output_bias, np.float64)
    pi = bias[3:3 + num_mixture]
    pi += MAX_WEIGHT - QUANT_STEP - pi.max()  # a step below the limit, after rounding too
    return _padded(output_kernel, num_mixture, 0.0), _padded(bias, num_mixture, PAD_BIAS)


def padded_weight_bound(output_kernel, output_bias, num_mixture):
    """Upper bound on the total mixture weight the library gives the padded
    components of a pad_mixtures() layer, as written (rounded), in any
    decoder state (|h| < 1) at any temperature T <= 1 (getPDF divides the
    logits by 0.5 + T / 2).  Each real component's weight is its own times
    1 - that, so it differs from ours by at most it."""
    pad = NUM_MIXTURE - num_mixture
    if pad == 0:
        return 0.0
    kernel = rounded(output_kernel)[:, 3:3 + num_mixture]  # the real pi columns
    bias = rounded(output_bias)[3:3 + num_mixture]
    # How far the real logits lie above the padded ones (-MAX_WEIGHT): their
    # log-sum-exp is at least the largest and (Jensen) log M + their mean.
    largest = np.max(bias - np.abs(kernel).sum(0)) + MAX_WEIGHT
    mean = bias.mean() - np.abs(kernel.mean(1)).sum() + MAX_WEIGHT
    # Monotone in the softmax temperature t, so its ends bound [0.5, 1].
    return max(float(np.exp(-np.logaddexp(0.0, max(largest / t, np.log(num_mixture) + mean / t)
                                           - np.log(pad))))
               for t in (0.5, 1.0))


def _unpadded(path, info, arrays, num_mixture):
    """read_model's arrays without the padding info.num_mixture declares."""
    declared = info.get('num_mixture', num_mixture)
    if not (type(declared) is int and 0 < declared <= num_mixture):
        raise SketchJSError(f'{path}: info.num_mixture must be an integer from 1 to '
                            f'{num_mixture}, got {declared!r}')
    if declared == num_mixture:
        return arrays, num_mixture
    kernel, bias = (_with_mixtures(a, num_mixture, lambda b: b[..., :declared])
                    for a in arrays[:2])
    if not (np.array_equal(_padded(kernel, declared, 0.0), arrays[0])
            and np.allclose(_padded(bias, declared, PAD_BIAS), arrays[1], rtol=0, atol=1e-6)):
        raise SketchJSError(f'{path}: info.num_mixture={declared}, but mixtures '
                            f'{declared + 1}-{num_mixture} are not padding')
    return [kernel, bias] + arrays[2:], declared


def write_model(path, info, arrays):
    """Writes the five float arrays (ARRAY_NAMES order) with `info` to `path`."""
    largest = max(float(np.abs(a).max()) for a in arrays)
    if largest > MAX_WEIGHT:  # the int16 scale holds only |w| <= 10
        raise SketchJSError(f'a weight is {largest:.3g}, beyond the format\'s +-{MAX_WEIGHT:g}')
    dimensions = [list(np.shape(a)) for a in arrays]
    with open(path, 'w') as f:
        json.dump([info, dimensions, [quantize(a) for a in arrays]], f)


def read_model(path):
    """-> (info, five float32 arrays in ARRAY_NAMES order, num_mixture),
    without the padding of a model exported with fewer than 20 mixtures.

    The file is untrusted: anything but a well-formed decoder raises
    SketchJSError naming the file and the problem."""
    try:
        with open(path, 'rb') as f:
            content = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise SketchJSError(f'{path}: not a JSON model ({" ".join(str(err).split())})') from None
    if not (isinstance(content, list) and len(content) == 3):
        raise SketchJSError(f'{path}: expected [info, dimensions, weights]')
    info, dimensions, strings = content
    _check_info(path, info)
    if not (isinstance(dimensions, list) and isinstance(strings, list)
            and len(dimensions) == len(strings) == len(ARRAY_NAMES)):
        raise SketchJSError(f'{path}: expected {len(ARRAY_NAMES)} weight arrays with their '
                            'dimensions')
    arrays = [_decode(path, name, text, shape)
              for name, text, shape in zip(ARRAY_NAMES, strings, dimensions)]
    num_mixture = _check_shapes(path, [a.shape for a in arrays])
    return (info,) + _unpadded(path, info, arrays, num_mixture)


def _check_info(path, info):
    if not isinstance(info, dict):
        raise SketchJSError(f'{path}: its info (the first item) is not an object')
    scale = info.get('scale_factor')
    if not (isinstance(scale, (int, float)) and np.isfinite(scale) and scale > 0):
        raise SketchJSError(f'{path}: info.scale_factor must be a positive number, got {scale!r}')
    length = info.get('max_seq_len')
    if not (isinstance(length, int) and length > 0):
        raise SketchJSError(f'{path}: info.max_seq_len must be a positive integer, '
                            f'got {length!r}')


def _decode(path, name, text, shape):
    """One base64 int16 string -> float32 array of `shape`."""
    if not (isinstance(shape, list) and shape and all(isinstance(n, int) and n > 0
                                                      for n in shape)):
        raise SketchJSError(f'{path}: the {name}\'s dimensions {shape!r} are not positive '
                            'integers')
    try:
        raw = base64.b64decode(text, validate=True)
    except (TypeError, binascii.Error):
        raise SketchJSError(f'{path}: the {name} is not a base64 string') from None
    if len(raw) != 2 * int(np.prod(shape)):
        raise SketchJSError(f'{path}: the {name} holds {len(raw) // 2} numbers, its '
                            f'dimensions {shape} need {int(np.prod(shape))}')
    q = np.frombuffer(raw, '<i2').reshape(shape)
    return (q * QUANT_STEP).astype(np.float32)


def _check_shapes(path, shapes):
    """The layout's shapes agree with one LSTM size H and M mixtures -> M."""
    units = shapes[3][0]   # W_hh [H, 4H]
    outputs = shapes[0][-1]  # output kernel [H, 3 + 6M]
    expected = [(units, outputs), (outputs,), (STROKE_INPUTS, 4 * units),
                (units, 4 * units), (4 * units,)]
    if list(shapes) != expected or (outputs - 3) % 6 or outputs <= 3:
        got = ', '.join(f'{n} {list(s)}' for n, s in zip(ARRAY_NAMES, shapes))
        raise SketchJSError(f'{path}: weight shapes do not form a sketch-rnn LSTM decoder '
                            f'({got})')
    return (outputs - 3) // 6


# --------------------------------------------------------------------------
# Models to and from the format.
# --------------------------------------------------------------------------
def load_sketch_js(path, **overrides):
    """The decoder-only model of a @magenta/sketch JSON file (what
    export_sketch_rnn_js writes, and Magenta's pretrained models): its int16
    weights de-quantised into a plain LSTM decoder with the file's number of
    mixtures.  The file's scale_factor, the data's normalizing scale factor
    (data units = model units x it), is kept as model.normalizing_scale_factor.
    Raises SketchJSError."""
    info, arrays, num_mixture = read_model(path)
    if 'initial_state' in info:  # our decoder-only models start from zeros
        raise SketchJSError(
            f'{path}: a conditional model exported at one z (info.initial_state) does not '
            'import; only decoder-only exports do: use the experiment folder it came from')
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


def check_exportable(model):
    """Raises ExportError naming every reason the library cannot run `model`."""
    hps = model.hps
    reasons = []
    if hps.dec_model != 'lstm':
        reasons.append(f"its decoder is '{hps.dec_model}', but @magenta/sketch runs only a "
                       'plain LSTM (tf.basicLSTMCell)')
    if hps.num_mixture > NUM_MIXTURE:
        reasons.append(f'it has num_mixture={hps.num_mixture}, but @magenta/sketch '
                       f'hard-codes {NUM_MIXTURE} mixtures (fewer are padded, more cannot be)')
    if reasons:
        raise ExportError('cannot export for @magenta/sketch: ' + '; '.join(reasons))


def decoder_arrays(model, z=None):
    """The five float32 arrays the library reads.  Its LSTM input is the
    stroke alone, so a conditional model's constant z @ W_xh[5:] joins the bias."""
    cell, out = model.decoder, model.output_layer
    w_xh = cell.W_xh.numpy()
    bias = cell.project_static(None if z is None else z[None]).numpy()[0]
    return [out.kernel.numpy(), out.bias.numpy(), w_xh[:STROKE_INPUTS], cell.W_hh.numpy(), bias]


def export_sketch_rnn_js(model, path, z=None, *, scale_factor, name='sketchgen'):
    """Writes `model`'s decoder as a @magenta/sketch JSON model to `path`.

    z: the latent vector [z_size] a conditional model is exported at (it
    must be given for those, and None for decoder-only models).
    scale_factor: the data's normalizing_scale_factor; the library divides
    its pixel offsets by scale_factor / 2 to get model inputs.
    A model with fewer than 20 mixtures is padded to 20 (pad_mixtures);
    info records num_mixture and padded_weight_bound, the most total weight
    the library can give the padded mixtures.  Returns the info dict written."""
    check_exportable(model)
    hps = model.hps
    if hps.conditional and z is None:
        raise ExportError('conditional model: give the z to export its decoder at')
    if not hps.conditional and z is not None:
        raise ExportError('decoder-only model: it has no z')
    if z is not None:
        z = np.asarray(z, np.float32)
        if z.shape != (hps.z_size,):
            raise ExportError(f'z has shape {z.shape}; the model takes ({hps.z_size},)')
    arrays = decoder_arrays(model, z)
    # @magenta/sketch reads only scale_factor; pages cap samples at
    # max_seq_len.  mode 2 ("gen") is the decoder-only layout in the older
    # sketch-rnn-js, which squashes z with tanh for version < 6 (ours is not).
    info = dict(name=name, mode=2, version=6, max_seq_len=int(hps.max_seq_len),
                scale_factor=float(scale_factor))
    if z is not None:  # the state tanh(W z + b) the decoder starts from
        c, h = (s.numpy()[0] for s in model.initial_state(z[None], 1))
        info['initial_state'] = dict(c=c.tolist(), h=h.tolist())
    if hps.num_mixture < NUM_MIXTURE:
        arrays[:2] = pad_mixtures(*arrays[:2], hps.num_mixture)
        info.update(num_mixture=hps.num_mixture,
                    padded_weight_bound=padded_weight_bound(*arrays[:2], hps.num_mixture))
    try:
        write_model(path, info, arrays)
    except SketchJSError as err:
        raise ExportError(f'cannot export for @magenta/sketch: {err}') from None
    return info


def import_sketch_js(path, out_dir, source=None):
    """Writes the @magenta/sketch model in file `path` as the experiment
    folder `out_dir` (new or empty): its model_config.json (with the scale
    factor), best weights and settings, so that load_model, the sample
    command and --list read it.  `source`: what to record it was imported
    from (default: path).  Returns the model."""
    experiment = Experiment.create_at(out_dir)
    model = load_sketch_js(path)
    settings = RunSettings(data_dir='', seed=0, save_every=0, end_step=0, epochs=None,
                           data_set=model.hps.data_set, imported_from=source or path)
    experiment.write(model.hps, settings, normalizing_scale_factor=model.normalizing_scale_factor)
    experiment.save_best(model)
    return model
