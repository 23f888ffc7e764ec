"""An experiment folder, the one owner of a run's files:

    <experiments>/<data sets>/exp/       (then exp_0, exp_1, ...: never shared)
        logs/model_config.json           every hyper-parameter and the data's scale factor
        logs/flags.json                  the run's settings (run_settings.RunSettings)
        logs/log.txt                     what the run printed
        logs/best.json                   the best weights' step and validation and test costs
        logs/run.lock                    held while a run trains
        checkpoints/best.weights.h5      the best validation weights
        checkpoints/latest/              exact-resume checkpoints (weights, Adam, step, noise)
        samples/                         the grid drawn at each validation
        nonfinite/                       batch_NNNNNNN.json, .svg: each non-finite step's batch
        tensorboard/                     train/ and validation/ summaries

Every file is written atomically (sketchgen.atomic); problems raise
ExperimentError (or its kinds) with one line naming the file.
"""
import json
import os
import re
import socket

from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import tensorflow as tf

from sketchgen import atomic
from sketchgen.errors import (CheckpointError, ExperimentError, MissingCheckpointError,
                              SettingsError, WriteError)
from sketchgen.hparams import get_default_hparams, read_model_config, write_model_config
from sketchgen.messages import first_line
from sketchgen.model import Seq2seqModel
from sketchgen.run_lock import RunLock, describe
from sketchgen.run_settings import RunSettings

LAYOUT = dict(config='logs/model_config.json', log='logs/log.txt', flags='logs/flags.json',
              lock='logs/run.lock', best_costs='logs/best.json', best='checkpoints/best.weights.h5',
              latest='checkpoints/latest', samples='samples', nonfinite='nonfinite',
              tensorboard='tensorboard')
FOLDERS = ('logs', 'checkpoints', 'tensorboard')  # made with the folder
# Shown by --list as set by the data (data_set, max_seq_len) or as the planned steps.
NOT_LISTED = ('data_set', 'max_seq_len', 'num_steps')


def experiment_paths(folder):
    """{name: path} of an experiment folder's files (LAYOUT)."""
    return {name: os.path.join(folder, *relative.split('/')) for name, relative in LAYOUT.items()}


def is_experiment(folder):
    """Whether `folder` holds an experiment's model_config.json."""
    return os.path.isfile(experiment_paths(folder)['config'])


def new_experiment_dir(root, data_sets):
    """<root>/<set names joined by _>/exp, then exp_0, exp_1, ... (never reused)."""
    parent = os.path.join(root, '_'.join(name.removesuffix('.npz') for name in data_sets))
    os.makedirs(parent, exist_ok=True)
    for name in ['exp'] + [f'exp_{i}' for i in range(10 ** 6)]:
        path = os.path.join(parent, name)
        try:
            os.makedirs(path)  # atomic: two runs never share a folder
            return path
        except FileExistsError:
            continue


