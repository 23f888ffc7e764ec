"""What a run shows while it trains: sample grids at each validation (SVG and
TensorBoard images), the HParams dashboard, --list and the progress line.

One tiny run with grids and one without serve the tests; each calls
seq2seqVAE_train.main in this process."""
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import svgelements
import tensorflow as tf
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2

import seq2seqVAE as S
import seq2seqVAE_train as T
import utils
from cli import run_main
from sketchgen import monitor, progress, trainer as training
from tiny import TINY_HPARAMS, tiny_hps

SEED, SAMPLES = 5, 3


def train(data_dir, experiments, *more):
    return run_main(T.main, '--data_dir', data_dir, '--data_set', 'a', '--experiment_dir',
                    experiments, '--seed', SEED, '--hparams', TINY_HPARAMS, '--max_steps', 8,
                    '--save_every', 4, *more)


@pytest.fixture(scope='module')
def experiments(data_dir, tmp_path_factory):
    """Two runs to step 8: a/exp with a grid of SAMPLES; a/exp_0 with
    --samples 0, interrupted by SIGINT at step 6.  -> (folder, their outputs)."""
    folder = tmp_path_factory.mktemp('experiments')
    finished = train(data_dir, folder, '--samples', SAMPLES)
    assert finished.code == 0, finished.err
    on_batch_end = training.TrainerEvents.on_train_batch_end

    def interrupt_at_6(self, batch, logs=None):
        if self.trainer.step == 6:
            signal.raise_signal(signal.SIGINT)  # the command's own handler takes it
        on_batch_end(self, batch, logs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training.TrainerEvents, 'on_train_batch_end', interrupt_at_6)
        interrupted = train(data_dir, folder, '--samples', 0)
    assert interrupted.code == 130, interrupted.err
    return folder, finished.out, interrupted.out


def events(folder):
    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance={
        event_accumulator.IMAGES: 0, event_accumulator.TENSORS: 0})
    return accumulator.Reload()


@pytest.mark.slow
def test_samples_folder_has_an_svg_for_each_validation(experiments):
    folder = experiments[0] / 'a' / 'exp' / 'samples'
    assert sorted(os.listdir(folder)) == ['latest.svg', 'step_0000004.svg', 'step_0000008.svg']
    for name in os.listdir(folder):
        paths = [e for e in svgelements.SVG.parse(str(folder / name)).elements()
                 if isinstance(e, svgelements.Path)]
        assert len(paths) == 1 and len(paths[0]) > 5 * SAMPLES, name  # one grid of 5 rows
    assert (folder / 'latest.svg').read_text() == (folder / 'step_0000008.svg').read_text()
    assert (folder / 'step_0000004.svg').read_text() != (folder / 'latest.svg').read_text()


def values(run_events, tag):
    """{step: value} of a TensorFlow 2 summary (scalars, images and text are tensors)."""
    return {event.step: tf.make_ndarray(event.tensor_proto) for event in run_events.Tensors(tag)}


@pytest.mark.slow
def test_tensorboard_has_images_at_each_validation(experiments):
    validation = events(experiments[0] / 'a' / 'exp' / 'tensorboard' / 'validation')
    assert set(validation.PluginTagToContent('images')) == {'samples', 'reconstructions'}
    # Samples: three rows (temperatures) of SAMPLES cells; reconstructions: inputs and decodings.
    for tag, rows in (('samples', 3), ('reconstructions', 2)):
        images = values(validation, tag)
        assert sorted(images) == [4, 8], tag
        for width, height, png in images.values():  # tf.summary.image's [width, height, PNG]
            image = Image.open(io.BytesIO(png))
            assert image.size == (SAMPLES * 96, rows * 96) == (int(width), int(height))
            assert np.asarray(image).min() == 0  # something is drawn
    best, valid = values(validation, 'best_valid_cost'), values(validation, 'valid_cost')
    assert list(best.values()) == pytest.approx(np.minimum.accumulate(list(valid.values())))


@pytest.mark.slow
def test_tensorboard_has_the_runs_hparams_and_settings(experiments):
    folder = experiments[0] / 'a' / 'exp'
    run_events = events(folder / 'tensorboard')
    assert {'_hparams_/experiment', '_hparams_/session_start_info'} <= set(run_events.Tags()['tensors'])
    data = plugin_data_pb2.HParamsPluginData.FromString(
        run_events.SummaryMetadata('_hparams_/session_start_info').plugin_data.content)
    hparams = data.session_start_info.hparams
    assert hparams['dec_rnn_size'].number_value == 16 and hparams['data_set'].string_value == 'a.npz'
    assert hparams['seed'].number_value == SEED
    assert hparams['on_nonfinite'].string_value == 'recover'  # the policy for NaN or inf steps
    text = {tag: values(run_events, tag)[0].item().decode() for tag in ('model_config', 'command_line')}
    config = json.loads(text['model_config'])
    assert config == json.loads((folder / 'logs' / 'model_config.json').read_text())
    assert f'--hparams {TINY_HPARAMS}' in text['command_line']


