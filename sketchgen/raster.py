"""Stroke-3 sketches as Pillow images: TensorBoard image panels and GIF frames."""
import numpy as np
from PIL import Image, ImageDraw


def pen_lines(strokes):
    """Stroke-3 -> (pen-down polylines of absolute points, (min_xy, max_xy)).

    The pen starts at (0, 0); a point after a pen lift starts a new line."""
    strokes = np.asarray(strokes, dtype=np.float64)
    points = np.concatenate([np.zeros((1, 2)), np.cumsum(strokes[:, 0:2], axis=0)])
    lifted_before = np.concatenate([[True], strokes[:-1, 2] == 1])
    starts = np.flatnonzero(lifted_before)
    lines = [points[1:][a:b] for a, b in zip(starts, list(starts[1:]) + [len(strokes)])]
    return lines, (points.min(axis=0), points.max(axis=0))


def render(strokes, size=256, margin=8, line_width=2, upto=None):
    """A grayscale image of a stroke-3 sketch, scaled to fit, centred.
    size: pixels of a square, or (width, height).

    upto: draw only the first `upto` points, in the frame of the whole
    sketch, so that successive calls make the frames of an animation."""
    lines, (low, high) = pen_lines(strokes)
    width, height = (size, size) if np.isscalar(size) else size
    frame = np.array([width, height]) - 2 * margin
    scale = float((frame / np.maximum(high - low, 1e-6)).min())
    offset = margin + (frame - (high - low) * scale) / 2 - low * scale
    image = Image.new('L', (width, height), 255)
    draw = ImageDraw.Draw(image)
    remaining = len(strokes) if upto is None else upto
    for line in lines:
        if remaining <= 0:
            break
        xy = [tuple(p) for p in line[:remaining] * scale + offset]
        remaining -= len(line)
        if len(xy) > 1:
            draw.line(xy, fill=0, width=line_width, joint='curve')
        else:
            draw.point(xy, fill=0)
    return image
