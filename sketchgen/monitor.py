"""What a run shows while it trains: at each validation a grid of samples
from fixed z and of reconstructions of fixed validation sketches, written
as samples/step_NNNNNNN.svg, samples/latest.svg and TensorBoard images;
once a run, its hyper-parameters for TensorBoard's HParams dashboard and
its settings as text."""
import json
import os

from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from sketchgen import atomic, raster
from sketchgen.drawing import draw_grid, grid_strokes
from sketchgen.sampling import float32_model, sample_batch
from sketchgen.strokes import to_big_strokes, to_normal_strokes

SAMPLE_TEMPERATURES = (0.2, 0.6, 1.0)
RECONSTRUCTION_TEMPERATURE = 0.3
CELL_PIXELS = 96  # TensorBoard image pixels per grid cell
# Written at each validation; the HParams table shows them per run.
METRICS = (('best_valid_cost', 'validation'), ('valid_cost', 'validation'),
           ('valid_cost_mean_z', 'validation'), ('train_cost', 'train'))


class SampleGrid:
    """The rows drawn at each validation, from what is fixed once per run:
    z, the sampler's seeds and the validation sketches to reconstruct, all
    from the run's seed, so that the same cells change over the run and the
    same weights give the same drawing."""

    def __init__(self, hps, valid_set, num, seed):
        self.hps, self.num = hps, num
        rng = np.random.default_rng([seed, 13])  # apart from the seeds training uses
        self.z = rng.standard_normal((num, hps.z_size)).astype(np.float32)
        self.seeds = [int(s) for s in rng.integers(2 ** 31, size=len(SAMPLE_TEMPERATURES) + 1)]
        count = len(valid_set.strokes)
        picks = np.sort(rng.choice(count, num, replace=num > count))
        self.inputs = [valid_set.strokes[i] for i in picks]  # normalised, as the model reads them

    def rows(self, model):
        """`model`'s [samples at each temperature...] and, for a model with an
        encoder, [validation sketches], [their decodings]: lists of stroke-3 sketches."""
        rows = [self._sample(model, temperature, self.z, seed)
                for temperature, seed in zip(SAMPLE_TEMPERATURES, self.seeds)]
        if self.hps.conditional:
            rows += [self.inputs, self._sample(model, RECONSTRUCTION_TEMPERATURE,
                                               self.encode_inputs(model), self.seeds[-1])]
        return rows

    def encode_inputs(self, model):
        """Posterior means of the fixed validation sketches, [num, z_size].
        Eager: its recurrent kernels are compiled already, and tracing the
        whole encoder costs more than a run's validations save."""
        padded = np.stack([to_big_strokes(s, self.hps.max_seq_len) for s in self.inputs])
        mu, _ = float32_model(model).encode(tf.constant(padded, tf.float32),
                             tf.constant([len(s) for s in self.inputs], tf.int32))
        return tf.cast(mu, tf.float32).numpy()

    def _sample(self, model, temperature, z, seed):
        sketches = sample_batch(model, len(z), self.hps.max_seq_len, temperature, z=z, seed=seed)
        return [to_normal_strokes(s) for s in sketches]


def grid_image(rows, ncols):
    """A grayscale [1, H, W, 1] uint8 batch of the rows laid out by utils.grid_strokes."""
    size = (CELL_PIXELS * ncols, CELL_PIXELS * len(rows))
    image = raster.render(grid_strokes([s for row in rows for s in row], ncols), size)
    return np.asarray(image, np.uint8)[None, :, :, None]


class Monitor:
    """Draws the grid at each validation into `folder` (the experiment's
    samples/) and TensorBoard (chief only: other workers get none)."""

    def __init__(self, folder, grid):
        self.grid, self.folder = grid, folder

    def draw(self, model, step, writer):
        rows = self.grid.rows(model)
        os.makedirs(self.folder, exist_ok=True)
        svg = draw_grid([s for row in rows for s in row], self.grid.num)
        # Atomic writes: a reader never sees half a file.
        atomic.write_text(os.path.join(self.folder, f'step_{step:07d}.svg'), svg)
        atomic.write_text(os.path.join(self.folder, 'latest.svg'), svg)
        temperatures = ', '.join(f'{t:g}' for t in SAMPLE_TEMPERATURES)
        samples, reconstructions = rows[:len(SAMPLE_TEMPERATURES)], rows[len(SAMPLE_TEMPERATURES):]
        with writer.as_default(step=step):
            tf.summary.image('samples', grid_image(samples, self.grid.num),
                             description=f'rows: temperature {temperatures}, fixed z')
            if reconstructions:
                tf.summary.image('reconstructions', grid_image(reconstructions, self.grid.num),
                                 description='validation sketches, then their decodings at '
                                             f'temperature {RECONSTRUCTION_TEMPERATURE:g}')
        writer.flush()


def hparam_values(hps, **extra):
    """HParams-dashboard values: numbers, booleans and strings only."""
    values = dict(hps.values(), **extra)
    return {name: ','.join(map(str, value)) if isinstance(value, list) else value
            for name, value in sorted(values.items())}


def write_run_summary(folder, trial_id, hps, step, command_line, config_path, **extra):
    """The run's hyper-parameters for the HParams dashboard (metrics from the
    validation and train folders under `folder`), and its model_config.json
    and command line as text, at `step` (where it starts or resumes)."""
    values = hparam_values(hps, **extra)
    writer = tf.summary.create_file_writer(folder)
    with writer.as_default(step=step):
        hp.hparams_config(hparams=[hp.HParam(name) for name in values],
                          metrics=[hp.Metric(tag, group=group) for tag, group in METRICS])
        hp.hparams(values, trial_id=trial_id)
        with open(config_path) as f:
            config = json.dumps(json.load(f), indent=2)
        # Indented by four spaces: TensorBoard shows text summaries as Markdown.
        tf.summary.text('model_config', '    ' + config.replace('\n', '\n    '))
        tf.summary.text('command_line', '    ' + command_line)
    writer.close()
