"""Sampling: Magenta's greedy samples, the draws' statistics, the batched
sampler, completion of a begun sketch, encode/decode, and the
seq2seqVAE_sample.py command."""

import functools
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import keras
import numpy as np
import pytest
from needs import needs
import tensorflow as tf
from PIL import Image

import seq2seqVAE as S
import seq2seqVAE_sample as P
import utils
from sketchgen import sampling
from cli import one_line_error, run_main
from random_sketches import SPLITS, random_sketch, write_splits
from sketchgen.run_settings import RunSettings
from tiny import tiny_hps

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / 'shared'
REFERENCE = SHARED / 'reference'
BUNDLES = sorted(p.parent.name for p in REFERENCE.glob('*/greedy_samples.json'))
SVG = '{http://www.w3.org/2000/svg}'


# --------------------------------------------------------------------------
# Magenta's own greedy samples.
# --------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def valid_batch0(data_set):
    hps = tiny_hps(data_set=list(data_set), batch_size=100)
    _, valid_set, _, _ = utils.load_dataset(SHARED / 'datasets', hps)
    return valid_set.get_batch(0)


def reference_z(bundle, model, samples):
    """z of each greedy sample: valid get_batch(0) sketch i's posterior mean,
    computed here when the data set is present, else the one stored."""
    if not model.hps.conditional:
        return [None] * len(samples)
    expected = json.loads((REFERENCE / bundle / 'expected.json').read_text())
    stored = [np.array([s['z']]) for s in samples]
    np.testing.assert_allclose(stored[0][0], expected['valid_batch0_mean_z0'], atol=1e-6)
    if not all((SHARED / 'datasets' / name).exists() for name in model.hps.data_set):
        return stored
    sketches, x, seq_len = valid_batch0(tuple(model.hps.data_set))
    mu = model.encode(tf.constant(x[:, 1:]), tf.constant(seq_len))[0].numpy()
    computed = []
    for z in stored:
        # Which of the sketches of equal length comes first depends on numpy's sort.
        z_here = S.encode(model, sketches[np.argmin(np.abs(mu - z).max(1))])
        np.testing.assert_allclose(z_here, z, atol=1e-4)
        computed.append(z_here)
    return computed


@needs(BUNDLES, '../shared/reference is absent')
@pytest.mark.parametrize('bundle', BUNDLES)
def test_greedy_samples_match_magenta(bundle):
    model = S.load_magenta_checkpoint(str(REFERENCE / bundle))
    greedy = json.loads((REFERENCE / bundle / 'greedy_samples.json').read_text())
    samples = greedy['samples']
    zs = reference_z(bundle, model, samples)
    for z, expected in zip(zs, samples):
        strokes, params = S.sample(model, greedy['seq_len'], greedy_mode=True, z=z)
        assert strokes.shape == (greedy['seq_len'], 5) and len(params) == greedy['seq_len']
        np.testing.assert_allclose(strokes[:20], np.array(expected['strokes5'])[:20], atol=1e-3)
    z = None if zs[0] is None else np.concatenate(zs)
    for sketch, expected in zip(S.sample_batch(model, len(zs), greedy['seq_len'], greedy_mode=True,
                                               z=z), samples):
        rows = min(20, len(sketch))
        np.testing.assert_allclose(sketch[:rows], np.array(expected['strokes5'])[:rows], atol=1e-3)


# --------------------------------------------------------------------------
# Statistics of the draws, on a decoder whose output is its bias alone, so
# that every step draws from the same known mixture.
# --------------------------------------------------------------------------
PEN_LOGITS = np.array([0.4, -0.2, -1.0])
PI_LOGITS = np.array([0.3, -0.5, 0.1])
MU1 = np.array([-100.0, 0.0, 100.0])  # far apart: x1 tells which component drew it
MU2 = np.array([1.0, 2.0, 3.0])
SIGMA1 = np.array([1.0, 2.0, 0.5])
SIGMA2 = np.array([0.5, 1.0, 2.0])
CORR = np.array([0.5, -0.3, 0.0])