class Experiment:
    """One experiment folder: its settings, model config, lock and checkpoints."""

    def __init__(self, folder):
        self.folder = os.fspath(folder)
        self.paths = experiment_paths(self.folder)

    # -- making and reading ------------------------------------------------
    @classmethod
    def create(cls, root, data_sets):
        """A new folder under `root`, named by the data sets."""
        return cls(new_experiment_dir(root, data_sets)).make_folders()

    @classmethod
    def create_at(cls, folder):
        """`folder` as a new experiment: it must not exist, or be empty."""
        if os.path.exists(folder) and (not os.path.isdir(folder) or os.listdir(folder)):
            raise ExperimentError(f'{folder}: already exists and is not empty; choose a new folder')
        return cls(folder).make_folders()

    def make_folders(self):
        for name in FOLDERS:
            os.makedirs(os.path.join(self.folder, name), exist_ok=True)
        return self

    def write(self, hps, settings, **config_extras):
        """Writes model_config.json and flags.json."""
        self.make_folders()
        self._write(self.paths['config'], lambda: write_model_config(
            self.paths['config'], hps, **config_extras))
        self.write_settings(settings)

    def write_settings(self, settings):
        self._write(self.paths['flags'], lambda: atomic.write_json(self.paths['flags'],
                                                                   settings.to_json()))

    @staticmethod
    def _write(path, write):
        try:
            write()
        except OSError as err:
            raise WriteError(f'{path}: cannot write it: {first_line(err)}') from None

    def read_config(self, **overrides):
        """-> (hps, extras) of model_config.json."""
        path = self.paths['config']
        if not os.path.exists(path):
            raise ExperimentError(f'{path}: missing; is {self.folder} an experiment folder '
                                  'made by seq2seqVAE_train.py?')
        try:
            return read_model_config(path, **overrides)
        except OSError as err:
            raise ExperimentError(f'{path}: cannot read it: {first_line(err)}') from None

    @property
    def scale_factor(self):
        """The data's normalizing scale factor the model was trained with, or None."""
        return self.read_config()[1].get('normalizing_scale_factor')

    def read_settings(self):
        """The run's RunSettings (SettingsError naming flags.json)."""
        path = self.paths['flags']
        if not os.path.exists(path):
            raise SettingsError(f'{path}: missing; is {self.folder} an experiment folder made '
                                'by seq2seqVAE_train.py?')
        try:
            with open(path) as f:
                values = json.load(f)
        except (OSError, ValueError) as err:
            raise SettingsError(f'{path}: cannot use it: {err}') from None
        return RunSettings.from_json(values, path)

    def read_run(self):
        """-> (hps, settings) of a recorded run, as --resume and --evaluate read them."""
        try:
            hps, _ = self.read_config()
        except SettingsError as err:
            raise SettingsError(f'{self.paths["config"]}: cannot use it: {err}') from None
        return hps, self.read_settings()

    # -- the lock ----------------------------------------------------------
    def lock(self, stack):
        """Holds the run's lock until the ExitStack `stack` closes; LockedError
        while a live process holds it.  -> the holder it took over from (a
        killed run, whose half-written files it removes), or None."""
        lock = RunLock(self.paths['lock'])
        try:
            stack.enter_context(lock)
        except OSError as err:
            raise ExperimentError(f'{lock.path}: cannot lock the experiment: '
                                  f'{first_line(err)}') from None
        if lock.previous:
            for folder in (os.path.dirname(self.paths['config']),
                           os.path.dirname(self.paths['best']), self.paths['samples'],
                           self.paths['nonfinite']):
                atomic.remove_leftovers(folder, lock.previous.get('pid'))
            return describe(lock.previous)
        return None

    def running_owner(self):
        """'pid N on HOST since T' when a live process holds the run's lock, else None."""
        try:
            with open(self.paths['lock']) as f:
                lock = json.load(f)
            pid, host = int(lock['pid']), str(lock['host'])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # no lock, or not one a run wrote
        if host == socket.gethostname():
            try:
                os.kill(pid, 0)  # signal 0: does the process exist?
            except ProcessLookupError:
                return None  # a stale lock: the run died without removing it
            except PermissionError:
                pass  # it exists, owned by another user
        return f'pid {pid} on {host} since {lock.get("since", "?")}'

    # -- checkpoints -------------------------------------------------------
    def save_best(self, model, costs=None):
        """The best weights, replaced atomically (WriteError on a failed
        write), then `costs` (a JSON record of their step and costs) beside them."""
        self._write(self.paths['best'],
                    lambda: atomic.replace_file(self.paths['best'], model.save_weights))
        if costs is not None:
            self._write(self.paths['best_costs'],
                        lambda: atomic.write_json(self.paths['best_costs'], costs))

    def best_costs(self):
        """The record save_best wrote with the best weights, or {}."""
        try:
            with open(self.paths['best_costs']) as f:
                record = json.load(f)
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def save_nonfinite_report(self, batch, values, svg):
        """nonfinite/batch_NNNNNNN.json (values, plus the drawing's name) and
        .svg of the run's batch number `batch` -> the .json's path."""
        folder = self.paths['nonfinite']
        stem = os.path.join(folder, f'batch_{batch:07d}')
        values = dict(values, drawing=os.path.basename(stem) + '.svg')
        self._write(folder, lambda: os.makedirs(folder, exist_ok=True))
        self._write(stem + '.svg', lambda: atomic.write_text(stem + '.svg', svg))
        self._write(stem + '.json', lambda: atomic.write_json(stem + '.json', values))
        return stem + '.json'

    def latest_checkpoint(self):
        """The prefix of the latest exact-resume checkpoint, or None."""
        return tf.train.latest_checkpoint(self.paths['latest'])

    def load_model(self, checkpoint=None, **overrides):
        """The trained model: checkpoint 'best' (default), 'latest', or a
        .weights.h5 file.  `overrides` set hyper-parameters (e.g. batch_size=1).
        CheckpointError when the weights are missing or do not load."""
        hps, _ = self.read_config(**overrides)
        model = Seq2seqModel(hps)
        if checkpoint == 'latest':
            latest = self.latest_checkpoint()
            if latest is None:
                raise MissingCheckpointError(f'{self.paths["latest"]}: no latest checkpoint')
            return self._loading(latest, lambda: tf.train.Checkpoint(model=model).restore(
                latest).expect_partial(), model)
        weights = self.paths['best'] if checkpoint in (None, 'best') else checkpoint
        if not os.path.exists(weights):
            raise MissingCheckpointError(f'{weights}: no checkpoint (has the experiment validated once?)')
        return self._loading(weights, lambda: model.load_weights(weights), model)

    @staticmethod
    def _loading(path, load, model):
        try:
            load()
        except (OSError, ValueError, tf.errors.OpError) as err:
            raise CheckpointError(f'{path}: cannot load it (corrupt, or written for another '
                                  f'configuration): {first_line(err)}') from None
        return model

    def progress(self):
        """(steps done, best valid cost or None, its step) from the latest checkpoint."""
        prefix = self.latest_checkpoint()
        if prefix is None:
            return 0, None, None
        step = int(re.search(r'ckpt-(\d+)$', prefix).group(1))  # numbered by step
        reader = tf.train.load_checkpoint(prefix)
        best_step = int(reader.get_tensor('best_step/.ATTRIBUTES/VARIABLE_VALUE'))
        best = float(reader.get_tensor('best_valid_cost/.ATTRIBUTES/VARIABLE_VALUE'))
        return step, (best if best_step >= 0 else None), best_step

    # -- the summary --list prints -----------------------------------------
    def summary(self):
        """[data, changed hyper-parameters, steps, best valid cost, state]."""
        hps, settings = self.read_run()
        defaults = get_default_hparams().values()
        changed = ','.join(f'{name}={value}' for name, value in sorted(hps.values().items())
                           if name not in NOT_LISTED and value != defaults[name]) or '(defaults)'
        step, best, best_step = self.progress()
        owner = self.running_owner()
        if settings.imported_from:
            state = f'imported from {settings.imported_from}'
        elif owner:
            state = f'running ({owner})'
        elif step >= settings.end_step:
            state = 'finished'
        else:
            state = 'interrupted (resumable)' if step else 'interrupted (no checkpoint yet)'
        data = '+'.join(name.removesuffix('.npz') for name in hps.data_set)
        best_text = f'{best:.4f} at step {best_step}' if best is not None else '-'
        record = self.best_costs()
        if best is not None and hps.conditional and record.get('step') == best_step:
            other = 'mean_z' if settings.best_on == 'sampled_z' else 'sampled_z'
            best_text += f' ({other} {record["valid"][other]["cost"]:.4f})'
        return [data, changed, f'{step}/{settings.end_step}', best_text, state]
