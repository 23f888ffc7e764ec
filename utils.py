"""Sketch data: stroke-3/stroke-5 helpers, the batch loader and SVG drawing.

The public entry point (`import utils`); the code lives in sketchgen/:
strokes.py (the formats and their helpers), batches.py (DataLoader),
loading.py (load_dataset, load_sketch) and drawing.py (SVG, GIF, grids).
Behaviour follows Magenta's sketch_rnn utils.py and load_dataset.
"""
from sketchgen.batches import DataLoader
from sketchgen.drawing import (draw_grid, draw_grid_animated, draw_grid_gif, draw_strokes,
                               draw_strokes_animated, draw_strokes_gif, grid_strokes,
                               make_grid_svg)
from sketchgen.loading import SPLITS, load_dataset, load_sketch
from sketchgen.strokes import (SketchDataError, augment_strokes, clean_strokes, get_bounds,
                               get_max_len, lerp, lines_to_strokes, scale_bound, slerp,
                               strokes_to_lines, to_big_strokes, to_normal_strokes)

__all__ = [
    'DataLoader', 'SPLITS', 'SketchDataError', 'augment_strokes', 'clean_strokes',
    'draw_grid', 'draw_grid_animated', 'draw_grid_gif', 'draw_strokes',
    'draw_strokes_animated', 'draw_strokes_gif', 'get_bounds', 'get_max_len',
    'grid_strokes', 'lerp', 'lines_to_strokes', 'load_dataset', 'load_sketch',
    'make_grid_svg', 'scale_bound', 'slerp', 'strokes_to_lines', 'to_big_strokes',
    'to_normal_strokes',
]
