"""The JSON model format of @magenta/sketch (the npm library behind Magenta's
sketch-rnn demos), read and written here only.

A model is [info, dimensions, weights]: info holds at least scale_factor
(the data's normalizing scale factor) and max_seq_len; weights are five
base64 strings of little-endian int16 q, read as w = 10 * q / 32767, in the
order output kernel [H, 3 + 6M], output bias [3 + 6M], W_xh [5, 4H],
W_hh [H, 4H], LSTM bias [4H].  The LSTM is tf.basicLSTMCell (gates i, j, f,
o; forget bias 1) fed the stroke-5 point alone: a decoder-only model."""
import base64
import binascii
import json

import numpy as np

MAX_WEIGHT = 10.0        # the library decodes q -> MAX_WEIGHT * q / 32767
QUANT_STEP = MAX_WEIGHT / 32767
NUM_MIXTURE = 20         # hard-coded in the library (NMIXTURE)
STROKE_INPUTS = 5        # stroke-5 rows; the LSTM has no other input
ARRAY_NAMES = ('output kernel', 'output bias', 'W_xh', 'W_hh', 'LSTM bias')


class SketchJSError(ValueError):
    """A file that is not a model in this format (one line naming it)."""


def quantize(array):
    """float array -> the library's base64 int16 string (little-endian)."""
    q = np.round(np.asarray(array, np.float64).ravel() / QUANT_STEP).astype('<i2')
    return base64.b64encode(q.tobytes()).decode('ascii')


def write_model(path, info, arrays):
    """Writes the five float arrays (ARRAY_NAMES order) with `info` to `path`."""
    largest = max(float(np.abs(a).max()) for a in arrays)
    if largest > MAX_WEIGHT:  # the int16 scale holds only |w| <= 10
        raise SketchJSError(f'a weight is {largest:.3g}, beyond the format\'s +-{MAX_WEIGHT:g}')
    dimensions = [list(np.shape(a)) for a in arrays]
    with open(path, 'w') as f:
        json.dump([info, dimensions, [quantize(a) for a in arrays]], f)


def read_model(path):
    """-> (info, five float32 arrays in ARRAY_NAMES order, num_mixture).

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
    return info, arrays, _check_shapes(path, [a.shape for a in arrays])


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
