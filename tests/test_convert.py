"""seq2seqVAE_data.py and sketchgen/convert.py: SVG, QuickDraw ndjson and
.json stroke lists -> sketch-rnn .npz files."""
import io
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import seq2seqVAE_data as D
from cli import run_main
import utils
from sketchgen import convert
from sketchgen.safe_npz import NpzReader
from tiny import TINY_HPARAMS, loader_hps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = os.path.join(ROOT, 'datasets', 'shapes.npz')


def run(*argv):
    return run_main(D.main, *argv)


def shapes(count, split='train'):
    with NpzReader(SHAPES) as data:
        return list(data[split][:count])


def normalized(sketch):
    """The sketch as the converter writes it: 255-unit frame, every point."""
    return convert.to_stroke3(utils.strokes_to_lines(sketch), epsilon=0)


def write_svg(path, body, attributes='width="100" height="100"'):
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" {attributes}>'
                    f'{body}</svg>')
    return path


def distance_to_polyline(points, line):
    """Distance of each point to the nearest segment of polyline `line`."""
    starts, ends = line[:-1], line[1:]
    chord = ends - starts
    length2 = np.maximum((chord ** 2).sum(axis=1), 1e-12)
    offsets = points[:, None, :] - starts[None]
    t = np.clip((offsets * chord).sum(axis=2) / length2, 0, 1)
    return np.hypot(*np.moveaxis(offsets - t[..., None] * chord, 2, 0)).min(axis=1)


def assert_traces(line, curve, tolerance):
    """`line` runs along the densely sampled `curve` within `tolerance`,
    from its start to its end."""
    np.testing.assert_allclose(line[[0, -1]], curve[[0, -1]], atol=1e-6)
    assert distance_to_polyline(curve, line).max() <= tolerance * 1.01
    assert distance_to_polyline(line, curve).max() <= 1e-3 + tolerance * 0.01


