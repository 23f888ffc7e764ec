"""The @magenta/sketch library running our exports: in Node against our
mixture parameters, after the README's own train, sample and export
commands, and in the browser examples in headless Chromium (the drawing
page driven by synthetic pointer events).  These skip without node, the npm
packages or Chromium (.ci/install_js.sh installs them)."""
import functools
import http.server
import json
import re
import shlex
import shutil
import subprocess
import threading
import urllib.parse

import numpy as np
import pytest
from needs import needs
from cli import run_training
from export_models import (KEYS, REPO, SCALE_FACTOR, Z, make_model, quantisation_tolerance,
                           strokes, z_for)
from random_sketches import write_npz

import seq2seqVAE as S
import seq2seqVAE_export as E
import seq2seqVAE_sample
from sketchgen import model_index, sketch_js

needs_node = needs(
    shutil.which('node') is not None and (REPO / 'node_modules/@magenta/sketch').is_dir(),
    'needs node and `npm ci` (.ci/install_js.sh)')


@pytest.fixture(scope='module')
def models():
    return {True: make_model(1), False: make_model(2, conditional=False)}



# --------------------------------------------------------------------------
# The library itself, in Node.
# --------------------------------------------------------------------------
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
@pytest.mark.slow
def test_library_matches_model(models, tmp_path, conditional):
    model = models[conditional]
    path = tmp_path / 'model.json'
    sketch_js.export_sketch_rnn_js(model, path, z_for(model), scale_factor=SCALE_FACTOR)
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
    info = sketch_js.export_sketch_rnn_js(model, path, Z, scale_factor=SCALE_FACTOR)
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
    """On a fresh folder holding a tiny datasets/shapes.npz (and the README's
    begun star), the README's commands in their order, with the quick
    start's num_mixture."""
    train = tiny(readme_command('seq2seqVAE_train.py', '--data_set shapes'))
    sample = readme_command('seq2seqVAE_sample.py', 'experiments/shapes/exp --num')
    complete = readme_command('seq2seqVAE_sample.py', 'experiments/shapes/exp --mode complete')
    export = readme_command('seq2seqVAE_export.py', 'experiments/shapes/exp')
    monkeypatch.chdir(tmp_path)
    for folder in ('datasets', 'examples/browser'):
        (tmp_path / folder).mkdir(parents=True)
    write_npz(tmp_path / 'datasets' / 'shapes.npz', seed=0, sizes=(8, 8, 8))
    begun = complete[complete.index('--sketch') + 1]
    (tmp_path / begun).parent.mkdir()
    shutil.copy(REPO / begun, tmp_path / begun)

    code, err = run_training(*train)
    assert code in (0, None), err
    assert seq2seqVAE_sample.main(sample) == 0
    assert (tmp_path / sample[sample.index('--out') + 1]).exists()
    assert seq2seqVAE_sample.main(complete) == 0
    assert (tmp_path / complete[complete.index('--out') + 1]).exists()
    capsys.readouterr()
    assert E.main(export) == 0
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
def chromium_dom(url, tmp_path, virtual_ms):
    """(the DOM of the page at `url` after `virtual_ms` of headless Chromium's
    virtual time, its title), in a fresh profile under tmp_path."""
    profile = tmp_path / 'profile'
    profile.mkdir()
    run = subprocess.run(
        [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
         '--no-first-run', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', f'--user-data-dir={profile}', f'--virtual-time-budget={virtual_ms}',
         '--dump-dom', url],
        capture_output=True, text=True, timeout=120)
    title = re.search(r'<title>(.*?)</title>', run.stdout)
    assert title, run.stderr[-2000:]
    return run.stdout, title.group(1)


