"""seq2seqVAE_export: the @magenta/sketch JSON format, what it refuses, the
command line, and the library itself running exports in Node and in the
browser example.  The Node and browser tests skip without node, the npm
packages or Chromium (.ci/install_js.sh installs them)."""
import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from loopback import QuietHandler, serving

import seq2seqVAE as S
import seq2seqVAE_export as E
import utils
from sketchgen import sketch_js
from sketchgen.sketch_js import QUANT_STEP

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / 'shared' / 'reference'
SHAPES = REPO / 'datasets' / 'shapes.npz'
KEYS = ('pi', 'mu1', 'mu2', 'sigma1', 'sigma2', 'corr', 'pen')
SCALE_FACTOR = 12.5
# TF and TensorFlow.js sum in different orders, in float32.
FLOAT32_SLACK = 1e-5

needs_node = pytest.mark.skipif(
    shutil.which('node') is None or not (REPO / 'node_modules/@magenta/sketch').is_dir(),
    reason='needs node and `npm ci` (.ci/install_js.sh)')


def make_model(seed=0, **overrides):
    """A small random model with 20 mixtures, made less trivial than its
    initialisation: Magenta's tiny init of the z -> state layer would give an
    initial state of ~0, and a pen-end bias keeps samples a few strokes long."""
    hps = S.get_default_hparams()
    values = dict(dec_rnn_size=16, enc_rnn_size=8, z_size=4, num_mixture=20, max_seq_len=40,
                  batch_size=1)
    for name, value in dict(values, **overrides).items():
        hps.set(name, value)
    keras.utils.set_random_seed(seed)
    model = S.Seq2seqModel(hps)
    rng = np.random.default_rng(seed)
    if hps.conditional:
        layer = model.initial_state_layer
        layer.kernel.assign(rng.normal(0, 0.5, layer.kernel.shape))
    bias = model.output_layer.bias.numpy()
    bias[2] = -3.0
    model.output_layer.bias.assign(bias)
    return model


@pytest.fixture(scope='module')
def models():
    return {True: make_model(1), False: make_model(2, conditional=False)}


Z = np.array([0.3, -1.2, 0.8, 0.1], np.float32)


def z_for(model):
    return Z if model.hps.conditional else None


def export(model, tmp_path, **more):
    """The model written as tmp_path/model.json with z_for(model) -> its path."""
    path = tmp_path / 'model.json'
    E.export_sketch_rnn_js(model, path, z_for(model), scale_factor=SCALE_FACTOR, **more)
    return path


def read_export(path):
    info, dimensions, strings = json.loads(Path(path).read_text())
    arrays = [QUANT_STEP * np.frombuffer(base64.b64decode(s), '<i2').reshape(d)
              for s, d in zip(strings, dimensions)]
    return info, dimensions, arrays