@pytest.fixture(scope='module')
def constant_model():
    model = S.Seq2seqModel(tiny_hps(conditional=False))
    layer = model.output_layer
    layer.kernel.assign(tf.zeros_like(layer.kernel))
    layer.bias.assign(np.concatenate([PEN_LOGITS, PI_LOGITS, MU1, MU2, np.log(SIGMA1),
                                      np.log(SIGMA2), np.arctanh(CORR)]).astype(np.float32))
    return model


def draws(model, sampler, temperature, greedy=False, num=800):
    """Independent stroke-5 draws from the constant mixture (5x more batched)."""
    if sampler == 'sample':  # Magenta's sample() goes on after an end of sketch
        return S.sample(model, num, temperature, greedy, rng=np.random.default_rng(1))[0]
    return np.stack([s[0] for s in S.sample_batch(model, 5 * num, 1, temperature, greedy, seed=1)])


def softmax(logits):
    e = np.exp(logits - logits.max())
    return e / e.sum()


def assert_frequencies(choices, probabilities, sigmas=5):
    n = len(choices)
    counts = np.bincount(choices, minlength=len(probabilities))
    spread = np.sqrt(n * probabilities * (1 - probabilities))
    expected = n * probabilities
    assert np.all(np.abs(counts - expected) <= sigmas * spread), (counts, expected)


@pytest.mark.parametrize('sampler', ['sample', 'sample_batch'])
@pytest.mark.parametrize('temperature', [1.0, 0.5])
def test_draws_follow_the_mixture(constant_model, sampler, temperature):
    strokes = draws(constant_model, sampler, temperature)
    # p^(1/T) renormalised, for the pen state and the mixture component alike
    assert_frequencies(np.argmax(strokes[:, 2:5], 1), softmax(PEN_LOGITS / temperature))
    component = np.argmin(np.abs(strokes[:, 0:1] - MU1), 1)
    assert_frequencies(component, softmax(PI_LOGITS / temperature))
    for c in range(3):  # offsets: N(mu, (sigma * T)^2) with correlation corr
        d1, d2 = (strokes[component == c, i] - mu[c] for i, mu in ((0, MU1), (1, MU2)))
        assert np.std(d1) == pytest.approx(SIGMA1[c] * temperature, rel=0.15)
        assert np.std(d2) == pytest.approx(SIGMA2[c] * temperature, rel=0.15)
        assert np.corrcoef(d1, d2)[0, 1] == pytest.approx(CORR[c], abs=0.2)


@pytest.mark.parametrize('sampler', ['sample', 'sample_batch'])
def test_lower_temperature_gives_smaller_offsets(constant_model, sampler):
    spreads = []
    for temperature in (1.0, 0.5, 0.1):
        strokes = draws(constant_model, sampler, temperature, num=200)
        component = np.argmin(np.abs(strokes[:, 0:1] - MU1), 1)
        spreads.append(np.var(strokes[:, 1] - MU2[component]))
    assert spreads[0] > spreads[1] > spreads[2]


@pytest.mark.parametrize('sampler', ['sample', 'sample_batch'])
def test_greedy_takes_the_most_likely_choices(constant_model, sampler):
    strokes = draws(constant_model, sampler, 1.0, greedy=True, num=50)
    np.testing.assert_allclose(strokes, np.tile([MU1[0], MU2[0], 1, 0, 0], (len(strokes), 1)))


def test_sample_batch_cuts_each_sketch_at_its_end(constant_model):
    sketches = S.sample_batch(constant_model, 300, 20, seed=3)
    lengths = [len(s) for s in sketches]
    assert 1 <= min(lengths) and max(lengths) == 20 and len(set(lengths)) > 5
    for sketch in sketches:
        ends = np.flatnonzero(sketch[:, 4])
        assert len(sketch) == 20 or list(ends) == [len(sketch) - 1]


# --------------------------------------------------------------------------
# The batched sampler against sample(), reproducibility, encode/decode.
# --------------------------------------------------------------------------
@pytest.mark.parametrize('dec_model,conditional', [('lstm', True), ('layer_norm', True),
                                                   ('hyper', True), ('lstm', False)])
