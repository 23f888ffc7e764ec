"""`seq2seqVAE_train.py --list`: one line per run in an experiments folder."""
import json
import os
import re
import socket

import seq2seqVAE as S
import tensorflow as tf

from sketchgen.messages import first_line

# Set by the data (data_set, max_seq_len) or shown as the planned steps (num_steps).
NOT_LISTED = ('data_set', 'max_seq_len', 'num_steps')
COLUMNS = ('run', 'data', 'hyper-parameters', 'steps', 'best valid cost', 'state')
LOCK_FILE = 'run.lock'  # in logs/: {"pid", "host", "since"} while a run trains


def find_runs(root):
    """Experiment folders under root: those holding logs/flags.json."""
    runs = []
    for folder, subfolders, files in os.walk(root):
        if os.path.basename(folder) == 'logs' and 'flags.json' in files:
            runs.append(os.path.dirname(folder))
        subfolders[:] = [d for d in subfolders if d not in ('checkpoints', 'tensorboard', 'samples')]
    return sorted(runs)


def running_owner(exp_dir):
    """'pid N on HOST since T' when a live process holds the run's lock, else None."""
    try:
        with open(os.path.join(exp_dir, 'logs', LOCK_FILE)) as f:
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


def checkpoint_progress(exp_dir):
    """(steps done, best valid cost, its step) from the latest checkpoint; (0, None, None) without one."""
    prefix = tf.train.latest_checkpoint(S.experiment_paths(exp_dir)['latest'])
    if prefix is None:
        return 0, None, None
    step = int(re.search(r'ckpt-(\d+)$', prefix).group(1))  # the manager numbers them by step
    reader = tf.train.load_checkpoint(prefix)
    best_step = int(reader.get_tensor('best_step/.ATTRIBUTES/VARIABLE_VALUE'))
    best = float(reader.get_tensor('best_valid_cost/.ATTRIBUTES/VARIABLE_VALUE'))
    return step, (best if best_step >= 0 else None), best_step


def describe(exp_dir):
    """The columns of one run."""
    paths = S.experiment_paths(exp_dir)
    hps, _ = S.read_model_config(paths['config'])
    with open(paths['flags']) as f:
        end_step = int(json.load(f)['end_step'])
    defaults = S.get_default_hparams().values()
    changed = ','.join(f'{name}={value}' for name, value in sorted(hps.values().items())
                       if name not in NOT_LISTED and value != defaults[name]) or '(defaults)'
    step, best, best_step = checkpoint_progress(exp_dir)
    owner = running_owner(exp_dir)
    if owner:
        state = f'running ({owner})'
    elif step >= end_step:
        state = 'finished'
    else:
        state = 'interrupted (resumable)' if step else 'interrupted (no checkpoint yet)'
    data = '+'.join(re.sub(r'\.npz$', '', name) for name in hps.data_set)
    best_text = f'{best:.4f} at step {best_step}' if best is not None else '-'
    return [data, changed, f'{step}/{end_step}', best_text, state]


def list_runs(root):
    """The table's lines: a header, then one line per run under root."""
    rows = [list(COLUMNS)]
    for exp_dir in find_runs(root):
        name = os.path.relpath(exp_dir, root)
        try:
            rows.append([name] + describe(exp_dir))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, tf.errors.OpError) as err:
            rows.append([name, f'unreadable: {first_line(err)}'])
    widths = [max(len(row[i]) for row in rows if len(row) > i) for i in range(len(COLUMNS))]
    return ['  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in rows]