def cubic(p0, p1, p2, p3, n=2001):
    t = np.linspace(0, 1, n)[:, None]
    return ((1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1
            + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3)


def quadratic(p0, p1, p2, n=2001):
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


# ---------------------------------------------------------------------------
# SVG -> polylines


@pytest.mark.parametrize('factor', [0.2, 1.0, 3.0])
def test_draw_strokes_svg_converts_back_to_the_same_stroke3(tmp_path, factor):
    # Shapes in the 255 frame come back point for point; the first row is
    # the first point's place in the frame, as in every converted sketch.
    for i, sketch in enumerate(shapes(12)):
        expected = normalized(sketch)
        svg = tmp_path / f'{i}.svg'
        utils.draw_strokes(expected, factor=factor, svg_filename=str(svg))
        got = convert.to_stroke3(convert.read_svg(str(svg)), epsilon=0)
        assert got.dtype == np.int16
        np.testing.assert_array_equal(got, expected)


def test_round_trip_is_up_to_the_rescaling(tmp_path):
    sketch = shapes(1)[0]
    svg = str(tmp_path / 'a.svg')
    utils.draw_strokes(sketch, factor=0.2, svg_filename=svg)
    got = convert.to_stroke3(convert.read_svg(svg), epsilon=0)
    lines = utils.strokes_to_lines(sketch)
    points = np.concatenate(lines)
    scale = 255 / (points.max(axis=0) - points.min(axis=0)).max()
    np.testing.assert_array_equal(got[:, 2], sketch[:, 2])
    assert np.abs(got[1:, 0:2] - sketch[1:, 0:2] * scale).max() <= 1  # rounding
    np.testing.assert_array_equal(np.cumsum(got[:, 0:2], 0).max(0).max(), 255)


def test_paths_with_relative_commands_transforms_and_viewbox(tmp_path):
    # viewBox 0..50 shown at 100 px: x2; group translate(5,5), path scale 2.
    svg = write_svg(tmp_path / 'a.svg', (
        '<g transform="translate(5,5)" stroke="black" fill="none">'
        '<path transform="scale(2)" d="M1,1 h4 v3 H1 Z m2,0 l1,1 1,-1 V0"/>'
        '</g>'), 'width="100" height="100" viewBox="0 0 50 50"')
    first, second = convert.read_svg(str(svg))

    def place(points):
        return (np.array(points, float) * 2 + 5) * 2

    np.testing.assert_allclose(first, place([[1, 1], [5, 1], [5, 4], [1, 4], [1, 1]]))
    # after Z a relative move starts from the subpath's start, (1, 1)
    np.testing.assert_allclose(second, place([[3, 1], [4, 2], [5, 1], [5, 0]]))


def test_arcs_are_flattened_within_the_tolerance(tmp_path):
    # Two half circles, relative, radius 40 around (50, 50), rotated: a circle.
    svg = write_svg(tmp_path / 'a.svg', (
        '<path stroke="black" fill="none" transform="rotate(30 50 50)" '
        'd="M90,50 a40,40 0 0 1 -80,0 A40,40 0 0 1 90,50"/>'))
    tolerance = 0.5  # in the 255 frame: 80 units here are 255 there
    (line,) = convert.read_svg(str(svg), tolerance)
    radius = np.hypot(*(line - 50).T)
    np.testing.assert_allclose(radius, 40, atol=1e-9)  # points on the circle
    gaps = np.hypot(*np.diff(line, axis=0).T)
    sagitta = 40 - np.sqrt(40 ** 2 - (gaps / 2) ** 2)
    assert sagitta.max() <= tolerance * 80 / 255
    assert sagitta.max() > tolerance * 80 / 255 / 8  # not needlessly fine
    angle = np.unwrap(np.arctan2(*(line - 50).T[::-1]))
    assert abs(angle[-1] - angle[0]) == pytest.approx(2 * np.pi)


def test_cubic_and_quadratic_curves_absolute_relative_and_smooth(tmp_path):
    # The s curve reaches y 132.5: the canvas is tall enough to show it.
    svg = write_svg(tmp_path / 'a.svg', (
        '<path stroke="black" d="M10,80 C20,10 40,10 50,80 s40,70 40,0"/>'
        '<path stroke="black" d="M10,90 q20,-30 40,0 T90,90"/>'),
        'width="100" height="200"')
    tolerance = 1.0
    cubic_line, quadratic_line = convert.read_svg(str(svg), tolerance)
    p = np.array
    cubic_curve = np.concatenate([
        cubic(p([10, 80]), p([20, 10]), p([40, 10]), p([50, 80])),
        # s: the first control point mirrors (40, 10) about (50, 80)
        cubic(p([50, 80]), p([60, 150]), p([90, 150]), p([90, 80]))])
    quadratic_curve = np.concatenate([
        quadratic(p([10, 90]), p([30, 60]), p([50, 90])),
        quadratic(p([50, 90]), p([70, 120]), p([90, 90]))])  # T mirrors
    both = np.concatenate([cubic_curve, quadratic_curve])
    frame = (both.max(axis=0) - both.min(axis=0)).max() / 255  # 1 unit there
    assert_traces(cubic_line, cubic_curve, tolerance * frame)
    assert_traces(quadratic_line, quadratic_curve, tolerance * frame)


def test_basic_shapes_and_unstroked_background(tmp_path):
    svg = write_svg(tmp_path / 'a.svg', (
        '<rect width="100" height="100" fill="white"/>'  # not a pen line
        '<g stroke="black">'
        '<rect x="10" y="20" width="30" height="40"/>'
        '<line x1="0" y1="0" x2="5" y2="7"/>'
        '<polyline points="1,1 2,3 4,1"/>'
        '<polygon points="1,1 2,3 4,1" transform="translate(10)"/>'
        '<ellipse cx="50" cy="50" rx="20" ry="10" transform="rotate(90 50 50)"/>'
        '<circle cx="80" cy="80" r="5"/></g>'))
    rect, line, polyline, polygon, ellipse, circle = convert.read_svg(str(svg))
    np.testing.assert_allclose(
        rect, [[10, 20], [40, 20], [40, 60], [10, 60], [10, 20]])
    np.testing.assert_allclose(line, [[0, 0], [5, 7]])
    np.testing.assert_allclose(polyline, [[1, 1], [2, 3], [4, 1]])
    np.testing.assert_allclose(polygon, [[11, 1], [12, 3], [14, 1], [11, 1]])
    # rotated by 90 degrees: 10 wide and 20 high
    relative = (ellipse - 50) / [10, 20]
    np.testing.assert_allclose(np.hypot(*relative.T), 1, atol=1e-9)
    np.testing.assert_allclose(np.hypot(*(circle - 80).T), 5, atol=1e-9)


def test_outlines_are_read_when_nothing_is_stroked(tmp_path):
    svg = write_svg(tmp_path / 'a.svg', '<rect x="1" y="2" width="3" height="4"/>')
    (rect,) = convert.read_svg(str(svg))
    np.testing.assert_allclose(rect, [[1, 2], [4, 2], [4, 6], [1, 6], [1, 2]])


# ---------------------------------------------------------------------------
# QuickDraw ndjson and .json stroke lists

# In the 255 frame: a bar with a point 1 unit off its line (RDP with epsilon
# 2 drops it), then a vertical bar.
SIMPLIFIED = [[[0, 100, 255], [0, 1, 0]], [[0, 0], [10, 255]]]
WITH_EVERY_POINT = [[0, 0, 0], [100, 1, 0], [155, -1, 1], [-255, 10, 0], [0, 245, 1]]
SIMPLIFIED_OFFSETS = [[0, 0, 0], [255, 0, 1], [-255, 10, 0], [0, 245, 1]]


def raw(drawing):
    """The same drawing as raw data: x2, moved, with times."""
    return [[[2 * x + 300 for x in xs], [2 * y + 40 for y in ys],
             list(range(len(xs)))] for xs, ys in drawing]


def record(drawing, recognized=True, countrycode='US'):
    return json.dumps({'word': 'bar', 'countrycode': countrycode,
                       'recognized': recognized, 'key_id': '1',
                       'drawing': drawing})


@pytest.mark.parametrize('fmt', [lambda d: d, raw], ids=['simplified', 'raw'])
@pytest.mark.parametrize('epsilon, expected',
                         [(0, WITH_EVERY_POINT), (2.0, SIMPLIFIED_OFFSETS)])
def test_ndjson_gives_the_expected_offsets(tmp_path, fmt, epsilon, expected):
    path = tmp_path / 'bar.ndjson'
    path.write_text(record(fmt(SIMPLIFIED)) + '\n')
    ((name, lines),) = convert.read_ndjson(str(path))
    assert name == f'{path}:1'
    np.testing.assert_array_equal(convert.to_stroke3(lines, epsilon), expected)


def test_ndjson_filters_and_malformed_lines(tmp_path):
    path = tmp_path / 'bars.ndjson'
    path.write_text('\n'.join([
        record(SIMPLIFIED),
        record(SIMPLIFIED, recognized=False),
        '{"drawing": [[[1, 2], [3]]]}',  # ragged x and y
        record(raw(SIMPLIFIED), countrycode='GB'),
        'not json', '']))
    got = list(convert.read_ndjson(str(path)))
    assert [name.rsplit(':', 1)[1] for name, _ in got] == ['1', '2', '3', '4', '5']
    bad = [str(lines) for _, lines in got if isinstance(lines, utils.SketchDataError)]
    assert bad[0].startswith(f'{path}:3: stroke 0 ') and f'{path}:5: not a JSON' in bad[1]
    # Filters drop drawings without the field; a malformed line is still reported.
    assert [name[-1] for name, _ in convert.read_ndjson(str(path), recognized=True)] == [
        '1', '4', '5']
    kept = [name[-1] for name, _ in convert.read_ndjson(str(path), countrycodes=('GB',))]
    assert kept == ['4', '5']


def test_json_list_of_sketches(tmp_path):
    path = tmp_path / 'mine.json'
    strokes = [[[x, y] for x, y in zip(*stroke)] for stroke in SIMPLIFIED]
    path.write_text(json.dumps([strokes, [], [[[1, 2], [3]]]]))
    (_, lines), (empty, err1), (ragged, err2) = convert.read_json(str(path))
    np.testing.assert_array_equal(convert.to_stroke3(lines, 0), WITH_EVERY_POINT)
    assert str(err1).startswith(f'{path}[1]: ') and empty == f'{path}[1]'
    assert str(err2).startswith(f'{ragged}: stroke 0') and ragged == f'{path}[2]'


# ---------------------------------------------------------------------------
# The command


@pytest.fixture
def svg_folder(tmp_path):
    """40 shapes (in the 255 frame) drawn as SVG files, two bad files among them."""
    folder = tmp_path / 'svgs' / 'nested'
    for i, sketch in enumerate(shapes(40)):
        utils.draw_strokes(normalized(sketch), svg_filename=str(folder / f'{i:02d}.svg'))
    (folder / 'broken.svg').write_text('<svg')
    write_svg(folder / 'empty.svg', '')
    (folder / 'notes.txt').write_text('not a drawing')
    (folder / 'gone.ndjson').symlink_to(tmp_path / 'missing')  # unreadable: skipped too
    return tmp_path / 'svgs'


def load(path):
    with NpzReader(path) as data:
        return {split: list(data[split]) for split in utils.SPLITS}


def test_command_writes_splits_summary_and_reports_bad_files(tmp_path, svg_folder):
    out = tmp_path / 'mine.npz'
    result = run(svg_folder, '--out', out, '--split', '0.8', '0.1', '0.1')
    assert result.code == 0, result.err
    assert result.out.startswith(f'{out}: train 32, valid 4, test 4 sketches from 43 files; '
                                 'points per sketch: median ')
    assert '; skipped 3 bad inputs (first: ' in result.out
    assert 'broken.svg: cannot read it as SVG' in result.err
    assert 'empty.svg: no lines drawn' in result.err
    assert 'gone.ndjson: cannot read it: ' in result.err
    data = load(out)
    sketches = [s for split in data.values() for s in split]
    assert all(s.dtype == np.int16 and s.shape[1] == 3 and s[-1, 2] == 1 for s in sketches)
    extents = [np.cumsum(s[:, 0:2], axis=0).max() for s in sketches]
    assert set(extents) == {255}


def test_same_seed_same_file_other_seed_other_order(tmp_path, svg_folder):
    args = (svg_folder, '--split', '30', '5', '5', '--epsilon', '0')
    for name, seed in (('a', 1), ('b', 1), ('c', 2)):
        assert run(*args, '--out', tmp_path / f'{name}.npz', '--seed', seed).code == 0
    a, b, c = (load(tmp_path / f'{name}.npz') for name in 'abc')
    for split in utils.SPLITS:
        assert len(a[split]) == len(c[split])
        for x, y in zip(a[split], b[split]):
            np.testing.assert_array_equal(x, y)
    assert any(len(x) != len(y) or (x != y).any() for x, y in zip(a['train'], c['train']))
    # every input sketch is in exactly one split (epsilon 0: point for point)
    written = sorted(s.tobytes() for split in a.values() for s in split)
    expected = sorted(normalized(s).tobytes() for s in shapes(40))
    assert written == expected


def test_drops_are_counted_with_their_reason(tmp_path):
    path = tmp_path / 'bars.ndjson'
    dot = [[[5], [5]]]
    long = [[list(range(0, 600, 2)), [0, 10] * 150]]  # 300 points, none on a line
    path.write_text('\n'.join([record(dot), record(long)] + [record(SIMPLIFIED)] * 4))
    result = run(path, '--out', tmp_path / 'a.npz', '--epsilon', '0', '--split', '2', '1', '1')
    assert result.code == 0, result.err
    assert ('dropped 2 (1 fewer than 2 points, 1 longer than 250 points)' in result.out
            or 'dropped 2 (1 longer than 250 points, 1 fewer than 2 points)' in result.out)


def test_strict_stops_at_the_first_bad_input(tmp_path, svg_folder):
    out = tmp_path / 'mine.npz'
    result = run(svg_folder, '--out', out, '--strict')
    assert result.code == 2 and not out.exists()
    assert result.err.startswith('error: ') and result.err.count('\n') == 1
    assert 'broken.svg: cannot read it as SVG' in result.err


@pytest.mark.parametrize('args, message', [
    (['--split', '0.5', '0.2', '0.2'], 'fractions must sum to 1'),
    (['--split', '100', '5', '5'], '--split asks for 110 sketches; the inputs gave 4'),
    (['--out', 'x.npy'], 'must end with .npz'),
    (['--countrycode', 'GB'], 'no sketches to write: no drawings passed the filters'),
    (['--max_len', '3'], 'no sketches to write: dropped 4 (4 longer than 3 points)'),
])
def test_bad_requests_are_one_line_errors(tmp_path, args, message):
    path = tmp_path / 'bars.ndjson'
    path.write_text('\n'.join([record(SIMPLIFIED)] * 4))
    out = ['--out', tmp_path / 'a.npz'] if '--out' not in args else []
    result = run(path, *out, *args)
    assert result.code == 2 and message in result.err
    assert result.err.count('\n') == 1 and 'Traceback' not in result.err


def test_existing_output_is_kept_without_force(tmp_path):
    path = tmp_path / 'bars.ndjson'
    path.write_text('\n'.join([record(SIMPLIFIED)] * 4))
    out = tmp_path / 'a.npz'
    out.write_bytes(b'precious')
    result = run(path, '--out', out, '--split', '2', '1', '1')
    assert result.code == 2 and '--force' in result.err
    assert out.read_bytes() == b'precious'
    assert run(path, '--out', out, '--split', '2', '1', '1', '--force').code == 0
    assert len(load(out)['train']) == 2


def test_max_sketches_stops_reading(tmp_path):
    path = tmp_path / 'bars.ndjson'
    path.write_text('\n'.join([record(SIMPLIFIED)] * 50 + ['not json']))
    result = run(path, '--out', tmp_path / 'a.npz', '--max_sketches', '20')
    assert result.code == 0 and 'skipped' not in result.out  # never read the bad line
    assert sum(len(s) for s in load(tmp_path / 'a.npz').values()) == 20


def test_preview_draws_the_written_sketches(tmp_path, svg_folder):
    preview = tmp_path / 'preview.svg'
    assert run(svg_folder, '--out', tmp_path / 'a.npz', '--preview', preview).code == 0
    root = ET.parse(preview).getroot()
    (path,) = root.iter('{http://www.w3.org/2000/svg}path')
    # utils.draw_grid of the file's 40 sketches: a first row, then per sketch
    # a move to its cell, a pen-up row and its own rows
    written = [s for split in load(tmp_path / 'a.npz').values() for s in split]
    assert len(path.get('d').split()[1:]) == 1 + sum(len(s) + 2 for s in written)


def test_progress_bar_on_a_terminal(tmp_path, svg_folder, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, 'stderr', terminal)
    report = convert.read_sketches([svg_folder], convert.Options())
    assert len(report.sketches) == 40 and report.files == 43
    assert '43/43' in terminal.getvalue() and 'sketches=40' in terminal.getvalue()


def test_written_file_loads_with_load_dataset_and_a_restricted_unpickler(tmp_path, svg_folder):
    out = tmp_path / 'mine.npz'
    assert run(svg_folder, '--out', out, '--split', '32', '4', '4').code == 0
    with NpzReader(out) as archive:  # the loader that refuses anything but arrays
        for split in utils.SPLITS:
            sketches = archive[split]
            assert sketches.dtype == object and sketches.ndim == 1
            assert all(s.dtype == np.int16 for s in sketches)
    train, valid, test, _ = utils.load_dataset(tmp_path, loader_hps('mine.npz'))
    assert (len(train.strokes), len(valid.strokes), len(test.strokes)) == (32, 4, 4)


@pytest.mark.slow
def test_shapes_drawn_as_svg_train_for_a_few_steps(tmp_path, svg_folder):
    import seq2seqVAE_train as T  # TensorFlow: only this test needs it
    data = tmp_path / 'data'
    assert run(svg_folder, '--out', data / 'mine.npz', '--split', '32', '4', '4').code == 0
    result = run_main(T.main, '--data_dir', data, '--data_set', 'mine', '--experiment_dir',
                      tmp_path / 'exp', '--hparams', TINY_HPARAMS, '--max_steps', 3, '--seed', 1)
    done = re.search(r'Done at step 3; best valid cost (\S+) at step \d+\. Best weights: (\S+)',
                     result.out)
    assert done, result.out[-2000:] + result.err[-2000:]
    assert np.isfinite(float(done[1])) and os.path.isfile(done[2])
