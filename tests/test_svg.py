"""SVG drawing: well-formed output, the notebook's grid layout, animation."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

import utils
from sketchgen.drawing import grid_row_colors

SVG = '{http://www.w3.org/2000/svg}'

# Two strokes: an L shape, then (after a pen-up move) a short bar.
SKETCH = np.array([[10, 0, 0], [0, 20, 0], [15, 0, 1],
                   [5, -5, 0], [10, 0, 1]], dtype=np.int16)


def parse(svg):
    root = ET.fromstring(svg)
    assert root.tag == SVG + 'svg'
    return root


def test_draw_strokes_makes_one_path_and_writes_file(tmp_path):
    out = tmp_path / 'new folder' / 'sketch.svg'
    svg = utils.draw_strokes(SKETCH, factor=0.5, svg_filename=str(out))
    root = parse(svg)
    (path,) = root.iter(SVG + 'path')
    commands = path.get('d').split()
    assert commands[0].startswith('M')
    # moves where the pen was up before the point, lines where it was down
    assert [c[0] for c in commands[1:]] == ['m', 'l', 'l', 'm', 'l']
    assert commands[1] == 'm20,0'  # offsets divided by factor
    assert path.get('fill') == 'none'
    # the sketch (80 x 40 px after scaling) plus a 25 px margin each side
    assert float(root.get('width')) == pytest.approx(130)
    assert float(root.get('height')) == pytest.approx(90)
    assert parse(out.read_text()).find(SVG + 'path') is not None


def test_draw_strokes_without_filename_writes_nothing(tmp_path,
                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    utils.draw_strokes(SKETCH)
    assert not list(tmp_path.iterdir())


def test_make_grid_svg_places_sketches_like_the_notebook():
    second = SKETCH * np.array([2, 1, 1], dtype=np.int16)
    grid = utils.make_grid_svg([[SKETCH, [0, 0]], [second, [1, 2]]],
                               grid_space=100.0, grid_space_x=160.0)
    assert grid.shape == (1 + 1 + len(SKETCH) + 1 + len(second), 3)
    np.testing.assert_array_equal(grid[0], [0, 0, 1])
    positions = np.cumsum(grid[:, 0:2], axis=0)
    starts = (2, 3 + len(SKETCH))
    for start, sketch, (row, col) in zip(starts, (SKETCH, second),
                                         ((0, 0), (1, 2))):
        assert grid[start - 1, 2] == 0  # the move onto a sketch: pen down
        assert grid[start + len(sketch) - 1, 2] == 1  # pen up after it
        points = positions[start:start + len(sketch)]
        center = (points.max(axis=0) + points.min(axis=0)) / 2
        cell_center = np.array([col * 160 + 80, row * 100 + 50])
        # the notebook centres the box shifted by the first offset
        np.testing.assert_allclose(center, cell_center + sketch[0, 0:2])


def test_draw_grid_draws_every_sketch_in_one_svg(tmp_path):
    sketches = [SKETCH, SKETCH * 2, SKETCH[:3]]
    out = tmp_path / 'grid.svg'
    svg = utils.draw_grid(sketches, ncols=2, svg_filename=str(out),
                          factor=0.5)
    root = parse(svg)
    (path,) = root.iter(SVG + 'path')
    drawn = sum(1 for c in path.get('d').split() if c.startswith('l'))
    pen_down = sum(int((s[:-1, 2] == 0).sum()) for s in sketches)
    assert drawn >= pen_down
    assert float(root.get('width')) > 0 and float(root.get('height')) > 0
    assert out.read_text().endswith(svg)


def test_animated_svg_draws_stroke_by_stroke(tmp_path):
    out = tmp_path / 'anim.svg'
    svg = utils.draw_strokes_animated(SKETCH, svg_filename=str(out),
                                      seconds_per_stroke=0.25)
    root = parse(svg)
    paths = list(root.iter(SVG + 'path'))
    animations = list(root.iter(SVG + 'animate'))
    assert len(paths) == len(animations) == 2
    assert [a.get('begin') for a in animations] == ['0s', '0.25s']
    for path, animation in zip(paths, animations):
        assert animation.get('attributeName') == 'stroke-dashoffset'
        assert animation.get('to') == '0'
        assert animation.get('from') == path.get('stroke-dasharray')
        assert path.get('stroke-dashoffset') == path.get('stroke-dasharray')
    # first stroke: 20 + 15 units (the move from the origin is not drawn),
    # divided by the default factor 0.2
    assert float(paths[0].get('stroke-dasharray')) == pytest.approx(175)
    assert parse(out.read_text()).find(f'.//{SVG}animate') is not None


def test_animated_svg_skips_dots():
    dot_then_line = np.array([[5, 5, 1], [10, 0, 0], [10, 0, 1]])
    root = parse(utils.draw_strokes_animated(dot_then_line))
    assert len(list(root.iter(SVG + 'animate'))) == 1


def test_row_colors_split_the_pen_path():
    """The begun part in one colour, the rest in another: each colour's path
    draws its own segments and moves over the other's; one colour is the
    plain drawing."""
    colors = ['red'] * 2 + ['black'] * 3  # the segment into a row has its colour
    root = parse(utils.draw_strokes(SKETCH, factor=0.5, row_colors=colors))
    paths = {path.get('stroke'): path.get('d').split()[1:] for path in root.iter(SVG + 'path')}
    assert [c[0] for c in paths['red']] == ['m', 'l', 'm', 'm', 'm']
    assert [c[0] for c in paths['black']] == ['m', 'm', 'l', 'm', 'l']
    assert utils.draw_strokes(SKETCH, row_colors=['black'] * 5) == utils.draw_strokes(SKETCH)

    animated = parse(utils.draw_strokes_animated(SKETCH, row_colors=colors))
    # the first stroke splits where its colour changes, joined at (10, 20)
    assert [(p.get('stroke'), len(p.get('d').split())) for p in animated.iter(SVG + 'path')] == [
        ('red', 2), ('black', 2), ('black', 2)]


def test_grid_row_colors_follow_the_grid_layout():
    sketches = [SKETCH, SKETCH[:3]]
    colors = [['red'] * 2 + ['black'] * 3, ['red'] * 3]
    grid = utils.grid_strokes(sketches, ncols=2)
    row_colors = grid_row_colors(colors)
    assert len(row_colors) == len(grid)
    # each sketch's rows end the grid's rows for it, in its own colours
    assert row_colors[-3:] == colors[1] and row_colors[-8:-3] == colors[0][-3:] + ['red'] * 2
    np.testing.assert_array_equal(grid[-3:, 0:2], SKETCH[:3, 0:2])
    root = parse(utils.draw_grid(sketches, ncols=2, row_colors=colors))
    assert {path.get('stroke') for path in root.iter(SVG + 'path')} == {'red', 'black'}