def test_batched_greedy_equals_sample_greedy(dec_model, conditional):
    model = S.Seq2seqModel(tiny_hps(dec_model=dec_model, conditional=conditional))
    bias = model.output_layer.bias.numpy()
    bias[2] = -5.0  # rarely end: compare long sequences
    model.output_layer.bias.assign(bias)
    z = np.random.default_rng(0).standard_normal((3, 4))
    batch = S.sample_batch(model, 3, 20, greedy_mode=True, z=z)
    for i, sketch in enumerate(batch):
        one, _ = S.sample(model, 20, greedy_mode=True, z=z[i:i + 1])
        np.testing.assert_allclose(sketch, one[:len(sketch)], atol=1e-5)


def test_sampling_is_reproducible():
    model = S.Seq2seqModel(tiny_hps())
    runs = [S.sample(model, 10, 0.7, rng=np.random.default_rng(seed))[0] for seed in (5, 5, 6)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    batches = [S.sample_batch(model, 4, 10, 0.7, seed=seed) for seed in (5, 5, 6)]
    for a, b in zip(batches[0], batches[1]):
        np.testing.assert_array_equal(a, b)
    assert not all(a.shape == b.shape and np.array_equal(a, b)
                   for a, b in zip(batches[0], batches[2]))


def test_sample_returns_magentas_mixture_params():
    model = S.Seq2seqModel(tiny_hps())
    strokes, params = S.sample(model, 6, rng=np.random.default_rng(0))
    assert strokes.shape == (6, 5) and len(params) == 6
    assert [p.shape for p in params[0]] == [(3,)] * 6 + [(3,)]
    pi, pen = params[0][0], params[0][6]
    assert pi.sum() == pytest.approx(1, abs=1e-5) and pen.sum() == pytest.approx(1, abs=1e-5)
    assert np.all(strokes[:, 2:5].sum(1) == 1)


def test_temperature_must_be_positive():
    model = S.Seq2seqModel(tiny_hps())
    with pytest.raises(ValueError, match='temperature'):
        S.sample(model, 3, temperature=0)
    with pytest.raises(ValueError, match='temperature'):
        S.sample_batch(model, 2, 3, temperature=-1)


def test_encode_is_the_posterior_mean_of_a_padded_batch():
    model = S.Seq2seqModel(tiny_hps())
    rng = np.random.default_rng(0)
    loader = utils.DataLoader([random_sketch(rng, 7, dtype=np.float32),
                               random_sketch(rng, 12, dtype=np.float32)], batch_size=2,
                              max_seq_length=20)
    loader.normalize(8.0)
    _, x, seq_len = loader.get_batch(0)
    mu, _ = model.encode(tf.constant(x[:, 1:]), tf.constant(seq_len))
    z = np.concatenate([S.encode(model, sketch) for sketch in loader.strokes])
    np.testing.assert_allclose(z, mu.numpy(), atol=1e-6)
    raw = loader.strokes[1].copy()
    raw[:, 0:2] *= 8.0
    np.testing.assert_allclose(S.encode(model, raw, scale_factor=8.0), z[1:], atol=1e-6)
    with pytest.raises(ValueError, match='decoder-only'):
        S.encode(S.Seq2seqModel(tiny_hps(conditional=False)), raw)


def test_decode_returns_stroke3():
    model = S.Seq2seqModel(tiny_hps())
    sketch = S.decode(model, np.zeros((1, 4)), rng=np.random.default_rng(0))
    assert sketch.ndim == 2 and sketch.shape[1] == 3 and 1 <= len(sketch) <= 20


# --------------------------------------------------------------------------
# Completion: the decoder reads a begun sketch as in training, then samples.
# --------------------------------------------------------------------------
DECODERS = [('lstm', True), ('layer_norm', True), ('hyper', True), ('lstm', False)]
SHAPES_SKETCH = 'datasets/shapes.npz:train:3'  # a training sketch, raw units
SHAPES_SCALE = 30.0


def completion_model(dec_model, conditional):
    """A tiny model whose decoder starts away from zero and rarely ends a sketch."""
    keras.utils.set_random_seed(4)
    model = S.Seq2seqModel(tiny_hps(dec_model=dec_model, conditional=conditional,
                                    max_seq_len=60))
    if conditional:
        layer = model.initial_state_layer
        layer.kernel.assign(np.random.default_rng(4).normal(0, 0.5, layer.kernel.shape))
    bias = model.output_layer.bias.numpy()
    bias[2] = -5.0
    model.output_layer.bias.assign(bias)
    return model


@pytest.mark.parametrize('dec_model,conditional', DECODERS)
def test_an_empty_prefix_completes_as_sample_does(dec_model, conditional):
    model = completion_model(dec_model, conditional)
    z = np.random.default_rng(0).standard_normal((3, 4))
    for i, sketch in enumerate(S.complete(model, np.zeros((0, 3)), 3, 20, greedy_mode=True,
                                          z=z)):
        one, _ = S.sample(model, 20, greedy_mode=True, z=z[i:i + 1])
        np.testing.assert_allclose(sketch, one[:len(sketch)], atol=1e-5)
    for a, b in zip(S.complete(model, [], 5, 20, 0.7, seed=3),
                    S.sample_batch(model, 5, 20, 0.7, seed=3)):
        np.testing.assert_array_equal(a, b)


def state_after_prefix(model, inputs, z):
    """The sampling loop's decoder state once it has read all of `inputs`
    [num, T, 5]: complete's teacher-forced state, advanced over the last input
    by the samplers' step, batch-major."""
    start = sampling._read_prefix(model, inputs, z)
    prepare, advance, _ = model.decoder.decode_steps(
        model.initial_state if start is None else lambda z, num: start)
    state, shared, weights = prepare(z, len(inputs))
    state, _ = advance(tf.constant(inputs[:, -1]), state, shared, weights)
    return [tf.transpose(s) for s in state]


@pytest.mark.parametrize('dec_model,conditional', DECODERS)
@pytest.mark.parametrize('length', [1, 9])
def test_the_state_after_a_prefix_is_the_training_passes(dec_model, conditional, length):
    """A training sketch's first `length` points: the sampler's state after
    them equals the training pass's (model.decode, teacher-forced) at that
    step, and so does the output layer's view of it."""
    model = completion_model(dec_model, conditional)
    sketch = utils.load_sketch(SHAPES_SKETCH)
    z = tf.constant(np.random.default_rng(1).standard_normal((2, 4)), tf.float32) \
        if conditional else None
    full = np.tile(sampling._prefix_inputs(sketch, SHAPES_SCALE)[None], [2, 1, 1])
    inputs = np.tile(sampling._prefix_inputs(sketch[:length], SHAPES_SCALE)[None], [2, 1, 1])
    np.testing.assert_array_equal(inputs, full[:, :length + 1])
    ours = state_after_prefix(model, inputs, z)
    _, training = model.decode(tf.constant(full[:, :length + 1]), z)
    assert len(training) == len(model.initial_state(z, 2))
    for got, want in zip(ours, training):
        np.testing.assert_allclose(got, want, atol=1e-5)
    output, _ = model.decode(tf.constant(full), z)
    np.testing.assert_allclose(model.output_layer(model.decoder.output(ours)),
                               output[:, length], atol=1e-5)


@pytest.mark.parametrize('dec_model,conditional', DECODERS)
def test_completion_continues_the_prefix(dec_model, conditional):
    """Each result is the prefix (model units) then its continuation, whose
    first greedy point is the most likely one after the prefix."""
    model = completion_model(dec_model, conditional)
    sketch = utils.load_sketch(SHAPES_SKETCH)[:6]
    z = np.random.default_rng(2).standard_normal((1, 4))
    inputs = sampling._prefix_inputs(sketch, SHAPES_SCALE)
    results = S.complete(model, sketch, 4, 10, greedy_mode=True, z=z, scale_factor=SHAPES_SCALE)
    assert len(results) == 4
    output, _ = model.decode(tf.constant(inputs[None]), tf.constant(z, tf.float32)
                             if conditional else None)
    params = {k: v.numpy()[0, -1] for k, v in model.mixture(output).items()}
    best = np.argmax(params['pi'])
    first = [params['mu1'][best], params['mu2'][best], *np.eye(3)[np.argmax(params['pen'])]]
    for result in results:
        np.testing.assert_allclose(result[:6], inputs[1:])
        np.testing.assert_allclose(result[:6, 0:2] * SHAPES_SCALE, sketch[:, 0:2], rtol=1e-6)
        np.testing.assert_allclose(result[6, :4], first[:4], atol=1e-5)
        np.testing.assert_array_equal(result, results[0])  # one z, greedy: one ending
        assert 7 <= len(result) <= 16 and not result[:-1, 4].any()


def test_completions_differ_and_repeat_with_the_seed():
    model = completion_model('lstm', True)
    sketch = utils.load_sketch(SHAPES_SKETCH)[:6]
    runs = [S.complete(model, sketch, 3, 10, 0.8, seed=seed, scale_factor=SHAPES_SCALE)
            for seed in (4, 4, 5)]
    for a, b in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(runs[0][0], runs[0][1])  # one z each
    assert not all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(runs[0], runs[2]))
    with pytest.raises(utils.SketchDataError, match='shape'):
        S.complete(model, np.zeros((4, 2)))