@pytest.mark.slow
def test_the_same_weights_give_the_same_drawing(experiments, data_dir):
    """The grid redrawn from the last checkpoint, in a new model, is the one
    the run drew at that step."""
    exp_dir = experiments[0] / 'a' / 'exp'
    model = S.load_model(str(exp_dir), 'latest')
    hps = model.hps.copy()
    _, valid_set, _, _ = utils.load_dataset(data_dir, hps)
    rows = monitor.SampleGrid(model.hps, valid_set, SAMPLES, SEED).rows(model)
    svg = utils.draw_grid([s for row in rows for s in row], SAMPLES)
    assert svg == (exp_dir / 'samples' / 'latest.svg').read_text()


def test_decoder_only_models_sample_with_fixed_seeds(data_dir):
    hps = tiny_hps(conditional=False, data_set=['a.npz'])
    _, valid_set, _, hps = utils.load_dataset(data_dir, hps)
    model = S.Seq2seqModel(hps, seed=1)
    grid = monitor.SampleGrid(hps, valid_set, 2, SEED)
    first, again = grid.rows(model), grid.rows(model)
    assert len(first) == 3  # one row per temperature, no reconstructions
    for row, row_again in zip(first, again):
        for a, b in zip(row, row_again):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0][0], first[0][1])  # the cells differ


@pytest.mark.slow
def test_samples_0_draws_nothing(experiments):
    exp_dir = experiments[0] / 'a' / 'exp_0'
    assert not os.path.exists(exp_dir / 'samples')
    assert events(exp_dir / 'tensorboard' / 'validation').Tags()['images'] == []
    assert json.loads((exp_dir / 'logs' / 'flags.json').read_text())['samples'] == 0


def dead_pid():
    process = subprocess.Popen([sys.executable, '-c', ''])
    process.wait()
    return process.pid


@pytest.mark.slow
def test_list_shows_finished_interrupted_and_running_runs(experiments):
    root = experiments[0] / 'listed'
    shutil.copytree(experiments[0] / 'a', root / 'a')
    # Copies of the interrupted exp_0: exp_1 locked by a live process, exp_2 by a dead one.
    for name, pid in (('exp_1', os.getpid()), ('exp_2', dead_pid())):
        shutil.copytree(root / 'a' / 'exp_0', root / 'a' / name)
        (root / 'a' / name / 'logs' / 'run.lock').write_text(json.dumps(
            dict(pid=pid, host=socket.gethostname(), since='2026-01-01T00:00:00')))
    result = run_main(T.main, '--list', root)
    assert result.code == 0, result.err
    header, *lines = result.out.splitlines()
    assert header.split()[:2] == ['run', 'data']
    by_run = {line.split()[0]: line for line in lines}
    assert set(by_run) == {'a/exp', 'a/exp_0', 'a/exp_1', 'a/exp_2'}
    for line in by_run.values():
        assert ' a ' in line and 'batch_size=4,dec_rnn_size=16' in line and 'z_size=4' in line
    assert ' 8/8 ' in by_run['a/exp'] and by_run['a/exp'].endswith('finished')
    assert ' 6/8 ' in by_run['a/exp_0'] and by_run['a/exp_0'].endswith('interrupted (resumable)')
    assert f'running (pid {os.getpid()} on {socket.gethostname()}' in by_run['a/exp_1']
    assert by_run['a/exp_2'].endswith('interrupted (resumable)')  # its process is gone
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(
        str(root / 'a' / 'exp' / 'checkpoints' / 'latest')))
    best = float(reader.get_tensor('best_valid_cost/.ATTRIBUTES/VARIABLE_VALUE'))
    best_step = int(reader.get_tensor('best_step/.ATTRIBUTES/VARIABLE_VALUE'))
    assert f'{best:.4f} at step {best_step}' in by_run['a/exp']


def test_list_of_a_missing_folder_is_one_line(tmp_path):
    result = run_main(T.main, '--list', tmp_path / 'nowhere')
    assert result.code == 2 and result.err.strip() == f'error: {tmp_path / "nowhere"}: no such folder'


@pytest.mark.slow
def test_progress_line_shows_the_whole_run_and_stays_where_it_stopped(experiments, capsys):
    finished, interrupted = experiments[1:]
    assert 'step 4/8 [' in finished and 'step 8/8 [' in finished  # the run's steps
    # Interrupted at step 6: the line ends there, not at the interval's end (step 8).
    assert 'step 6/8 [' in interrupted and 'step 8/8' not in interrupted
    steps = iter([3, 3])  # created at step 3, stopped at step 3 (an interruption)
    bar = progress.RunProgress(lambda: next(steps), 10)
    bar.on_epoch_end(0)
    assert capsys.readouterr().out.startswith('step 3/10 [======>')


def test_bfloat16_runs_draw_their_grids(data_dir, tmp_path):
    """--precision bfloat16 trains, validates and draws its grid (the
    samplers run in the float32 weights' dtype), and its model samples and
    completes sketches."""
    result = train(data_dir, tmp_path, '--samples', 2, '--precision', 'bfloat16')
    assert result.code == 0, result.err
    grid = (tmp_path / 'a' / 'exp' / 'samples' / 'latest.svg').read_text()
    assert grid.count('<path') >= 1
    hps = tiny_hps(data_set=['a.npz'])
    model = S.Seq2seqModel(hps, seed=1, dtype='mixed_bfloat16')
    assert model.compute_dtype == 'bfloat16'
    for sketch in S.sample_batch(model, 2, 10, seed=1) + S.complete(model, np.ones((3, 3)), 2, 10):
        assert sketch.dtype == np.float32 and np.isfinite(sketch).all()
