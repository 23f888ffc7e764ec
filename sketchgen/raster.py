"""Stroke-3 sketches as Pillow images: TensorBoard image panels and GIF frames."""
import numpy as np
from PIL import Image, ImageDraw

from sketchgen import atomic
from sketchgen.strokes import pen_runs


def pen_points(strokes):
    """Stroke-3 -> (the absolute point of each row, (min_xy, max_xy) of the
    pen's path, which starts at (0, 0))."""
    strokes = np.asarray(strokes, dtype=np.float64)
    points = np.concatenate([np.zeros((1, 2)), np.cumsum(strokes[:, 0:2], axis=0)])
    return points[1:], (points.min(axis=0), points.max(axis=0))


def render(strokes, size=256, margin=8, line_width=2, upto=None, colors=None):
    """A grayscale image of a stroke-3 sketch, scaled to fit, centred; an RGB
    one with `colors`, a colour for each row (see sketchgen.strokes.pen_runs).
    size: pixels of a square, or (width, height).

    upto: draw only the first `upto` points, in the frame of the whole
    sketch, so that successive calls make the frames of an animation."""
    points, (low, high) = pen_points(strokes)
    width, height = (size, size) if np.isscalar(size) else size
    frame = np.array([width, height]) - 2 * margin
    scale = float((frame / np.maximum(high - low, 1e-6)).min())
    offset = margin + (frame - (high - low) * scale) / 2 - low * scale
    image = Image.new('L', (width, height), 255) if colors is None else \
        Image.new('RGB', (width, height), 'white')
    draw = ImageDraw.Draw(image)
    upto = len(strokes) if upto is None else upto
    for first, stop, color in pen_runs(strokes, colors):
        if first >= upto:
            break
        line = points[first:min(stop, upto)]
        if np.ptp(line, axis=0).any():  # a line of no length draws nothing, as in the SVGs
            draw.line([tuple(p) for p in line * scale + offset], fill=color or 0,
                      width=line_width, joint='curve')
    return image


def save_gif(strokes, path, size=256, max_frames=60, frame_ms=40, hold_ms=1500, line_width=2,
             colors=None):
    """Writes a looping GIF of a stroke-3 sketch drawing itself point by point:
    a blank frame, then up to `max_frames` frames that each add points in
    drawing order, the last held for `hold_ms`.  The longer side of the
    sketch's box is `size` pixels; colors: render's.  Returns `path`."""
    _, (low, high) = pen_points(strokes)
    extent = np.maximum(high - low, 1e-6)
    size = np.maximum(np.round(size * extent / extent.max()), 32).astype(int)
    counts = np.unique(np.linspace(0, len(strokes), min(max_frames, len(strokes)) + 1).round())
    frames = [render(strokes, size, line_width=line_width, upto=int(n), colors=colors)
              for n in counts]
    durations = [frame_ms] * (len(frames) - 1) + [hold_ms]
    with atomic.replacing(path) as partial:  # a reader never sees half a GIF
        frames[0].save(partial, format='GIF', save_all=True, append_images=frames[1:],
                       duration=durations, loop=0, optimize=True)
    return path
