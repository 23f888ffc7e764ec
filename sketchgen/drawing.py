"""Drawing stroke-3 sketches: SVG (still and animated, in the style of
Magenta's sketch-rnn notebook), GIF, and the one grid layout.

Every function draws in one colour, or with `row_colors` (a colour for each
row; the segment into a row has its colour) in several: a sketch someone
began in one colour and the model's ending in another."""
import os

import numpy as np
import svgwrite

from sketchgen import raster
from sketchgen.strokes import get_bounds, pen_runs


def _frame(data, factor):
    """Pen path of stroke-3 `data` / factor framed with a 25 px margin.

    Returns (start point, offsets, pen lifted before each point, svg size).
    """
    data = np.asarray(data)
    min_x, max_x, min_y, max_y = get_bounds(data, factor)
    size = (50 + max_x - min_x, 50 + max_y - min_y)
    start = np.array([25 - min_x, 25 - min_y])
    offsets = data[:, 0:2].astype(np.float64) / factor
    lifted_before = np.concatenate([[True], data[:-1, 2] == 1])
    return start, offsets, lifted_before, size


def _number(value):
    return f'{value:.6g}'


def _finish(drawing, svg_filename):
    """The drawing as a string, also saved when svg_filename is given."""
    if svg_filename:
        os.makedirs(os.path.dirname(os.path.abspath(svg_filename)),
                    exist_ok=True)
        drawing.saveas(svg_filename)
    return drawing.tostring()


def draw_strokes(data, factor=0.2, svg_filename=None, stroke_width=1,
                 color='black', row_colors=None):
    """SVG string of one stroke-3 sketch; offsets are divided by `factor`.

    Also writes it to svg_filename when given.  One path per colour, which
    moves over the other colours' segments.
    """
    start, offsets, lifted_before, size = _frame(data, factor)
    colors = [color] * len(offsets) if row_colors is None else list(row_colors)
    drawing = svgwrite.Drawing(svg_filename, size=size)
    drawing.add(drawing.rect(insert=(0, 0), size=size, fill='white'))
    for path_color in dict.fromkeys(colors) or [color]:  # each colour once, in drawing order
        path = f'M{_number(start[0])},{_number(start[1])} ' + ' '.join(
            f"{'m' if lifted or row_color != path_color else 'l'}{_number(dx)},{_number(dy)}"
            for (dx, dy), lifted, row_color in zip(offsets, lifted_before, colors))
        drawing.add(drawing.path(path, stroke=path_color, stroke_width=stroke_width,
                                 fill='none'))
    return _finish(drawing, svg_filename)


def make_grid_svg(s_list, grid_space=10.0, grid_space_x=16.0):
    """Joins [sketch, (row, col)] pairs into one stroke-3 drawing on a grid.

    As in the reference notebook: the box of each sketch's points is centred
    on its cell's centre shifted by the sketch's first offset, the move to
    each sketch is a pen-down row, and the result starts with (0, 0, 1).
    """
    rows = [np.array([[0.0, 0.0, 1.0]])]
    pen = np.zeros(2)
    for sketch, (row, col) in s_list:
        sketch = np.array(sketch, dtype=np.float64)
        path = np.cumsum(sketch[:, 0:2], axis=0)
        center = (path.max(axis=0) + path.min(axis=0)) * 0.5
        cell_center = np.array([col * grid_space_x + grid_space_x * 0.5,
                                row * grid_space + grid_space * 0.5])
        sketch_start = cell_center + (sketch[0, 0:2] - center)
        rows.append(np.array([[*(sketch_start - pen), 0.0]]))
        sketch[-1, 2] = 1  # lift the pen before moving to the next cell
        rows.append(sketch)
        pen = sketch_start + sketch[:, 0:2].sum(axis=0)
    return np.concatenate(rows)