@needs(CHROMIUM is not None, 'needs chromium (.ci/install_js.sh)')
@pytest.mark.slow
def test_browser_example_draws(models, server, tmp_path):
    base, model_path = server
    model = models[True]
    sketch_js.export_sketch_rnn_js(model, model_path, Z, scale_factor=SCALE_FACTOR, name='random')
    dom, title = chromium_dom(f'{base}/examples/browser/index.html?model=/model.json',
                              tmp_path, virtual_ms=30000)
    drawn = re.search(r'data-strokes="(\d+)"', dom)
    assert drawn, title
    assert int(drawn.group(1)) > 0
    assert title == f'random: drew {drawn.group(1)} strokes'


# --------------------------------------------------------------------------
# The drawing page: you begin, the model finishes, in headless Chromium.
# --------------------------------------------------------------------------
def page_model(seed, **overrides):
    """A small model that (almost) never ends a sketch: each ending runs to max_seq_len."""
    model = make_model(seed, **overrides)
    bias = model.output_layer.bias.numpy()
    bias[2] = -8.0
    model.output_layer.bias.assign(bias)
    return model


@pytest.fixture(scope='module')
def page_models(tmp_path_factory):
    """A folder to serve beside the page: a conditional export at Z, a
    decoder-only one padded from 3 mixtures (both listed in models.json as
    the exporter lists them), and a file as Magenta publishes its pretrained
    models (20 mixtures, no initial state, nothing of ours in its info)."""
    folder = tmp_path_factory.mktemp('web')
    for file, model, z in (('cond.json', page_model(1), Z),
                           ('lm.json', page_model(2, conditional=False, num_mixture=3), None)):
        info = sketch_js.export_sketch_rnn_js(model, folder / file, z, scale_factor=SCALE_FACTOR,
                                      name=file[:-5])
        model_index.add_to_index(folder / file, info)
    sketch_js.write_model(folder / 'cat.gen.json', dict(name='cat', mode=2, version=6,
                                                        max_seq_len=40, scale_factor=50.0),
                          sketch_js.decoder_arrays(page_model(3, conditional=False)))
    return folder


@pytest.fixture
def page_server(page_models):
    """The repository on loopback, with the page's folder showing page_models."""
    class Handler(http.server.SimpleHTTPRequestHandler):
        def translate_path(self, path):
            name = path.split('?')[0]
            beside = page_models / name.rsplit('/', 1)[-1]
            if name.startswith('/examples/browser/') and beside.is_file():
                return str(beside)
            return super().translate_path(path)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(Handler, directory=str(REPO)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()
    httpd.server_close()


ZIGZAG = [[[0.3, 0.3], [0.36, 0.42], [0.42, 0.3], [0.48, 0.42]], [[0.55, 0.5], [0.6, 0.62]]]


@needs_node
@needs(CHROMIUM is not None, 'needs chromium (.ci/install_js.sh)')
@pytest.mark.slow
@pytest.mark.parametrize('model', ['cond.json', 'lm.json', 'cat.gen.json'])
def test_drawing_page_finishes_what_you_draw(page_server, tmp_path, model):
    """tests/js/draw_test.html draws two strokes on draw.html with synthetic
    pointer events, then asks for another ending, then clears: the model adds
    points after your strokes each time, and the picker lists the exports."""
    page = f'/examples/browser/draw.html?model={model}'
    query = urllib.parse.urlencode(dict(page=page, lines=json.dumps(ZIGZAG), then='another,clear'))
    _, title = chromium_dom(f'{page_server}/tests/js/draw_test.html?{query}', tmp_path,
                            virtual_ms=60000)
    assert title.startswith('done: '), title
    first, another, cleared = json.loads(title[len('done: '):].replace('&quot;', '"'))
    points = sum(len(line) for line in ZIGZAG)
    assert first['state'] == 'done' and first['endings'] == 1
    assert first['userPoints'] == points and 0 < first['modelPoints'] <= 40
    assert another['endings'] == 2 and 0 < another['modelPoints'] <= 40
    assert (cleared['userPoints'], cleared['modelPoints']) == (0, 0)
    assert first['exported'] == ['cond.json', 'lm.json']
