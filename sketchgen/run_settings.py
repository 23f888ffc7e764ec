"""A training run's settings: one frozen record, resolved once from a new
run's command line or read back from what the run recorded (flags.json),
and the checks `--resume` makes against it.  No TensorFlow, no files."""
import dataclasses
import typing

from sketchgen.errors import SettingsError
from sketchgen.hparams import HParams, get_default_hparams

DEFAULT_DATA_DIR = 'datasets'
DEFAULT_DATA_SET = 'cat'  # one of QuickDraw's 345 categories, downloaded once
DEFAULT_EXPERIMENT_DIR = 'experiments'
DEFAULT_EPOCHS = 20
DEFAULT_SAMPLES = 5  # sketches per row of the grid drawn at each validation
DEFAULT_PRECISION = 'float32'
DEFAULT_STRATEGY = 'default'
# The validation cost that picks the best weights: Magenta's, z drawn from
# the posterior (sampled_z), or at its mean (mean_z).
BEST_ON = ('sampled_z', 'mean_z')
NONFINITE_POLICIES = ('recover', 'stop')  # see sketchgen.nonfinite
DEFAULT_ON_NONFINITE = 'recover'
DEFAULT_LENGTH_BUCKETS = False  # Magenta's batches: every one max_seq_len steps


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """What a run trains with besides its hyper-parameters (model_config.json)."""
    data_dir: str                    # folder or URL of the data sets
    seed: int                        # picks every batch and all noise
    save_every: int                  # steps between validations and checkpoints
    end_step: int                    # where the run ends (--epochs / --max_steps)
    data_set: typing.Optional[list] = None  # the names as given (hps.data_set resolves them)
    experiment_dir: str = DEFAULT_EXPERIMENT_DIR
    epochs: typing.Optional[int] = DEFAULT_EPOCHS
    max_steps: typing.Optional[int] = None
    hparams: str = ''                # the --hparams text as given
    samples: int = DEFAULT_SAMPLES
    precision: str = DEFAULT_PRECISION
    checkpoint: typing.Optional[str] = None  # weights a new run started from
    initial_epoch: int = 0
    strategy: str = DEFAULT_STRATEGY
    best_on: str = BEST_ON[0]        # which validation cost picks the best weights
    length_buckets: bool = DEFAULT_LENGTH_BUCKETS  # batches of similar lengths, cut short
    command: str = ''                # the command line, for the record
    imported_from: typing.Optional[str] = None  # a model written by --import, not trained here
    on_nonfinite: str = DEFAULT_ON_NONFINITE  # what a NaN or inf step does

    def to_json(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, values, path):
        """The record in `values` (flags.json's object); SettingsError naming
        `path` when a required field is missing.  Other keys are ignored:
        older versions recorded their whole command line."""
        if not isinstance(values, dict):
            raise SettingsError(f'{path}: cannot use it: not a JSON object')
        fields = {f.name: f for f in dataclasses.fields(cls)}
        required = [name for name, f in fields.items() if f.default is dataclasses.MISSING]
        missing = [name for name in required if name not in values]
        if missing:
            raise SettingsError(f'{path}: cannot use it: no {", ".join(missing)}')
        given = {name: value for name, value in values.items()
                 if name in fields and (value is not None or name in required)}
        return cls(**given)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def npz_names(names):
    return [n if n.endswith('.npz') else f'{n}.npz' for n in names]


def parse_hparams(text):
    """{name: value} of the hyper-parameters that a --hparams text sets."""
    try:
        given = HParams().parse(text).values()
    except ValueError as err:
        raise SettingsError(f'--hparams: {err}') from None
    if given.get('is_training') is False:
        raise SettingsError('--hparams: is_training=False describes a model for evaluation only '
                            '(Magenta builds no training op for it); training needs '
                            'is_training=True, the default')
    return given


