"""Hyper-parameters: Magenta's names, defaults and `HParams.parse` syntax,
and model_config.json, the file that holds them beside a model's weights."""
import json

from sketchgen import atomic
from sketchgen.errors import ModelConfigError


DEFAULT_HPARAMS = dict(
    data_set=['aaron_sheep.npz'],  # one .npz name or a list, concatenated
    num_steps=10000000,            # total training steps
    save_every=500,                # steps between validations/checkpoints
    max_seq_len=250,               # set by the data loader
    dec_rnn_size=512,
    dec_model='lstm',              # lstm, layer_norm or hyper
    enc_rnn_size=256,
    enc_model='lstm',              # lstm, layer_norm or hyper
    z_size=128,
    kl_weight=0.5,
    kl_weight_start=0.01,
    kl_tolerance=0.2,              # KL floor: below it the KL term is not optimised
    batch_size=100,
    grad_clip=1.0,
    num_mixture=20,
    learning_rate=0.001,
    decay_rate=0.9999,             # learning-rate decay per step
    kl_decay_rate=0.99995,         # KL-weight annealing per step
    min_learning_rate=0.00001,
    use_recurrent_dropout=True,    # dropout on the cell candidate, no memory loss
    recurrent_dropout_prob=0.90,   # keep probability
    use_input_dropout=False,
    input_dropout_prob=0.90,       # keep probability
    use_output_dropout=False,
    output_dropout_prob=0.90,      # keep probability
    random_scale_factor=0.15,      # data augmentation: random x/y stretch
    augment_stroke_prob=0.10,      # data augmentation: point dropping
    conditional=True,              # False: decoder-only model, no encoder
    is_training=True,              # False: pen loss masked after the sketch ends
)
CELL_TYPES = ('lstm', 'layer_norm', 'hyper')
PRECISIONS = {'float32': 'float32', 'bfloat16': 'mixed_bfloat16'}  # --precision -> dtype policy


class HParams:
    """Attribute bag of hyper-parameters with Magenta's `parse` syntax."""

    def __init__(self, **values):
        unknown = set(values) - set(DEFAULT_HPARAMS)
        if unknown:
            raise ValueError(f'unknown hyper-parameter(s): {", ".join(sorted(unknown))}')
        self.__dict__.update(values)

    def values(self):
        return dict(self.__dict__)

    def copy(self):
        return HParams(**json.loads(json.dumps(self.values())))

    def set(self, name, value):
        """Sets one hyper-parameter, converted to the type of its default."""
        if name not in DEFAULT_HPARAMS:
            raise ValueError(f"unknown hyper-parameter '{name}'; known: "
                             f"{', '.join(sorted(DEFAULT_HPARAMS))}")
        value = _convert(name, value, DEFAULT_HPARAMS[name])
        if name in ('enc_model', 'dec_model') and value not in CELL_TYPES:
            raise ValueError(f"hyper-parameter '{name}': unknown cell '{value}'; choose one of "
                             f"{', '.join(CELL_TYPES)}")
        setattr(self, name, value)

    def parse(self, text):
        """Applies "name=value,name=value"; lists as name=[a.npz;b.npz] or a;b."""
        for item in _split_assignments(text):
            name, sep, value = item.partition('=')
            if not sep:
                raise ValueError(f"hyper-parameter '{item}' is not of the form name=value")
            self.set(name.strip(), value.strip())
        return self

    def to_json(self, **kwargs):
        return json.dumps(self.values(), **kwargs)

    def parse_json(self, text):
        for name, value in json.loads(text).items():
            self.set(name, value)
        return self

    def __repr__(self):
        return f'HParams({self.values()})'


def _split_assignments(text):
    """Splits on commas that are not inside [...] lists."""
    items, depth, current = [], 0, ''
    for ch in text:
        depth += {'[': 1, ']': -1}.get(ch, 0)
        if ch == ',' and depth == 0:
            items.append(current)
            current = ''
        else:
            current += ch
    items.append(current)
    return [item for item in (i.strip() for i in items) if item]


def _convert(name, value, default):
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() in ('true', '1'):
                    return True
                if value.lower() in ('false', '0'):
                    return False
                raise ValueError
            if value in (0, 1):
                return bool(value)
            raise ValueError
        if isinstance(default, list):
            if isinstance(value, str):
                value = [v.strip() for v in value.strip('[]').replace(';', ',').split(',')]
            elif not isinstance(value, (list, tuple)):
                value = [value]
            return [str(v) for v in value if str(v)]
        if isinstance(value, bool):
            raise ValueError  # True is an int to Python, never a size or rate here
        if isinstance(default, int):
            number = float(value)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if isinstance(default, float):
            return float(value)
        if not isinstance(value, str):
            raise ValueError
        return value
    except (TypeError, ValueError):
        raise ValueError(f"hyper-parameter '{name}': cannot use {value!r} "
                         f"(expected {type(default).__name__})") from None


def get_default_hparams():
    """A fresh HParams holding Magenta's defaults."""
    return HParams(**json.loads(json.dumps(DEFAULT_HPARAMS)))


# --------------------------------------------------------------------------
# model_config.json: every hyper-parameter, plus facts of the data (ours),
# or a Magenta trainer's own file.
# --------------------------------------------------------------------------
CONFIG_EXTRAS = ('normalizing_scale_factor',)
ARCHITECTURE = ('conditional', 'enc_model', 'enc_rnn_size', 'dec_model', 'dec_rnn_size',
                'z_size', 'num_mixture')


def write_model_config(path, hps, **extras):
    """model_config.json: every hyper-parameter plus data facts (scale factor)."""
    atomic.write_json(path, dict(hps.values(), **extras), sort_keys=True)


def read_model_config(path, **overrides):
    """-> (hps, extras) from a model_config.json (ours or Magenta's), with
    `overrides` applied; ModelConfigError with one line naming the file otherwise."""
    try:
        with open(path) as f:
            values = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:
        raise ModelConfigError(f'{path}: not JSON ({err})') from None
    if isinstance(values, list):  # Magenta 2.1.4's trainer writes only the names
        missing = [name for name in ARCHITECTURE if name not in overrides]
        if missing:
            raise ModelConfigError(
                f'{path}: lists hyper-parameter names without their values; write them as a '
                f'JSON object {{"name": value, ...}} or pass them, e.g. load_model(path, '
                f'{", ".join(f"{name}=..." for name in missing)})')
        values = {}
    if not isinstance(values, dict):
        raise ModelConfigError(f'{path}: holds a JSON {type(values).__name__}, not an object '
                               'of hyper-parameters')
    extras = {k: values.pop(k) for k in CONFIG_EXTRAS if k in values}
    try:
        hps = get_default_hparams()
        for name, value in dict(values, **overrides).items():
            hps.set(name, value)
    except ValueError as err:
        raise ModelConfigError(f'{path}: {err}') from None
    return hps, extras
