"""seq2seqVAE_export: the @magenta/sketch JSON format, what it refuses, the
command line, and the library itself running exports in Node and in the
browser example.  The Node and browser tests skip without node, the npm
packages or Chromium (.ci/install_js.sh installs them)."""
import base64
import functools
import http.server
import json
import re
import shlex
import shutil
import subprocess
import threading
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from cli import run_training
from random_sketches import write_npz

import seq2seqVAE as S
import seq2seqVAE_export as E
import seq2seqVAE_sample
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
    path = tmp_path / 'model.json'
    E.export_sketch_rnn_js(model, path, z_for(model), scale_factor=SCALE_FACTOR, name='test')
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


def test_padded_export_layout_and_bound(tmp_path):
    """3 mixtures become 20 in each of the six blocks; the padded ones have
    zero kernel, pi logit -10, mu 0, log sigma 0, corr 0; the real pi logits
    are shifted (softmax ignores it) to the top of the format's range."""
    model = make_model(6, num_mixture=3)
    path = tmp_path / 'model.json'
    info = E.export_sketch_rnn_js(model, path, Z, scale_factor=SCALE_FACTOR)
    _, dimensions, arrays = read_export(path)
    assert dimensions[:2] == [[16, 123], [123]] and info['num_mixture'] == 3
    kernel, bias = (a[..., 3:].reshape(a.shape[:-1] + (6, 20)) for a in arrays[:2])
    our_kernel, our_bias = (v.numpy()[..., 3:].reshape(v.shape[:-1] + (6, 3))
                            for v in (model.output_layer.kernel, model.output_layer.bias))
    half_step = QUANT_STEP / 2 * 1.001
    np.testing.assert_allclose(kernel[..., :3], our_kernel, rtol=0, atol=half_step)
    np.testing.assert_allclose(arrays[1][:3], model.output_layer.bias.numpy()[:3], atol=half_step)
    np.testing.assert_allclose(bias[1:, :3], our_bias[1:], rtol=0, atol=half_step)
    shift = bias[0, :3] - our_bias[0]
    np.testing.assert_allclose(shift, shift.mean(), rtol=0, atol=2 * half_step)
    assert 10 - 2 * QUANT_STEP < bias[0, :3].max() <= 10
    assert not kernel[..., 3:].any() and not bias[1:, 3:].any()
    np.testing.assert_allclose(bias[0, 3:], -10, rtol=1e-6)

    # The bound holds at the worst states of the exported pi logits: corners of |h| <= 1.
    h = np.random.default_rng(0).choice([-1.0, 1.0], (20000, 16))
    logits = h @ kernel[:, 0] + bias[0]
    weights = np.exp(logits - logits.max(1, keepdims=True))
    padded = weights[:, 3:].sum(1) / weights.sum(1)
    bound = info['padded_weight_bound']
    assert padded.max() <= bound < 1e-6