def new_run_hparams(args):
    """The hyper-parameters of a new run.  The --data_set, --max_steps and
    --save_every flags win over those hyper-parameters; the default data
    set applies only when neither names the data.  hps.save_every is None
    for once an epoch, until the data is known (end_of_new_run)."""
    given = parse_hparams(args.hparams)
    hps = get_default_hparams()
    for name, value in given.items():
        hps.set(name, value)
    hps.data_set = npz_names(args.data_set or given.get('data_set') or [DEFAULT_DATA_SET])
    if args.max_steps is not None:
        hps.num_steps = args.max_steps
    save_every = args.save_every if args.save_every is not None else given.get('save_every')
    if save_every is not None and save_every < 1:
        raise SettingsError(f'save_every={save_every}: validate every 1 step or more')
    hps.save_every = save_every
    return hps


def new_run_settings(args, hps, seed, num_batches, command):
    """The record of a new run, once its data is loaded (num_batches an epoch);
    sets hps.save_every to the interval it resolves to."""
    hps.save_every = hps.save_every or num_batches
    epochs = DEFAULT_EPOCHS if args.epochs is None else args.epochs
    return RunSettings(
        data_dir=args.data_dir or DEFAULT_DATA_DIR, seed=seed, save_every=hps.save_every,
        end_step=min(hps.num_steps, epochs * num_batches), data_set=args.data_set,
        experiment_dir=args.experiment_dir, epochs=epochs, max_steps=args.max_steps,
        hparams=args.hparams, samples=_given(args.samples, DEFAULT_SAMPLES),
        precision=_given(args.precision, DEFAULT_PRECISION), checkpoint=args.checkpoint,
        initial_epoch=args.initial_epoch, strategy=args.strategy,
        best_on=_given(args.best_on, BEST_ON[0]), command=command,
        on_nonfinite=_given(args.on_nonfinite, DEFAULT_ON_NONFINITE),
        length_buckets=_given(args.length_buckets, DEFAULT_LENGTH_BUCKETS))


def resumed_settings(args, recorded, num_batches):
    """The recorded run's settings with what --resume may change: a new end
    (--epochs, --max_steps; kept for a later --resume), --precision, --samples,
    --on_nonfinite."""
    changes = {name: value for name, value in (('epochs', args.epochs),
                                               ('max_steps', args.max_steps),
                                               ('precision', args.precision),
                                               ('samples', args.samples),
                                               ('on_nonfinite', args.on_nonfinite))
               if value is not None}
    if args.epochs is not None or args.max_steps is not None:
        limits = [args.max_steps, None if args.epochs is None else args.epochs * num_batches]
        changes['end_step'] = min(limit for limit in limits if limit is not None)
    if not recorded.save_every:  # recorded as "once an epoch"
        changes['save_every'] = num_batches
    return recorded.replace(**changes)


def check_resume_matches(args, hps, settings, flags_path):
    """--resume with the run's own settings retyped is accepted; values that
    differ from the recorded ones are refused, all of them listed."""
    given = parse_hparams(args.hparams)
    try:  # what the run's command line gave, before flags and the data set overrode it
        original = HParams().parse(settings.hparams or '').values()
    except ValueError:
        original = {}
    recorded = dict(hps.values(), **original)
    differ = [(name, value, recorded[name]) for name, value in given.items()
              if value != recorded[name]]
    if args.data_set and npz_names(args.data_set) != hps.data_set:
        differ.append(('--data_set', npz_names(args.data_set), hps.data_set))
    own = {'seed': args.seed, 'save_every': args.save_every, 'best_on': args.best_on,
           'length_buckets': args.length_buckets}
    if args.checkpoint:
        own.update(checkpoint=args.checkpoint, initial_epoch=args.initial_epoch)
    differ += [(f'--{name}', value, getattr(settings, name)) for name, value in own.items()
               if value is not None and value != getattr(settings, name)]
    if differ:
        listed = '; '.join(f'{name} {value} (recorded: {was})' for name, value, was in differ)
        raise SettingsError(
            f'--resume {args.resume}: {listed}. A run continues as it was configured '
            f'({flags_path}): drop these or give the recorded values (--epochs or --max_steps '
            'set a new end)')


def _given(value, default):
    return default if value is None else value