# --------------------------------------------------------------------------
# The command.
# --------------------------------------------------------------------------
def make_experiment(folder, data_dir, conditional=True):
    """A tiny experiment folder as seq2seqVAE_train.py writes it."""
    model = S.Seq2seqModel(tiny_hps(conditional=conditional, data_set=['tiny.npz']))
    experiment = S.Experiment.create_at(folder)
    settings = RunSettings(data_dir=str(data_dir), seed=0, save_every=1, end_step=0)
    experiment.write(model.hps, settings, normalizing_scale_factor=10.0)
    experiment.save_best(model)
    return folder


@pytest.fixture(scope='module')
def cli(tmp_path_factory):
    root = tmp_path_factory.mktemp('cli')
    rng = np.random.default_rng(0)
    write_splits(root / 'tiny.npz', **{split: [random_sketch(rng, n) for n in (5, 9, 14, 20)]
                                       for split in SPLITS})
    return dict(root=root, model=make_experiment(root / 'vae', root),
                decoder_only=make_experiment(root / 'lm', root, conditional=False))


def run_cli(*args, cwd):
    """seq2seqVAE_sample.main(args) run in `cwd` -> namespace(code, out, err)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        return run_main(P.main, *args)


def parse_svg(path):
    root = ET.parse(path).getroot()
    assert root.tag == SVG + 'svg'
    assert root.find(SVG + 'path') is not None
    return root


def write_sketch_json(tmp_path):
    sketch = tmp_path / 'mine.json'
    sketch.write_text(json.dumps(random_sketch(np.random.default_rng(2), 8).tolist()))
    return sketch


CLI_MODES = {  # name: (arguments after the model, given tmp_path; the SVG is animated)
    'sample grid': (lambda tmp: ['--num', 3, '--temperature', 0.5, 1.0, '--seed', 1], False),
    'reconstruct a sketch file': (lambda tmp: ['--mode', 'reconstruct', '--sketch',
                                               write_sketch_json(tmp), '--num', 2], False),
    'interpolate animated': (lambda tmp: ['--mode', 'interpolate', '--index', 0, 3, '--steps', 4,
                                          '--temperature', 0.2, '--animate'], True),
}


@pytest.mark.parametrize('mode', CLI_MODES)
def test_cli_draws_an_svg(cli, tmp_path, mode):
    more, animated = CLI_MODES[mode]
    out = tmp_path / 'out.svg'
    result = run_cli(cli['model'], *more(tmp_path), '--out', out, cwd=tmp_path)
    assert result.code == 0, result.err
    assert (parse_svg(out).find(f'.//{SVG}animate') is not None) == animated


BEGUN_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">'
             '<path d="M10,90 L10,10 L90,10" stroke="black" fill="none"/></svg>')


def drawn_segments(path):
    """The number of drawn ('l') moves in an SVG path's d attribute."""
    return len(re.findall('l', path))


