"""QuickDraw by name: a category missing from --data_dir is downloaded into
it from $SKETCHGEN_QUICKDRAW_URL (here a loopback server started by the
test), never leaving a partial file under the final name."""
import http.server
import socket
import struct
import threading

import pytest
from cli import run_training
from random_sketches import write_npz
from tiny import TINY_HPARAMS, loader_hps

from sketchgen import quickdraw
from utils import SketchDataError, load_dataset


class Server:
    """Serves `files` {url path: bytes}; `mode` says how to misbehave."""

    def __init__(self):
        self.files, self.mode, self.requests = {}, 'ok', []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                announced = len(body) + (1000 if server.mode == 'short' else 0)
                self.send_header('Content-Length', str(announced))
                self.end_headers()
                if server.mode == 'drop':  # half the body, then the connection breaks
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack('ii', 1, 0))
                    self.connection.close()
                    return
                self.wfile.write(body)

        self.http = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.http.server_address[1]}'
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def stop(self):
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def server(tmp_path, monkeypatch):
    served = Server()
    monkeypatch.setenv('SKETCHGEN_QUICKDRAW_URL', served.url)
    monkeypatch.setenv('SKETCHGEN_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setenv('no_proxy', '127.0.0.1')
    monkeypatch.setenv('NO_PROXY', '127.0.0.1')
    yield served
    served.stop()


def npz_bytes(tmp_path, seed=1, sizes=(12, 8, 8)):
    write_npz(tmp_path / 'made.npz', seed=seed, sizes=sizes)
    return (tmp_path / 'made.npz').read_bytes()


def not_found(data_dir, name):
    """The one-line message load_dataset raises for `name` missing from data_dir."""
    with pytest.raises(SketchDataError) as err:
        load_dataset(str(data_dir), loader_hps(name))
    message = str(err.value)
    assert '\n' not in message, message
    assert message.startswith(f'{data_dir / name}: file not found'), message
    return message


def test_the_category_list_has_all_345_names():
    names = quickdraw.categories()
    assert len(names) == 345
    assert {'cat', 'aircraft carrier', 'The Eiffel Tower', 'The Great Wall of China'} <= names


def test_a_missing_category_is_downloaded_into_data_dir_once(tmp_path, server):
    body = npz_bytes(tmp_path)
    server.files['/The%20Eiffel%20Tower.npz'] = body
    data_dir = tmp_path / 'datasets'
    train = load_dataset(str(data_dir), loader_hps('The Eiffel Tower.npz'))[0]
    assert (data_dir / 'The Eiffel Tower.npz').read_bytes() == body
    assert len(train.strokes) == 12
    load_dataset(str(data_dir), loader_hps('The Eiffel Tower.npz'))
    assert server.requests == ['/The%20Eiffel%20Tower.npz']
    assert [p.name for p in data_dir.iterdir()] == ['The Eiffel Tower.npz']


@pytest.mark.parametrize('mode', ['drop', 'short'])
def test_an_interrupted_download_leaves_no_file_and_is_retried(tmp_path, server, mode):
    body = npz_bytes(tmp_path)
    server.files['/cat.npz'] = body
    server.mode = mode
    data_dir = tmp_path / 'datasets'
    message = not_found(data_dir, 'cat.npz')
    assert f'{server.url}/cat.npz' in message and '--data_set shapes' in message
    assert list(data_dir.iterdir()) == []  # no partial file, under any name
    server.mode = 'ok'
    load_dataset(str(data_dir), loader_hps('cat.npz'))
    assert (data_dir / 'cat.npz').read_bytes() == body
    assert server.requests == ['/cat.npz'] * 2


def test_a_404_says_what_was_looked_for_where(tmp_path, server):
    message = not_found(tmp_path, 'dog.npz')
    assert f'{server.url}/dog.npz: HTTP 404' in message
    assert f'fetch it by hand into {tmp_path}' in message and '--data_set shapes' in message
    assert not (tmp_path / 'dog.npz').exists()


def test_a_name_that_is_not_a_category_is_not_downloaded(tmp_path, server):
    message = not_found(tmp_path, 'caat.npz')
    assert "not one of QuickDraw's 345 categories (did you mean 'cat'?)" in message
    assert '--data_set shapes' in message
    assert server.requests == []


def test_a_url_data_dir_is_cached_per_server(tmp_path, server):
    server.files['/a.npz'] = npz_bytes(tmp_path, seed=1)
    load_dataset(server.url, loader_hps('a.npz'))
    other = Server()
    try:
        other.files['/a.npz'] = npz_bytes(tmp_path, seed=2, sizes=(16, 8, 8))
        train = load_dataset(other.url + '/', loader_hps('a.npz'))[0]
    finally:
        other.stop()
    assert len(train.strokes) == 16  # not the first server's a.npz
    assert len(list((tmp_path / 'cache' / 'datasets').glob('127.0.0.1_*/a.npz'))) == 2
    server.stop()
    load_dataset(server.url, loader_hps('a.npz'))  # from the cache
    assert server.requests == ['/a.npz']


def test_the_default_data_set_downloads_on_a_fresh_clone(tmp_path, server):
    """The mission's example command, with no cat.npz yet."""
    server.files['/cat.npz'] = npz_bytes(tmp_path)
    code, err = run_training(
        '--data_dir', tmp_path / 'datasets', '--max_steps', 0, '--experiment_dir',
        tmp_path / 'experiments', '--hparams', TINY_HPARAMS)
    assert code == 0, err
    assert (tmp_path / 'datasets' / 'cat.npz').is_file()
    assert (tmp_path / 'experiments' / 'cat' / 'exp').is_dir()


def test_offline_the_command_ends_in_one_line(tmp_path, server):
    server.stop()
    code, err = run_training('--data_dir', tmp_path, '--data_set', 'cat',
                             '--experiment_dir', tmp_path / 'experiments')
    assert code == 2
    assert err.count('\n') == 1 and 'Traceback' not in err, err
    assert f'{tmp_path / "cat.npz"}: file not found' in err and '--data_set shapes' in err
    assert not (tmp_path / 'experiments').exists()
