"""seq2seqVAE_export: the @magenta/sketch JSON format, what it refuses, the
command line, and the import back.  The library itself runs the exports in
tests/test_export_js.py."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
from needs import needs, skip_unless
import tensorflow as tf
from export_models import (REPO, SCALE_FACTOR, Z, make_model, mixture_params,
                           quantisation_tolerance, read_export, strokes, z_for)

import seq2seqVAE as S
import seq2seqVAE_export as E
import utils
from sketchgen import sketch_js
from sketchgen.sketch_js import QUANT_STEP

REFERENCE = REPO.parent / 'shared' / 'reference'
SHAPES = REPO / 'datasets' / 'shapes.npz'


@pytest.fixture(scope='module')
def models():
    return {True: make_model(1), False: make_model(2, conditional=False)}



# --------------------------------------------------------------------------
# The format.
# --------------------------------------------------------------------------
@pytest.mark.parametrize('conditional', [True, False])
def test_export_layout_and_info(models, tmp_path, conditional):
    model = models[conditional]
    path = tmp_path / 'model.json'
    sketch_js.export_sketch_rnn_js(model, path, z_for(model), scale_factor=SCALE_FACTOR, name='test')
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
    info = sketch_js.export_sketch_rnn_js(model, path, Z, scale_factor=SCALE_FACTOR)
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

    # The bound holds at the worst states of the exported pi logits (corners
    # of |h| <= 1), at the library's softmax temperatures 0.5 to 1.
    h = np.random.default_rng(0).choice([-1.0, 1.0], (20000, 16))
    bound = info['padded_weight_bound']
    assert bound < 1e-6
    for temperature in (0.5, 0.75, 1.0):
        logits = (h @ kernel[:, 0] + bias[0]) / temperature
        weights = np.exp(logits - logits.max(1, keepdims=True))
        assert (weights[:, 3:].sum(1) / weights.sum(1)).max() <= bound


@pytest.mark.parametrize('overrides, reason', [
    (dict(dec_model='layer_norm'), "decoder is 'layer_norm'"),
    (dict(dec_model='hyper'), "decoder is 'hyper'"),
    (dict(num_mixture=21), 'num_mixture=21'),
])
def test_refuses_what_the_library_cannot_run(tmp_path, overrides, reason):
    model = make_model(**overrides)
    with pytest.raises(sketch_js.ExportError, match=re.escape(reason)):
        sketch_js.export_sketch_rnn_js(model, tmp_path / 'm.json', Z, scale_factor=1.0)
    assert not (tmp_path / 'm.json').exists()


def test_refuses_weights_beyond_the_int16_range(tmp_path):
    model = make_model(conditional=False)
    model.output_layer.bias.assign(np.full(123, 10.5, np.float32))
    with pytest.raises(sketch_js.ExportError, match='10.5'):
        sketch_js.export_sketch_rnn_js(model, tmp_path / 'm.json', scale_factor=1.0)


def test_z_must_match_the_model(models, tmp_path):
    with pytest.raises(sketch_js.ExportError, match=re.escape('z has shape (3,)')):
        sketch_js.export_sketch_rnn_js(models[True], tmp_path / 'm.json', Z[:3], scale_factor=1.0)
    with pytest.raises(sketch_js.ExportError, match='conditional model'):
        sketch_js.export_sketch_rnn_js(models[True], tmp_path / 'm.json', scale_factor=1.0)
    with pytest.raises(sketch_js.ExportError, match='decoder-only'):
        sketch_js.export_sketch_rnn_js(models[False], tmp_path / 'm.json', Z, scale_factor=1.0)


@needs(REFERENCE.is_dir(), 'needs ../shared/reference')
@pytest.mark.parametrize('bundle', sorted(p.name for p in REFERENCE.iterdir()
                                          if (p / 'checkpoint').exists())
                         if REFERENCE.is_dir() else [])
def test_magenta_reference_checkpoints_export_padded_or_are_refused(bundle, tmp_path):
    """They use 5 mixtures: plain LSTMs export padded, the others are refused."""
    model = S.load_model(str(REFERENCE / bundle))
    z = np.zeros(model.hps.z_size) if model.hps.conditional else None
    path = tmp_path / 'm.json'
    if model.hps.dec_model == 'lstm':
        info = sketch_js.export_sketch_rnn_js(model, path, z, scale_factor=1.0)
        assert info['num_mixture'] == 5 and 0 < info['padded_weight_bound'] < 1e-3
        return
    with pytest.raises(sketch_js.ExportError, match=f"decoder is '{model.hps.dec_model}'"):
        sketch_js.export_sketch_rnn_js(model, path, z, scale_factor=1.0)


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
    code = E.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith('error: ') and err.count('\n') == 1
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
    skip_unless(SHAPES.exists(), 'needs datasets/shapes.npz')
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
    assert E.main([str(folder), '--index', '3', '--data_dir', str(REPO / 'datasets'),
            '--out', str(by_index)]) == 0
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
    assert E.main([str(folder), '--sketch', str(sketch_file), '--out', str(by_file)]) == 0
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
    assert E.main([str(tmp_path), '--scale_factor', '3.5', '--out', str(out_path)]) == 0
    info, _, arrays = read_export(out_path)
    assert info['scale_factor'] == 3.5 and 'initial_state' not in info
    for got, want in zip(arrays, sketch_js.decoder_arrays(model)):
        np.testing.assert_allclose(got, want, rtol=0, atol=QUANT_STEP / 2 * 1.001)


def test_command_random_z_and_errors(experiment, tmp_path, capsys):
    folder, model = experiment
    out = tmp_path / 'seed.json'
    assert E.main([str(folder), '--seed', '5', '--name', 'five', '--out', str(out)]) == 0
    z = np.random.default_rng(5).standard_normal(model.hps.z_size)
    c, h = exported_state(out)
    np.testing.assert_allclose(h, model.initial_state(z[None].astype(np.float32), 1)[1][0],
                               atol=1e-6)
    for argv, message in [([], 'choose its z with --seed, --index or --sketch'),
                          (['--index', '999'], 'the test set has 200 sketches')]:
        assert message in exits_with([folder, '--data_dir', REPO / 'datasets',
                                      '--out', tmp_path / 'x.json'] + argv, capsys)


def test_command_lists_each_export_for_the_page(experiment, tmp_path, capsys):
    """models.json beside the exports names each one once, sorted, without
    files that are gone; a file that is not such an index is refused."""
    folder, _ = experiment
    for name, seed in (('b.json', 1), ('a.json', 2), ('b.json', 3)):
        E.main([str(folder), '--seed', str(seed), '--name', f'seed {seed}',
                '--out', str(tmp_path / name)])
        assert f'(listed in {tmp_path / "models.json"})' in capsys.readouterr().out
    assert json.loads((tmp_path / 'models.json').read_text()) == [
        {'file': 'a.json', 'name': 'seed 2'}, {'file': 'b.json', 'name': 'seed 3'}]
    (tmp_path / 'a.json').unlink()
    E.main([str(folder), '--seed', '4', '--out', str(tmp_path / 'c.json')])
    assert [e['file'] for e in json.loads((tmp_path / 'models.json').read_text())] == [
        'b.json', 'c.json']
    (tmp_path / 'models.json').write_text('[{"file": "../elsewhere.json", "name": "x"}]')
    err = exits_with([folder, '--seed', 5, '--out', tmp_path / 'd.json'], capsys)
    assert 'models.json: not a list of' in err


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
    sketch_js.export_sketch_rnn_js(model, path, scale_factor=SCALE_FACTOR)
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
    sketch_js.export_sketch_rnn_js(models[True], path, Z, scale_factor=SCALE_FACTOR)
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
    sketch_js.export_sketch_rnn_js(models[False], good, scale_factor=SCALE_FACTOR)
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(edit(json.loads(good.read_text()))))
    with pytest.raises(sketch_js.SketchJSError) as err:
        S.load_sketch_js(bad)
    assert str(err.value).startswith(f'{bad}: ') and message in str(err.value)
    assert '\n' not in str(err.value)


def test_import_command_writes_an_experiment_that_samples(models, tmp_path, capsys):
    path = tmp_path / 'model.json'
    sketch_js.export_sketch_rnn_js(models[False], path, scale_factor=SCALE_FACTOR, name='tiny')
    folder = tmp_path / 'imported'
    assert E.main(['--import', str(path), '--out', str(folder)]) == 0
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