@pytest.mark.parametrize('model,begun,animate', [
    ('model', 'svg', None), ('decoder_only', 'json', None), ('model', 'json', 'anim.svg'),
    ('model', 'svg', 'anim.gif')])
def test_cli_completes_a_begun_sketch(cli, tmp_path, model, begun, animate):
    """A grid of --num endings a row per temperature: the begun sketch's
    segments in one colour in every cell, the model's strokes in another."""
    if begun == 'svg':
        sketch = tmp_path / 'begun.svg'
        sketch.write_text(BEGUN_SVG)
    else:
        sketch = write_sketch_json(tmp_path)
    out = tmp_path / 'out.svg'
    more = ['--animate', tmp_path / animate] if animate else []
    result = run_cli(cli[model], '--mode', 'complete', '--sketch', sketch, '--num', 3,
                     '--temperature', 0.5, 1.0, '--seed', 1, '--out', out, *more, cwd=tmp_path)
    assert result.code == 0, result.err
    paths = {path.get('stroke'): path.get('d') for path in parse_svg(out).iter(SVG + 'path')}
    assert set(paths) == {P.PREFIX_COLOR, P.MODEL_COLOR}
    begun = utils.load_sketch(str(sketch))
    # Each cell draws the begun sketch's segments after pen-down rows, and
    # the zero-length segment of the grid's leading row.
    per_cell = 1 + int(np.sum(begun[:-1, 2] == 0))
    assert drawn_segments(paths[P.PREFIX_COLOR]) == 6 * per_cell
    # Both paths move over every row: the grid's leading row, then per cell
    # two layout rows and the begun sketch's, and the model's after them.
    rows = len(re.findall('[lm]', paths[P.MODEL_COLOR]))
    assert rows == len(re.findall('[lm]', paths[P.PREFIX_COLOR])) > 1 + 6 * (2 + len(begun))
    if animate == 'anim.svg':
        strokes = parse_svg(tmp_path / animate).iter(SVG + 'path')
        assert {path.get('stroke') for path in strokes} == {P.PREFIX_COLOR, P.MODEL_COLOR}
    elif animate:
        with Image.open(tmp_path / animate) as gif:
            gif.seek(gif.n_frames - 1)
            colors = {color for _, color in gif.convert('RGB').getcolors(1 << 16)}
        assert (214, 39, 40) in colors and (0, 0, 0) in colors  # PREFIX_COLOR, MODEL_COLOR