def strokes(steps=10, seed=3):
    """S_0 then random stroke-5 rows, model units."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((steps, 5), np.float32)
    rows[0] = [0, 0, 1, 0, 0]
    rows[1:, 0:2] = rng.normal(0, 1, (steps - 1, 2))
    lifted = rng.random(steps - 1) < 0.3
    rows[1:, 2], rows[1:, 3] = ~lifted, lifted
    return rows


# --------------------------------------------------------------------------
# The format.
# --------------------------------------------------------------------------
@pytest.mark.parametrize('conditional', [True, False])
def test_export_layout_and_info(models, tmp_path, conditional):
    model = models[conditional]
    path = export(model, tmp_path, name='test')
    info, dimensions, arrays = read_export(path)
    units = model.hps.dec_rnn_size
    assert dimensions == [[units, 123], [123], [5, 4 * units], [units, 4 * units], [4 * units]]
    cell = model.decoder
    bias = cell.bias.numpy()
    if conditional:  # z's input term folded into the bias
        bias = bias + Z @ cell.W_xh.numpy()[5:]
    expected = [model.output_layer.kernel.numpy(), model.output_layer.bias.numpy(),
                cell.W_xh.numpy()[:5], cell.W_hh.numpy(), bias]
    for got, want in zip(arrays, expected):
        np.testing.assert_allclose(got, want, rtol=0, atol=QUANT_STEP / 2 * 1.001)
    assert info['scale_factor'] == SCALE_FACTOR
    assert info['max_seq_len'] == model.hps.max_seq_len
    assert (info['name'], info['mode']) == ('test', 2)
    if conditional:
        c, h = model.initial_state(Z[None], 1)
        np.testing.assert_array_equal(np.float32(info['initial_state']['c']), c.numpy()[0])
        np.testing.assert_array_equal(np.float32(info['initial_state']['h']), h.numpy()[0])
    else:
        assert 'initial_state' not in info


@pytest.mark.parametrize('overrides, reason', [
    (dict(dec_model='layer_norm'), "decoder is 'layer_norm'"),
    (dict(dec_model='hyper'), "decoder is 'hyper'"),
    (dict(num_mixture=5), 'num_mixture=5'),
])
def test_refuses_what_the_library_cannot_run(tmp_path, overrides, reason):
    model = make_model(**overrides)
    with pytest.raises(E.ExportError, match=re.escape(reason)):
        E.export_sketch_rnn_js(model, tmp_path / 'm.json', Z, scale_factor=1.0)
    assert not (tmp_path / 'm.json').exists()


def test_refuses_weights_beyond_the_int16_range(tmp_path):
    model = make_model(conditional=False)
    model.output_layer.bias.assign(np.full(123, 10.5, np.float32))
    with pytest.raises(E.ExportError, match='10.5'):
        E.export_sketch_rnn_js(model, tmp_path / 'm.json', scale_factor=1.0)


def test_z_must_match_the_model(models, tmp_path):
    with pytest.raises(E.ExportError, match=re.escape('z has shape (3,)')):
        E.export_sketch_rnn_js(models[True], tmp_path / 'm.json', Z[:3], scale_factor=1.0)
    with pytest.raises(E.ExportError, match='conditional model'):
        E.export_sketch_rnn_js(models[True], tmp_path / 'm.json', scale_factor=1.0)
    with pytest.raises(E.ExportError, match='decoder-only'):
        E.export_sketch_rnn_js(models[False], tmp_path / 'm.json', Z, scale_factor=1.0)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason='needs ../shared/reference')
@pytest.mark.parametrize('bundle', sorted(p.name for p in REFERENCE.iterdir()
                                          if (p / 'checkpoint').exists())
                         if REFERENCE.is_dir() else [])
def test_magenta_reference_checkpoints_are_refused(bundle, tmp_path):
    """They use 5 mixtures (and some a layer-norm or hyper decoder)."""
    model = S.load_model(str(REFERENCE / bundle))
    with pytest.raises(E.ExportError, match=f'num_mixture={model.hps.num_mixture}') as err:
        E.export_sketch_rnn_js(model, tmp_path / 'm.json', np.zeros(model.hps.z_size),
                               scale_factor=1.0)
    if model.hps.dec_model != 'lstm':
        assert f"decoder is '{model.hps.dec_model}'" in str(err.value)


@pytest.mark.skipif(not (REFERENCE / 'lstm_sheep').is_dir(), reason='needs ../shared/reference')
def test_command_refuses_in_one_line(tmp_path):
    out = tmp_path / 'm.json'
    run = subprocess.run([sys.executable, str(REPO / 'seq2seqVAE_export.py'),
                          str(REFERENCE / 'lstm_sheep'), '--seed', '0', '--out', str(out)],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith('error: cannot export for @magenta/sketch: ')
    assert 'num_mixture=5' in last and not out.exists()


# --------------------------------------------------------------------------
# The command line on an experiment folder.
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def experiment(tmp_path_factory):
    """An experiment folder as seq2seqVAE_train.py writes it, on shapes.npz."""
    if not SHAPES.exists():
        pytest.skip('needs datasets/shapes.npz')
    folder = tmp_path_factory.mktemp('exp')
    model = make_model(4, data_set=['shapes.npz'])
    paths = S.experiment_paths(str(folder))
    for key in ('config', 'best'):
        Path(paths[key]).parent.mkdir(parents=True, exist_ok=True)
    S.write_model_config(paths['config'], model.hps, normalizing_scale_factor=SCALE_FACTOR)
    model.save_weights(paths['best'])
    return folder, model


def exported_state(path):
    state = json.loads(Path(path).read_text())[0]['initial_state']
    return np.array(state['c']), np.array(state['h'])


def test_command_exports_a_test_sketch_or_a_sketch_file(experiment, tmp_path):
    folder, model = experiment
    hps = model.hps.copy()
    _, _, test_set, _ = utils.load_dataset(REPO / 'datasets', hps)
    sketch = test_set.strokes[3]
    mu, _ = model.encode(utils.to_big_strokes(sketch, len(sketch))[None].astype(np.float32),
                         np.array([len(sketch)]))
    want_c, want_h = (s.numpy()[0] for s in model.initial_state(mu, 1))

    by_index = tmp_path / 'index.json'
    E.main([str(folder), '--index', '3', '--data_dir', str(REPO / 'datasets'),
            '--out', str(by_index)])
    info = json.loads(by_index.read_text())[0]
    assert (info['name'], info['scale_factor']) == ('shapes', SCALE_FACTOR)
    c, h = exported_state(by_index)
    np.testing.assert_allclose(c, want_c, atol=1e-6)
    np.testing.assert_allclose(h, want_h, atol=1e-6)

    # The same sketch in data units, from a file.
    sketch_file = tmp_path / 'sketch.json'
    raw = sketch.copy()
    raw[:, 0:2] *= SCALE_FACTOR
    sketch_file.write_text(json.dumps(raw.tolist()))
    by_file = tmp_path / 'file.json'
    E.main([str(folder), '--sketch', str(sketch_file), '--out', str(by_file)])
    c, h = exported_state(by_file)
    np.testing.assert_allclose(c, want_c, atol=1e-5)
    np.testing.assert_allclose(h, want_h, atol=1e-5)


def test_command_on_a_magenta_checkpoint(tmp_path):
    """A decoder-only checkpoint under Magenta's variable names: it records no
    scale factor, so the command asks for one."""
    model = make_model(5, conditional=False)
    cell, out = model.decoder, model.output_layer
    values = {'RNN/LSTMCell/W_xh': cell.W_xh, 'RNN/LSTMCell/W_hh': cell.W_hh,
              'RNN/LSTMCell/bias': cell.bias, 'RNN/output_w': out.kernel,
              'RNN/output_b': out.bias}
    values = {name: v.numpy() for name, v in values.items()}
    with tf.Graph().as_default():  # a TF1 Saver writes Magenta's names
        variables = [tf.compat.v1.Variable(v, name=f'vector_rnn/{name}')
                     for name, v in values.items()]
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver(variables).save(session, str(tmp_path / 'vector'))
    (tmp_path / 'model_config.json').write_text(model.hps.to_json())

    out_path = tmp_path / 'm.json'
    with pytest.raises(SystemExit, match='give --scale_factor'):
        E.main([str(tmp_path), '--out', str(out_path)])
    E.main([str(tmp_path), '--scale_factor', '3.5', '--out', str(out_path)])
    info, _, arrays = read_export(out_path)
    assert info['scale_factor'] == 3.5 and 'initial_state' not in info
    for got, want in zip(arrays, E.decoder_arrays(model)):
        np.testing.assert_allclose(got, want, rtol=0, atol=QUANT_STEP / 2 * 1.001)


def test_command_random_z_and_errors(experiment, tmp_path, capsys):
    folder, model = experiment
    out = tmp_path / 'seed.json'
    E.main([str(folder), '--seed', '5', '--name', 'five', '--out', str(out)])
    z = np.random.default_rng(5).standard_normal(model.hps.z_size)
    c, h = exported_state(out)
    np.testing.assert_allclose(h, model.initial_state(z[None].astype(np.float32), 1)[1][0],
                               atol=1e-6)
    for argv, message in [([], 'choose its z with --seed, --index or --sketch'),
                          (['--index', '999'], 'the test set has 200 sketches')]:
        with pytest.raises(SystemExit, match=re.escape(message)):
            E.main([str(folder), '--data_dir', str(REPO / 'datasets'),
                    '--out', str(tmp_path / 'x.json')] + argv)


# --------------------------------------------------------------------------
# The library itself, in Node.
# --------------------------------------------------------------------------
def mixture_params(model, rows, z):
    """Our mixture parameters after each row, [steps, 6 * 20 + 3] in KEYS order."""
    out, _ = model.decode(tf.constant(rows[None]), None if z is None else tf.constant(z[None]))
    params = model.mixture(out)
    return tf.concat([params[k][0] for k in KEYS], -1)


def quantisation_tolerance(model, rows, z):
    """First-order worst case of rounding every exported weight by up to half
    a quantisation step: QUANT_STEP / 2 * sum |d param / d weight| over the
    exported weights (the z rows of W_xh are not exported: their term is in
    the bias, which has the bias's gradient)."""
    cell, out = model.decoder, model.output_layer
    weights = [out.kernel, out.bias, cell.W_xh, cell.W_hh, cell.bias]

    @tf.function  # a graph loop over the outputs: twice as fast as eager
    def params_and_l1():
        with tf.GradientTape(persistent=True) as tape:  # the loop below needs a persistent tape
            params = mixture_params(model, rows, z)
        # Without pfor: it cannot vectorise the fused LSTM's custom gradient.
        jacobians = tape.jacobian(params, weights, experimental_use_pfor=False)
        jacobians[2] = jacobians[2][:, :, :5]
        flat = tf.concat([tf.shape(params), [-1]], 0)
        return params, sum(tf.reduce_sum(tf.abs(tf.reshape(j, flat)), -1) for j in jacobians)

    params, l1 = params_and_l1()
    return params.numpy(), QUANT_STEP / 2 * l1.numpy() + FLOAT32_SLACK


def run_library(model_path, rows, tmp_path):
    rows_path = tmp_path / 'rows.json'
    rows_path.write_text(json.dumps(rows.tolist()))
    run = subprocess.run(['node', str(REPO / 'tests/js/compare.js'), str(model_path),
                          str(rows_path)], capture_output=True, text=True, cwd=REPO,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@needs_node
@pytest.mark.parametrize('conditional', [True, False])
def test_library_matches_model(models, tmp_path, conditional):
    model = models[conditional]
    path = export(model, tmp_path)
    rows = strokes()
    result = run_library(path, rows, tmp_path)
    js = np.concatenate([np.array([step[k] for step in result['pdfs']]) for k in KEYS], -1)
    ours, tolerance = quantisation_tolerance(model, rows, z_for(model))
    diff = np.abs(js - ours)
    print(f'conditional={conditional}: max |JS - ours| {diff.max():.3g}, '
          f'tolerance {tolerance.min():.3g}..{tolerance.max():.3g}, '
          f'worst diff/tolerance {(diff / tolerance).max():.3f}')
    assert np.all(diff <= tolerance)

    # A sample drawn by the library: pixel offsets, one-hot pen states,
    # ending at the end flag or max_seq_len.
    sample = np.array(result['sample'])
    assert result['scaleFactor'] == SCALE_FACTOR / 2  # the library's default pixel factor
    assert sample.ndim == 2 and sample.shape[1] == 5 and len(sample) >= 1
    assert np.isfinite(sample).all()
    assert np.array_equal(sample[:, 2:].sum(1), np.ones(len(sample)))
    assert set(np.unique(sample[:, 2:])) <= {0.0, 1.0}
    assert sample[-1, 4] == 1 or len(sample) == model.hps.max_seq_len
    assert not sample[:-1, 4].any()


# --------------------------------------------------------------------------
# Import: the inverse of the export.
# --------------------------------------------------------------------------
def test_export_then_import_gives_the_same_mixtures(models, tmp_path):
    """The imported decoder holds the de-quantised weights, and its mixture
    parameters stay within what rounding the weights can change."""
    model = models[False]
    path = tmp_path / 'model.json'
    E.export_sketch_rnn_js(model, path, scale_factor=SCALE_FACTOR)
    imported = S.load_sketch_js(path)
    hps = imported.hps
    assert (hps.conditional, hps.dec_model, hps.dec_rnn_size, hps.num_mixture, hps.max_seq_len) \
        == (False, 'lstm', 16, 20, model.hps.max_seq_len)
    assert imported.normalizing_scale_factor == SCALE_FACTOR
    _, _, arrays = read_export(path)
    weights = [imported.output_layer.kernel, imported.output_layer.bias,
               imported.decoder.W_xh, imported.decoder.W_hh, imported.decoder.bias]
    for got, want in zip(weights, arrays):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)

    rows = strokes(steps=3)  # each output costs a backward pass
    ours, tolerance = quantisation_tolerance(model, rows, None)
    diff = np.abs(mixture_params(imported, rows, None).numpy() - ours)
    assert diff.max() > 0  # the weights were rounded
    assert np.all(diff <= tolerance)


def test_import_refuses_a_conditional_export(models, tmp_path):
    path = tmp_path / 'model.json'
    E.export_sketch_rnn_js(models[True], path, Z, scale_factor=SCALE_FACTOR)
    with pytest.raises(sketch_js.SketchJSError, match='initial_state'):
        S.load_sketch_js(path)


@pytest.mark.parametrize('edit, message', [
    (lambda m: m[:2], 'expected [info, dimensions, weights]'),
    (lambda m: [dict(m[0], scale_factor=-1)] + m[1:], 'scale_factor must be a positive'),
    (lambda m: [m[0], m[1], m[2][:4]], 'expected 5 weight arrays'),
    (lambda m: [m[0], [[16, 7]] + m[1][1:], m[2]], 'holds 1968 numbers'),
    (lambda m: [m[0], m[1], ['%%'] + m[2][1:]], 'not a base64 string'),
    (lambda m: [m[0], [[16, 122], [122]] + m[1][2:],
                [sketch_js.quantize(np.zeros((16, 122))), sketch_js.quantize(np.zeros(122))]
                + m[2][2:]], 'do not form a sketch-rnn LSTM decoder'),
])
def test_import_names_the_file_and_the_problem(models, tmp_path, edit, message):
    good = tmp_path / 'good.json'
    E.export_sketch_rnn_js(models[False], good, scale_factor=SCALE_FACTOR)
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(edit(json.loads(good.read_text()))))
    with pytest.raises(sketch_js.SketchJSError) as err:
        S.load_sketch_js(bad)
    assert str(err.value).startswith(f'{bad}: ') and message in str(err.value)
    assert '\n' not in str(err.value)


