"""Stroke-3 sketches as Pillow images: TensorBoard image panels and GIF frames."""
import numpy as np
from PIL import Image, ImageDraw

from sketchgen import atomic


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
        points = line[:remaining]
        remaining -= len(line)
        if np.ptp(points, axis=0).any():  # a line of no length draws nothing, as in the SVGs
            draw.line([tuple(p) for p in points * scale + offset], fill=0, width=line_width,
                      joint='curve')
    return image


def save_gif(strokes, path, size=256, max_frames=60, frame_ms=40, hold_ms=1500, line_width=2):
    """Writes a looping GIF of a stroke-3 sketch drawing itself point by point:
    a blank frame, then up to `max_frames` frames that each add points in
    drawing order, the last held for `hold_ms`.  The longer side of the
    sketch's box is `size` pixels.  Returns `path`."""
    _, (low, high) = pen_lines(strokes)
    extent = np.maximum(high - low, 1e-6)
    size = np.maximum(np.round(size * extent / extent.max()), 32).astype(int)
    counts = np.unique(np.linspace(0, len(strokes), min(max_frames, len(strokes)) + 1).round())
    frames = [render(strokes, size, line_width=line_width, upto=int(n)) for n in counts]
    durations = [frame_ms] * (len(frames) - 1) + [hold_ms]
    with atomic.replacing(path) as partial:  # a reader never sees half a GIF
        frames[0].save(partial, format='GIF', save_all=True, append_images=frames[1:],
                       duration=durations, loop=0, optimize=True)
    return path
