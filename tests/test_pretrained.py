"""Pretrained models by name, with a loopback HTTP server standing in for
Magenta's bucket (SKETCHGEN_MODELS_URL), and the GIF animations."""
import socket

import numpy as np
import pytest
from loopback import QuietHandler, serving
from PIL import Image

import seq2seqVAE as S
import seq2seqVAE_sample
import utils
from sketchgen import pretrained, raster, sketch_js

UNITS = 8


def write_decoder(path, seed=0):
    """A random decoder-only model in the @magenta/sketch format."""
    rng = np.random.default_rng(seed)
    outputs = 3 + 6 * sketch_js.NUM_MIXTURE
    shapes = [(UNITS, outputs), (outputs,), (5, 4 * UNITS), (UNITS, 4 * UNITS), (4 * UNITS,)]
    arrays = [rng.normal(0, 0.3, shape) for shape in shapes]
    arrays[1][2] = -2.0  # pen-end logit low: samples a few points long
    sketch_js.write_model(path, dict(name='cat', max_seq_len=30, scale_factor=50.0), arrays)


@pytest.fixture
def bucket(tmp_path, monkeypatch):
    """Serves tmp_path/bucket on 127.0.0.1 as the models' base URL, with an
    empty cache; yields (folder, list of requested paths)."""
    folder = tmp_path / 'bucket'
    folder.mkdir()
    requests = []

    class Recording(QuietHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    with serving(folder, Recording) as url:
        monkeypatch.setenv(pretrained.URL_VARIABLE, url + '/')
        monkeypatch.setenv('SKETCHGEN_CACHE', str(tmp_path / 'cache'))
        yield folder, requests


def test_the_published_names():
    names = pretrained.names()
    assert len(names) > 100 and names == sorted(set(names))
    assert {'cat', 'bird', 'the_mona_lisa', 'yoga'} <= set(names)


def test_download_then_cache_hit(bucket, tmp_path):
    folder, requests = bucket
    write_decoder(folder / 'cat.gen.json')
    model = S.load_pretrained('cat', progress=False)
    assert requests == ['/cat.gen.json']
    cached = tmp_path / 'cache' / 'models' / 'cat.gen.json'
    assert cached.read_bytes() == (folder / 'cat.gen.json').read_bytes()
    hps = model.hps
    assert (hps.conditional, hps.dec_rnn_size, hps.num_mixture, hps.max_seq_len) == \
        (False, UNITS, 20, 30)
    assert model.normalizing_scale_factor == 50.0
    S.load_pretrained('cat', progress=False)
    assert requests == ['/cat.gen.json']  # the second load reads the cache


def test_missing_model_unknown_name_and_offline(bucket, tmp_path, monkeypatch):
    with pytest.raises(pretrained.PretrainedError) as err:
        pretrained.fetch_model('dog', progress=False)
    message = str(err.value)
    assert 'HTTP 404' in message and "'dog'" in message and '\n' not in message
    assert not (tmp_path / 'cache' / 'models' / 'dog.gen.json').exists()

    with pytest.raises(pretrained.PretrainedError, match="did you mean cat"):
        pretrained.fetch_model('cats')

    with socket.socket() as closed:  # a port nothing listens on: offline
        closed.bind(('127.0.0.1', 0))
        url = f'http://127.0.0.1:{closed.getsockname()[1]}'
    monkeypatch.setenv(pretrained.URL_VARIABLE, url)
    with pytest.raises(pretrained.PretrainedError) as err:
        pretrained.fetch_model('cat', progress=False)
    message = str(err.value)
    assert f'fetch {url}/cat.gen.json once' in message and '\n' not in message


def test_sample_command_draws_a_pretrained_model(bucket, tmp_path, capsys):
    folder, _ = bucket
    write_decoder(folder / 'cat.gen.json')
    out, gif = tmp_path / 'cat.svg', tmp_path / 'cat.gif'
    assert seq2seqVAE_sample.main(['--pretrained', 'cat', '--num', '3', '--seed', '1',
                            '--out', str(out), '--animate', str(gif)]) == 0
    assert capsys.readouterr().out.strip() == f'wrote {out}, {gif}'
    assert out.read_text().startswith('<?xml')
    with Image.open(gif) as image:
        assert image.format == 'GIF' and image.n_frames > 2
    begun, finished = tmp_path / 'begun.json', tmp_path / 'finished.svg'
    begun.write_text('[[0, 0, 0], [40, 10, 0], [10, 40, 0]]')  # data units, as the model's scale
    seq2seqVAE_sample.main(['--pretrained', 'cat', '--mode', 'complete', '--sketch', str(begun),
                            '--num', '2', '--seed', '1', '--out', str(finished)])
    assert capsys.readouterr().out.strip() == f'wrote {finished}'
    assert f'stroke="{seq2seqVAE_sample.PREFIX_COLOR}"' in finished.read_text()
    for argv, words in [(['--pretrained', 'kat'], "no pretrained model named 'kat'"),
                        (['--pretrained', 'cat', '--mode', 'reconstruct'], 'only --mode sample')]:
        assert seq2seqVAE_sample.main(argv) == 2
        assert words in capsys.readouterr().err


def test_gif_draws_the_sketch_point_by_point(tmp_path):
    """Frames add ink in drawing order: the first is blank, each has at least
    the ink of the one before, and the last is the whole sketch."""
    square = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [-10, 0, 0], [0, -10, 1],
                       [20, 0, 0], [5, 5, 1]], float)
    path = utils.draw_strokes_gif(square, str(tmp_path / 'square.gif'), size=160)
    ink = []
    with Image.open(path) as image:
        assert image.size == (160, 64)  # the sketch's box, 25 x 10, longer side 160
        for i in range(image.n_frames):
            image.seek(i)
            ink.append(np.asarray(image.convert('L')) < 128)
    assert len(ink) >= 4 and not ink[0].any()
    assert all((a <= b).all() and (a < b).any() for a, b in zip(ink, ink[1:]))
    np.testing.assert_array_equal(ink[-1], np.asarray(raster.render(square, (160, 64))) < 128)
