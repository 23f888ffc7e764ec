"""What a newcomer sees on the console: each command's --help answers
without starting TensorFlow and gives one default per flag; a run's output
starts with the command's own words, without TensorFlow's log lines."""
import os
import re
import subprocess
import sys

import pytest
from cli import ROOT
from random_sketches import write_npz
from tiny import TINY_HPARAMS

COMMANDS = ('seq2seqVAE_train.py', 'seq2seqVAE_sample.py', 'seq2seqVAE_export.py',
            'seq2seqVAE_data.py')
NATIVE_LOG = re.compile(r'^([IWEF]\d{4} \d\d:\d\d:|WARNING: All log messages before absl)', re.M)


def console(*argv, python_flags=()):
    """A command as a user runs it (no TF_CPP_MIN_LOG_LEVEL of ours) ->
    (exit status, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
    env['PYTHONPATH'] = ROOT
    run = subprocess.run([sys.executable, *python_flags, *map(str, argv)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    return run.returncode, run.stdout, run.stderr


def option_helps(text):
    """Each option's entry in argparse's help: from its '  -' line to the next."""
    return re.split(r'\n(?=  -)', text.split('options:', 1)[1])


@pytest.mark.parametrize('command', COMMANDS)
def test_help_starts_no_tensorflow_and_gives_one_default_each(command):
    code, out, err = console(command, '--help', python_flags=('-X', 'importtime'))
    assert code == 0, err
    assert out.startswith('usage: ')
    imported = [line.split('|')[-1].strip() for line in err.splitlines()
                if line.startswith('import time:')]
    assert imported and not [m for m in imported if m.split('.')[0] in ('tensorflow', 'keras')]
    assert not [line for line in err.splitlines() if not line.startswith('import time:')], err
    for entry in option_helps(out):
        assert entry.count('default:') <= 1, entry
        assert not re.search(r'\(default: (None|False)\)', entry), entry


@pytest.mark.slow
def test_a_run_prints_only_its_own_words(tmp_path):
    write_npz(tmp_path / 'a.npz', seed=1, sizes=(16, 8, 8))
    code, out, err = console('seq2seqVAE_train.py', '--data_dir', tmp_path, '--data_set', 'a',
                             '--experiment_dir', tmp_path / 'experiments', '--max_steps', 2,
                             '--save_every', 1, '--seed', 1, '--hparams', TINY_HPARAMS)
    assert code == 0, err
    assert out.startswith(f'Experiment {tmp_path / "experiments"}'), out
    assert not NATIVE_LOG.search(err) and not NATIVE_LOG.search(out), err
    assert 'Warning' not in err and 'WARNING' not in err, err
    sample = ('seq2seqVAE_sample.py', tmp_path / 'experiments' / 'a' / 'exp', '--num', 2,
              '--out', tmp_path / 'samples.svg')
    assert console(*sample) == (0, f'wrote {tmp_path / "samples.svg"}\n', '')
    code, out, err = console(*sample, '--verbose')  # TensorFlow's own lines, when asked for
    assert code == 0 and NATIVE_LOG.search(err), err
    code, out, err = console('-c', 'import seq2seqVAE as S, tensorflow as tf; print(tf.ones([2]).shape)')
    assert (code, out, err) == (0, '(2,)\n', '')  # the library is quiet too