def test_import_command_writes_an_experiment_that_samples(models, tmp_path, capsys):
    path = tmp_path / 'model.json'
    E.export_sketch_rnn_js(models[False], path, scale_factor=SCALE_FACTOR, name='tiny')
    folder = tmp_path / 'imported'
    E.main(['--import', str(path), '--out', str(folder)])
    assert 'draw from it with: python3 seq2seqVAE_sample.py' in capsys.readouterr().out
    loaded = S.load_model(str(folder))
    config = S.read_model_config(folder / 'logs' / 'model_config.json')[1]
    assert config['normalizing_scale_factor'] == SCALE_FACTOR
    rows = strokes()
    np.testing.assert_array_equal(mixture_params(loaded, rows, None),
                                  mixture_params(S.load_sketch_js(path), rows, None))
    with pytest.raises(SystemExit, match='already exists and is not empty'):
        E.main(['--import', str(path), '--out', str(folder)])
    with pytest.raises(SystemExit, match='missing.json: no such file'):
        E.main(['--import', str(tmp_path / 'missing.json'), '--out', str(tmp_path / 'new')])


# --------------------------------------------------------------------------
# The browser example, in headless Chromium.
# --------------------------------------------------------------------------
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


@pytest.fixture
def server(tmp_path):
    """Serves the repository (the page and node_modules) on loopback, plus
    /model.json from tmp_path."""
    model_path = tmp_path / 'model.json'

    class Handler(QuietHandler):
        def translate_path(self, path):
            if path.split('?')[0] == '/model.json':
                return str(model_path)
            return super().translate_path(path)

    with serving(REPO, Handler) as url:
        yield url, model_path


@needs_node
@pytest.mark.skipif(CHROMIUM is None, reason='needs chromium (.ci/install_js.sh)')
def test_browser_example_draws(models, server, tmp_path):
    base, model_path = server
    model = models[True]
    E.export_sketch_rnn_js(model, model_path, Z, scale_factor=SCALE_FACTOR, name='random')
    profile = tmp_path / 'profile'
    profile.mkdir()
    run = subprocess.run(
        [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
         '--no-first-run', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', f'--user-data-dir={profile}', '--virtual-time-budget=30000',
         '--dump-dom', f'{base}/examples/browser/index.html?model=/model.json'],
        capture_output=True, text=True, timeout=120)
    title = re.search(r'<title>(.*?)</title>', run.stdout)
    assert title, run.stderr[-2000:]
    drawn = re.search(r'data-strokes="(\d+)"', run.stdout)
    assert drawn, title.group(1)
    assert int(drawn.group(1)) > 0
    assert title.group(1) == f'random: drew {drawn.group(1)} strokes'