@pytest.mark.parametrize('overrides, reason', [
    (dict(dec_model='layer_norm'), "decoder is 'layer_norm'"),
    (dict(dec_model='hyper'), "decoder is 'hyper'"),
    (dict(num_mixture=21), 'num_mixture=21'),
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
def test_magenta_reference_checkpoints_export_padded_or_are_refused(bundle, tmp_path):
    """They use 5 mixtures: plain LSTMs export padded, the others are refused."""
    model = S.load_model(str(REFERENCE / bundle))
    z = np.zeros(model.hps.z_size) if model.hps.conditional else None
    path = tmp_path / 'm.json'
    if model.hps.dec_model == 'lstm':
        info = E.export_sketch_rnn_js(model, path, z, scale_factor=1.0)
        assert info['num_mixture'] == 5 and 0 < info['padded_weight_bound'] < 1e-3
        return
    with pytest.raises(E.ExportError, match=f"decoder is '{model.hps.dec_model}'"):
        E.export_sketch_rnn_js(model, path, z, scale_factor=1.0)


def write_experiment(folder, model):
    """`folder` made an experiment holding `model`, as seq2seqVAE_train.py writes one."""
    paths = S.experiment_paths(str(folder))
    for key in ('config', 'best'):
        Path(paths[key]).parent.mkdir(parents=True, exist_ok=True)
    S.write_model_config(paths['config'], model.hps, normalizing_scale_factor=SCALE_FACTOR)
    model.save_weights(paths['best'])
    return folder


def exits_with(argv, capsys):
    """The one line E.main(argv) prints on stderr as it exits with status 2."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        E.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith('error: ') and err.count('\n') == 1
    return err


def test_command_refuses_in_one_line(tmp_path, capsys):
    model = make_model(num_mixture=21, dec_model='hyper')
    folder = write_experiment(tmp_path / 'exp', model)
    out = tmp_path / 'm.json'
    err = exits_with([folder, '--seed', 0, '--out', out], capsys)
    assert err.startswith('error: cannot export for @magenta/sketch: ')
    assert "decoder is 'hyper'" in err and 'num_mixture=21' in err and not out.exists()


# --------------------------------------------------------------------------
# The command line on an experiment folder.
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def experiment(tmp_path_factory):
    """An experiment folder as seq2seqVAE_train.py writes it, on shapes.npz."""
    if not SHAPES.exists():
        pytest.skip('needs datasets/shapes.npz')
    model = make_model(4, data_set=['shapes.npz'])
    return write_experiment(tmp_path_factory.mktemp('exp'), model), model


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


def test_command_on_a_magenta_checkpoint(tmp_path, capsys):
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
    assert 'give --scale_factor' in exits_with([tmp_path, '--out', out_path], capsys)
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
        assert message in exits_with([folder, '--data_dir', REPO / 'datasets',
                                      '--out', tmp_path / 'x.json'] + argv, capsys)


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
    path = tmp_path / 'model.json'
    E.export_sketch_rnn_js(model, path, z_for(model), scale_factor=SCALE_FACTOR)
    rows = strokes()
    result = run_library(path, rows, tmp_path)
    js = np.concatenate([np.array([step[k] for step in result['pdfs']]) for k in KEYS], -1)
    ours, tolerance = quantisation_tolerance(model, rows, z_for(model))
    diff = np.abs(js - ours)
    print(f'conditional={conditional}: max |JS - ours| {diff.max():.3g}, '
          f'tolerance {tolerance.min():.3g}..{tolerance.max():.3g}, '
          f'worst diff/tolerance {(diff / tolerance).max():.3f}')
    assert np.all(diff <= tolerance)
    check_sample(result, model.hps.max_seq_len, SCALE_FACTOR)


def check_sample(result, max_seq_len, scale_factor):
    """A sample drawn by the library: pixel offsets, one-hot pen states,
    ending at the end flag or max_seq_len."""
    sample = np.array(result['sample'])
    assert result['scaleFactor'] == scale_factor / 2  # the library's default pixel factor
    assert sample.ndim == 2 and sample.shape[1] == 5 and len(sample) >= 1
    assert np.isfinite(sample).all()
    assert np.array_equal(sample[:, 2:].sum(1), np.ones(len(sample)))
    assert set(np.unique(sample[:, 2:])) <= {0.0, 1.0}
    assert sample[-1, 4] == 1 or len(sample) == max_seq_len
    assert not sample[:-1, 4].any()


@needs_node
def test_library_matches_a_padded_model(tmp_path):
    """3 mixtures padded to the library's 20: the real ones match ours within
    the quantisation (their weights also within the padding's bound), and
    the padded ones hold at most that bound of the weight."""
    model = make_model(6, num_mixture=3)
    path = tmp_path / 'model.json'
    info = E.export_sketch_rnn_js(model, path, Z, scale_factor=SCALE_FACTOR)
    rows = strokes()
    result = run_library(path, rows, tmp_path)
    params = {k: np.array([step[k] for step in result['pdfs']]) for k in KEYS}
    js = np.concatenate([params[k][:, :3] if k != 'pen' else params[k] for k in KEYS], -1)
    ours, tolerance = quantisation_tolerance(model, rows, Z)
    bound = info['padded_weight_bound']
    tolerance[:, :3] += bound  # each real weight is ours times 1 - (padded weight)
    diff = np.abs(js - ours)
    padded_weight = params['pi'][:, 3:].sum(1)
    print(f'padded: max |JS - ours| {diff.max():.3g} (pi {diff[:, :3].max():.3g}), padded '
          f'weight up to {padded_weight.max():.3g}, bound {bound:.3g}')
    assert np.all(diff <= tolerance)
    assert np.all(padded_weight <= bound * (1 + 1e-4))
    for key, value in (('mu1', 0), ('mu2', 0), ('sigma1', 1), ('sigma2', 1), ('corr', 0)):
        assert np.all(params[key][:, 3:] == value)
    check_sample(result, model.hps.max_seq_len, SCALE_FACTOR)


# --------------------------------------------------------------------------
# Import: the inverse of the export.
# --------------------------------------------------------------------------
@pytest.mark.parametrize('num_mixture', [20, 3])
def test_export_then_import_gives_the_same_mixtures(models, tmp_path, num_mixture):
    """The imported decoder holds the de-quantised weights (a padded export
    comes back without its padding), and its mixture parameters stay within
    what rounding the weights can change."""
    model = models[False] if num_mixture == 20 else make_model(2, conditional=False,
                                                               num_mixture=num_mixture)
    path = tmp_path / 'model.json'
    E.export_sketch_rnn_js(model, path, scale_factor=SCALE_FACTOR)
    imported = S.load_sketch_js(path)
    hps = imported.hps
    assert (hps.conditional, hps.dec_model, hps.dec_rnn_size, hps.num_mixture, hps.max_seq_len) \
        == (False, 'lstm', 16, num_mixture, model.hps.max_seq_len)
    assert imported.normalizing_scale_factor == SCALE_FACTOR
    _, _, arrays = read_export(path)
    weights = [imported.output_layer.kernel, imported.output_layer.bias,
               imported.decoder.W_xh, imported.decoder.W_hh, imported.decoder.bias]
    start = 0 if num_mixture == 20 else 2  # padded output layers differ in shape
    for got, want in zip(weights[start:], arrays[start:]):
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
    (lambda m: [dict(m[0], num_mixture=21)] + m[1:], 'num_mixture must be an integer from 1'),
    (lambda m: [dict(m[0], num_mixture=3)] + m[1:], 'mixtures 4-20 are not padding'),
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
    assert 'already exists and is not empty' in exits_with(
        ['--import', path, '--out', folder], capsys)
    assert 'missing.json: no such file' in exits_with(
        ['--import', tmp_path / 'missing.json', '--out', tmp_path / 'new'], capsys)


# --------------------------------------------------------------------------
# The README's path: train -> sample -> export -> the library draws.
# --------------------------------------------------------------------------
def readme_command(script, start):
    """The README's first command line running `script` with arguments
    starting `start`, as argv (the script's own name dropped)."""
    match = re.search(rf'python3 {script} {start}[^\n]*', (REPO / 'README.md').read_text())
    assert match, f'README.md has no `python3 {script} {start}...` command'
    return shlex.split(match.group(0).split('#')[0])[2:]


def tiny(argv):
    """The quick start's training command on a tiny model for one epoch,
    keeping its num_mixture."""
    argv = list(argv)
    hparams = dict(item.split('=') for item in argv[argv.index('--hparams') + 1].split(','))
    hparams.update(enc_rnn_size='8', dec_rnn_size='16', z_size='4', batch_size='4')
    argv[argv.index('--hparams') + 1] = ','.join(f'{k}={v}' for k, v in hparams.items())
    argv[argv.index('--epochs') + 1] = '1'
    return argv


@needs_node
@pytest.mark.slow  # the training command's first steps trace for ~15 s
def test_readme_train_sample_export_then_the_library_draws(tmp_path, monkeypatch, capsys):
    """On a fresh folder holding a tiny datasets/shapes.npz, the README's
    commands in their order, with the quick start's num_mixture."""
    train = tiny(readme_command('seq2seqVAE_train.py', '--data_set shapes'))
    sample = readme_command('seq2seqVAE_sample.py', 'experiments/shapes/exp --num')
    export = readme_command('seq2seqVAE_export.py', 'experiments/shapes/exp')
    monkeypatch.chdir(tmp_path)
    for folder in ('datasets', 'examples/browser'):
        (tmp_path / folder).mkdir(parents=True)
    write_npz(tmp_path / 'datasets' / 'shapes.npz', seed=0, sizes=(8, 8, 8))

    code, err = run_training(*train)
    assert code in (0, None), err
    seq2seqVAE_sample.main(sample)
    assert (tmp_path / sample[sample.index('--out') + 1]).exists()
    capsys.readouterr()
    E.main(export)
    printed = capsys.readouterr().out
    num_mixture = S.load_model('experiments/shapes/exp').hps.num_mixture
    if num_mixture < 20:
        assert f'its {num_mixture} mixtures padded to 20' in printed

    model_path = tmp_path / export[export.index('--out') + 1]
    info = json.loads(model_path.read_text())[0]
    result = run_library(model_path, strokes(), tmp_path)
    check_sample(result, info['max_seq_len'], info['scale_factor'])


# --------------------------------------------------------------------------
# The browser example, in headless Chromium.
# --------------------------------------------------------------------------
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


@pytest.fixture
def server(tmp_path):
    """Serves the repository (the page and node_modules) on loopback, plus
    /model.json from tmp_path."""
    model_path = tmp_path / 'model.json'

    class Handler(http.server.SimpleHTTPRequestHandler):
        def translate_path(self, path):
            if path.split('?')[0] == '/model.json':
                return str(model_path)
            return super().translate_path(path)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(Handler, directory=str(REPO)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}', model_path
    httpd.shutdown()
    httpd.server_close()


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