def bad_sketch(tmp_path):
    np.save(tmp_path / 'bad.npy', np.zeros((4, 2)))
    return tmp_path / 'bad.npy'


@pytest.mark.parametrize('case,words', [
    ('no checkpoint', ['no checkpoint']),
    ('bad sketch file', ['bad.npy', 'shape (4, 2)']),
    ('temperature', ['temperature must be > 0']),
    ('decoder-only', ['decoder-only', 'reconstruct']),
    ('complete without a sketch', ['complete', '--sketch FILE']),
    ('complete an unreadable SVG', ['bad.svg', 'cannot read it as SVG']),
])
def test_cli_errors_are_one_line(cli, tmp_path, case, words):
    if case == 'no checkpoint':
        (tmp_path / 'empty' / 'logs').mkdir(parents=True)
        (tmp_path / 'empty' / 'logs' / 'model_config.json').write_text(
            (cli['model'] / 'logs' / 'model_config.json').read_text())
        args = [tmp_path / 'empty']
    elif case == 'bad sketch file':
        args = [cli['model'], '--mode', 'reconstruct', '--sketch', bad_sketch(tmp_path)]
    elif case == 'temperature':
        args = [cli['model'], '--temperature', 1.0, -0.5]
    elif case == 'complete without a sketch':
        args = [cli['model'], '--mode', 'complete', '--index', 0]
    elif case == 'complete an unreadable SVG':
        (tmp_path / 'bad.svg').write_text('<svg')
        args = [cli['model'], '--mode', 'complete', '--sketch', tmp_path / 'bad.svg']
    else:
        args = [cli['decoder_only'], '--mode', 'reconstruct']
    message = one_line_error(run_cli(*args, cwd=tmp_path))
    assert all(word in message for word in words), message