def grid_strokes(sketches, ncols=10):
    """Stroke-3 sketches laid out as one stroke-3 drawing, filled row by row
    in square cells 1.2 times the largest sketch."""
    sizes = [max(x1 - x0, y1 - y0)
             for x0, x1, y0, y1 in (get_bounds(s, 1) for s in sketches)]
    cell = 1.2 * max(sizes, default=0.0) or 1.0
    # A leading (0, 0, 1) row makes make_grid_svg centre each sketch exactly
    # and keeps the pen up on the way to the sketch's first point.
    cells = [[np.concatenate([[[0, 0, 1]], np.asarray(sketch)]),
              divmod(i, ncols)] for i, sketch in enumerate(sketches)]
    return make_grid_svg(cells, cell, cell)


def grid_row_colors(row_colors):
    """The colour of each row of grid_strokes' drawing from each sketch's
    row colours (None for None): a sketch's first colour for the rows the
    layout adds, make_grid_svg's leading row and, per sketch, its move to
    the cell and grid_strokes' leading row."""
    if row_colors is None:
        return None
    return [row_colors[0][0]] + [color for colors in row_colors
                                 for color in [colors[0]] * 2 + list(colors)]


def draw_grid(sketches, ncols=10, svg_filename=None, factor=0.2,
              stroke_width=1, row_colors=None):
    """SVG string of stroke-3 sketches in a grid, filled row by row;
    row_colors: each sketch's, as draw_strokes takes them."""
    return draw_strokes(grid_strokes(sketches, ncols), factor, svg_filename,
                        stroke_width, row_colors=grid_row_colors(row_colors))


def draw_strokes_animated(data, svg_filename=None, factor=0.2,
                          seconds_per_stroke=0.5, stroke_width=1,
                          color='black', row_colors=None):
    """SVG string that draws a stroke-3 sketch stroke by stroke (SMIL).

    Each pen-down polyline (split where its colour changes) is a path whose
    dash offset animates from its length to 0, starting when the previous
    stroke is finished.
    """
    start, offsets, _, size = _frame(data, factor)
    points = start + np.cumsum(offsets, axis=0)
    drawing = svgwrite.Drawing(svg_filename, size=size)
    drawing.add(drawing.rect(insert=(0, 0), size=size, fill='white'))
    begin = 0.0
    for first, stop, stroke_color in pen_runs(data, row_colors):
        stroke = points[first:stop]
        length = np.hypot(*np.diff(stroke, axis=0).T).sum()
        if length == 0:
            continue  # a dot or an empty stroke: nothing to draw
        path = 'M' + ' L'.join(f'{_number(x)},{_number(y)}' for x, y in stroke)
        element = drawing.path(
            path, stroke=stroke_color or color, stroke_width=stroke_width, fill='none',
            stroke_dasharray=_number(length),
            stroke_dashoffset=_number(length))
        element.add(drawing.animate(
            attributeName='stroke-dashoffset', from_=_number(length), to=0,
            begin=f'{begin:g}s', dur=f'{seconds_per_stroke:g}s',
            fill='freeze'))
        drawing.add(element)
        begin += seconds_per_stroke
    return _finish(drawing, svg_filename)


def draw_grid_animated(sketches, ncols=10, svg_filename=None, factor=0.2,
                       seconds_per_stroke=0.2, stroke_width=1, row_colors=None):
    """draw_grid's layout, drawn stroke by stroke as draw_strokes_animated."""
    return draw_strokes_animated(grid_strokes(sketches, ncols), svg_filename,
                                 factor, seconds_per_stroke, stroke_width,
                                 row_colors=grid_row_colors(row_colors))


def draw_strokes_gif(data, gif_filename, **options):
    """A GIF of a stroke-3 sketch drawing itself, for pages and chat tools
    that do not play SVG animations; options: sketchgen.raster.save_gif's."""
    return raster.save_gif(data, gif_filename, **options)


def draw_grid_gif(sketches, gif_filename, ncols=10, row_colors=None, **options):
    """draw_grid's layout as a GIF, the sketches drawn one after another
    (128 pixels a column unless `size` says otherwise)."""
    options.setdefault('size', 128 * min(ncols, len(sketches)))
    return raster.save_gif(grid_strokes(sketches, ncols), gif_filename,
                           colors=grid_row_colors(row_colors), **options)
