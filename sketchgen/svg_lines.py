"""The pen lines of an SVG file: what a sketch-rnn data set keeps of it.

The lines are the paths of the stroked shapes and the outlines of the
filled ones, except a background (a filled shape covering the whole canvas,
or the first shape when its fill lies under all the others), cut to what shows and
with curves flattened. A piece too short to span one unit of the 255-unit
frame is a dot: kept as one point when a browser shows it (round or square
caps, or a fill), dropped when it shows nothing (butt caps).
"""
import dataclasses

import numpy as np

from sketchgen import clip
from sketchgen.strokes import SketchDataError
from sketchgen.svg_curves import flatten
from sketchgen.svg_shapes import read_document

SIDE = 255  # the longer side of the frame the lines are scaled to
FLATTEN_PASSES = 3  # re-flatten when cutting shrank the drawing this often


@dataclasses.dataclass
class SvgDrawing:
    """The lines of one SVG file and what happened on the way."""
    lines: list  # polylines in canvas coordinates; a dot is a single point
    dots_drawn: int = 0
    dots_dropped: int = 0
    clipped: bool = False  # something was cut off at a clip region
    notes: list = dataclasses.field(default_factory=list)  # not drawn as written
    broken: list = dataclasses.field(default_factory=list)  # broken data


@dataclasses.dataclass
class _Lines:
    shape: object  # svg_shapes.Shape
    lines: list
    filled: bool  # the lines are fill outlines (closed rings)


def _extent(lines):
    points = np.concatenate(lines)
    return (points.max(axis=0) - points.min(axis=0)).max()


def _outlines(path, shapes, tolerance):
    """Lines of each shape: the stroke's path, or the fill's closed rings
    that enclose an area; shapes with neither are left out."""
    found = []
    for shape in shapes:
        lines = flatten(shape.outline, tolerance)
        if not all(np.isfinite(line).all() for line in lines):
            raise SketchDataError(f'{path}: {shape.name} has coordinates that '
                                  'are not finite numbers')
        if not shape.stroked:
            lines = [line if (line[0] == line[-1]).all() else
                     np.concatenate([line, line[:1]]) for line in lines]
            lines = [line for line in lines if abs(_signed_area(line)) > 0]
        if lines:
            found.append(_Lines(shape, lines, not shape.stroked))
    return found


def _signed_area(ring):
    x, y = ring[:, 0], ring[:, 1]
    return (np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])) / 2


def _bounds(lines):
    points = np.concatenate(lines)
    return points.min(axis=0), points.max(axis=0)


def _is_background(index, found, canvas):
    """A filled shape covering the canvas, or the first one when its fill
    lies under all the others (a ring around them is no background)."""
    item = found[index]
    if not item.filled:
        return False
    area = clip.Area(item.lines, item.shape.fill_rule)
    if canvas is not None:
        width, height = canvas
        inset = 1e-3 * np.array([width, height])
        probes = np.array([[inset[0], inset[1]], [width - inset[0], inset[1]],
                           [width - inset[0], height - inset[1]],
                           [inset[0], height - inset[1]], [width / 2, height / 2]])
        if area.covers(probes).all():
            return True
    if index != 0 or len(found) < 2:
        return False
    others = np.concatenate([line for other in found[1:] for line in other.lines])
    low, high = _bounds(item.lines)
    return bool(area.contains(others, 1e-6 * (high - low).max()).all())


def _first_extent(shapes, canvas):
    """The drawing's extent from its shapes' boxes, cut to the canvas."""
    boxes = np.array([box for box in (s.outline.bbox() for s in shapes) if box])
    if not np.isfinite(boxes).all() or not len(boxes):
        return 1.0  # nothing to measure: the lines will say what is wrong
    low, high = boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)
    if canvas is not None:
        low, high = np.maximum(low, 0), np.minimum(high, canvas)
    extent = (high - low).max()
    return extent if extent > 0 else (boxes[:, 2:] - boxes[:, :2]).max()


def _cut(found, tolerance):
    """[(item, piece)] of every line cut to its shape's clip regions, and
    whether anything was cut off."""
    pieces, clipped = [], False
    for item in found:
        for line in item.lines:
            kept, cut = clip.cut(line, item.shape.clips, tolerance)
            clipped |= cut
            pieces += [(item, piece) for piece in kept]
    return pieces, clipped


def counted(number, noun, plural=None):
    """'1 file', '2 files'."""
    return f'{number} {noun if number == 1 else plural or noun + "s"}'


def _pieces(path, document, tolerance):
    """The lines that show, cut, flattened to `tolerance` units of the frame:
    ([(_Lines, piece)], clipped, shapes with no line, backgrounds). Flattened
    again when cutting shrank the drawing, as the frame then shrinks too."""
    extent = _first_extent(document.shapes, document.canvas)
    for _ in range(FLATTEN_PASSES):
        found = _outlines(path, document.shapes, tolerance * extent / SIDE)
        empty = len(document.shapes) - len(found)
        backgrounds = [i for i in range(len(found))
                       if _is_background(i, found, document.canvas)]
        found = [item for i, item in enumerate(found) if i not in backgrounds]
        pieces, clipped = _cut(found, 1e-9 * max(extent, 1e-300))
        cut_extent = _extent([piece for _, piece in pieces]) if pieces else 0
        if cut_extent >= extent / 2 or cut_extent == 0:
            break
        extent = cut_extent
    return pieces, clipped, empty, len(backgrounds)


def _dots(drawing, pieces):
    """Adds the pieces to the drawing; those shorter than a unit of the frame
    are dots, kept as a point where they show."""
    if not pieces:
        return
    unit = max(_extent([piece for _, piece in pieces]), 1e-300) / SIDE
    for item, piece in pieces:
        if _extent([piece]) >= unit:
            drawing.lines.append(piece)
        elif item.filled or item.shape.round_caps:
            drawing.lines.append(piece.mean(axis=0, keepdims=True))
            drawing.dots_drawn += 1
        else:
            drawing.dots_dropped += 1


def svg_drawing(path, tolerance=0.5):
    """The SvgDrawing of an SVG file; curves are flattened to within
    `tolerance` units of the 255-unit frame. SketchDataError when it draws
    nothing a sketch can hold, saying why."""
    document = read_document(path)
    drawing = SvgDrawing([], notes=document.notes, broken=document.broken)
    pieces, clipped, empty, backgrounds = (
        _pieces(path, document, tolerance) if document.shapes else ([], False, 0, 0))
    drawing.clipped = clipped
    _dots(drawing, pieces)
    if drawing.lines:
        return drawing
    reasons = [
        document.invisible and counted(document.invisible, 'shape') + ' painting nothing '
        '(no visible stroke or fill: none, opacity 0 or stroke-width 0)',
        empty and counted(empty, 'shape') + ' with no line and no area',
        backgrounds and counted(backgrounds, 'background shape') + ' (filling the '
        'canvas, or first and under all the rest), which are not lines',
        clipped and 'everything lies outside the canvas or its clip paths and masks',
        drawing.dots_dropped and counted(drawing.dots_dropped, 'dot')
        + ' with butt caps, which show nothing']
    reasons = '; '.join(reason for reason in reasons if reason)
    raise SketchDataError(f"{path}: no lines drawn{': ' if reasons else ''}{reasons}")


def read_svg(path, tolerance=0.5):
    """Polylines (absolute points, canvas coordinates) of one SVG file, one
    per subpath drawn; a dot is a single point."""
    return svg_drawing(path, tolerance).lines
