"""Experiment folders: a new run's (never shared), and the lock a run holds
on its folder while it trains."""
import os

import seq2seqVAE as S

from sketchgen import atomic
from sketchgen.cli import fail
from sketchgen.messages import first_line
from sketchgen.run_lock import RunLock, describe


def new_experiment_dir(root, data_sets):
    """<root>/<set names joined by _>/exp, then exp_0, exp_1, ... (never reused)."""
    parent = os.path.join(root, '_'.join(name[:-4] for name in data_sets))
    os.makedirs(parent, exist_ok=True)
    candidates = ['exp'] + [f'exp_{i}' for i in range(10 ** 6)]
    for name in candidates:
        path = os.path.join(parent, name)
        try:
            os.makedirs(path)  # atomic: two runs never share a folder
            return path
        except FileExistsError:
            continue


def lock_experiment(exp_dir, cleanup):
    """Holds the run's lock until `cleanup` closes; refuses a live holder."""
    lock = RunLock(S.experiment_paths(exp_dir)['lock'])
    try:
        cleanup.enter_context(lock)
    except OSError as err:
        fail(f'{lock.path}: cannot lock the experiment: {first_line(err)}')
    if lock.previous:  # a killed run's: what it was writing when killed goes too
        print(f'{exp_dir}: taking over the lock of {describe(lock.previous)}, '
              'which is no longer running')
        paths = S.experiment_paths(exp_dir)
        for folder in (os.path.dirname(paths['config']), os.path.dirname(paths['best']),
                       paths['samples']):
            atomic.remove_leftovers(folder, lock.previous.get('pid'))
