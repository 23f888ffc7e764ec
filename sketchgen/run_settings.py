"""A training run's settings: a new run's from its command line, a resumed
run's as its experiment folder recorded them (model_config.json, flags.json).
Every refusal is a SettingsError whose message is one line naming the file
or flag and the problem."""
import json
import os

import seq2seqVAE as S  # first: it sets TensorFlow's CPU options before TensorFlow loads

DEFAULT_DATA_SET = 'cat'
RECORDED_FLAGS = ('data_dir', 'seed', 'save_every', 'end_step')  # what --resume reads


class SettingsError(Exception):
    """Settings that cannot start or continue a run."""


def npz_names(names):
    return [n if n.endswith('.npz') else f'{n}.npz' for n in names]


def parse_hparams(text):
    """{name: value} of the hyper-parameters that a --hparams text sets."""
    try:
        given = S.HParams().parse(text).values()
    except ValueError as err:
        raise SettingsError(f'--hparams: {err}') from None
    if given.get('is_training') is False:
        raise SettingsError('--hparams: is_training=False describes a model for evaluation only '
                            '(Magenta builds no training op for it); training needs '
                            'is_training=True, the default')
    return given


def new_run_hparams(args):
    """-> (hps, save_every or None for once an epoch) of a new run.  The
    --data_set and --save_every flags win over those hyper-parameters;
    --data_set's default applies only when neither names the data."""
    given = parse_hparams(args.hparams)
    hps = S.get_default_hparams()
    for name, value in given.items():
        hps.set(name, value)
    hps.data_set = npz_names(args.data_set or given.get('data_set') or [DEFAULT_DATA_SET])
    if args.max_steps is not None:
        hps.num_steps = args.max_steps
    save_every = args.save_every if args.save_every is not None else given.get('save_every')
    if save_every is not None and save_every < 1:
        raise SettingsError(f'save_every={save_every}: validate every 1 step or more')
    return hps, save_every


def read_experiment(exp_dir):
    """-> (hps, flags) recorded in an experiment folder."""
    paths = S.experiment_paths(exp_dir)
    for key in ('config', 'flags'):
        if not os.path.exists(paths[key]):
            raise SettingsError(f'{paths[key]}: missing; is {exp_dir} an experiment folder '
                                'made by seq2seqVAE_train.py?')
    try:
        hps, _ = S.read_model_config(paths['config'])
    # TypeError, AttributeError: JSON that is not an object of name: value.
    except (OSError, ValueError, TypeError, AttributeError) as err:
        raise SettingsError(f'{paths["config"]}: cannot use it: {err}') from None
    try:
        with open(paths['flags']) as f:
            flags = json.load(f)
    except (OSError, ValueError) as err:
        raise SettingsError(f'{paths["flags"]}: cannot use it: {err}') from None
    missing = [key for key in RECORDED_FLAGS if not isinstance(flags, dict) or key not in flags]
    if missing:
        raise SettingsError(f'{paths["flags"]}: cannot use it: no {", ".join(missing)}')
    return hps, flags


def check_resume_matches(args, hps, flags):
    """--resume with the run's own settings retyped is accepted; values that
    differ from the recorded ones are refused, all of them listed."""
    given = parse_hparams(args.hparams)
    try:  # what the run's command line gave, before flags and the data set overrode it
        original = S.HParams().parse(flags.get('hparams') or '').values()
    except ValueError:
        original = {}
    recorded = dict(hps.values(), **original)
    differ = [(name, value, recorded[name]) for name, value in given.items()
              if value != recorded[name]]
    if args.data_set and npz_names(args.data_set) != hps.data_set:
        differ.append(('--data_set', npz_names(args.data_set), hps.data_set))
    own = {'seed': args.seed, 'save_every': args.save_every}
    if args.checkpoint:
        own.update(checkpoint=args.checkpoint, initial_epoch=args.initial_epoch)
    differ += [(f'--{name}', value, flags.get(name)) for name, value in own.items()
               if value is not None and value != flags.get(name)]
    if differ:
        listed = '; '.join(f'{name} {value} (recorded: {was})' for name, value, was in differ)
        raise SettingsError(
            f'--resume {args.resume}: {listed}. A run continues as it was configured '
            f'({S.experiment_paths(args.resume)["flags"]}): drop these or give the recorded '
            'values (--epochs or --max_steps set a new end)')
