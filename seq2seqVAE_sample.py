"""Draws sketches from a trained sketch-rnn model into one SVG file.

    python3 seq2seqVAE_sample.py MODEL [--mode sample|reconstruct|interpolate|complete]
    python3 seq2seqVAE_sample.py --pretrained cat --num 10 --out cat.svg

MODEL is an experiment folder (seq2seqVAE_train.py) or a Magenta checkpoint
folder; --pretrained NAME downloads one of Magenta's pretrained decoder-only
models once (decoder-only: sample and complete modes only).  --animate draws stroke by
stroke: an animated SVG, or a GIF when the file ends in .gif.
Modes, as in Magenta's sketch-rnn notebook:
  sample       --num sketches from random z (decoder-only models: no z),
               drawn together by the batched sampler;
  reconstruct  encode sketches (test set --index, or --sketch files) and
               decode --num sketches from each; the first row shows the inputs;
  interpolate  decode --steps points of the slerp between two encodings;
  complete     finish the --sketch someone began, --num times: the sketch in
               red, the model's endings in black (--animate: the sketch,
               then the model's strokes).
Each --temperature is one row of the grid.  Sketches are drawn in the
model's normalised units; --sketch files hold raw stroke-3 offsets (as the
.npz data sets do) and are divided by the data's normalizing scale factor.
"""
import argparse
import os
import sys

import numpy as np

from sketchgen import cli
from sketchgen.drawing import (draw_grid, draw_grid_animated, draw_grid_gif, draw_strokes,
                               draw_strokes_animated, draw_strokes_gif)
from sketchgen.errors import SketchDataError, UsageError
from sketchgen.loading import load_dataset, load_sketch
from sketchgen.strokes import slerp, to_normal_strokes

PROG = os.path.basename(sys.argv[0])
MODES = ('sample', 'reconstruct', 'interpolate', 'complete')
BLANK = np.zeros((1, 3))  # an empty grid cell
PREFIX_COLOR, MODEL_COLOR = '#d62728', 'black'  # complete: the begun sketch, the model's ending


def temperature(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'temperature {text!r} is not a number') from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f'temperature must be > 0, got {text}')
    return value


def parse_args(argv):
    p = cli.ArgumentParser(prog=PROG, description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('model', metavar='MODEL', nargs='?',
                   help='experiment folder or Magenta checkpoint folder')
    p.add_argument('--pretrained', metavar='NAME',
                   help="instead of MODEL: Magenta's pretrained model NAME (cat, ...; the list: "
                        'sketchgen/pretrained_models.txt), downloaded once')
    p.add_argument('--mode', choices=MODES, default='sample')
    p.add_argument('--num', type=int, default=None,
                   help='sketches per row (sample: 10; complete: 5) or per input '
                        '(reconstruct: 1)')
    p.add_argument('--temperature', type=temperature, nargs='+', default=[1.0],
                   help='one or more temperatures, one grid row each')
    p.add_argument('--greedy', action='store_true',
                   help='most likely mixture, mean offset and pen state at every step')
    p.add_argument('--seed', type=int, default=None)
    p.add_argument('--checkpoint', default=None,
                   help="'best' (default), 'latest' or a .weights.h5 file")
    p.add_argument('--out', default=None, help='SVG file to write (default: MODE.svg)')
    p.add_argument('--animate', nargs='?', const=True, default=None, metavar='FILE',
                   help='draw the strokes one after another: into FILE if given (a GIF for '
                        '.gif, else an animated SVG; --out is then drawn too only if given), '
                        'else into --out')
    p.add_argument('--data_dir', default=None,
                   help='folder of the data set, for the test set and its scale factor '
                        '(default: the one in MODEL/logs/flags.json)')
    p.add_argument('--index', type=int, nargs='+', default=None,
                   help='test-set sketches, in the data loader\'s order (by length); '
                        'default: 0 (reconstruct) or 0 1 (interpolate)')
    p.add_argument('--sketch', nargs='+', default=None, metavar='FILE',
                   help='stroke-3 sketches instead of --index: FILE.npy, FILE.json, '
                        'FILE.npz[:KEY[:INDEX]] (default: its first array) or FILE.svg; '
                        'complete: the one sketch to finish')
    p.add_argument('--steps', type=int, default=10, help='interpolation steps')
    args = p.parse_args(argv)
    if (args.model is None) == (args.pretrained is None):
        p.error('give either MODEL or --pretrained NAME')
    if args.pretrained and args.mode not in ('sample', 'complete'):
        p.error('pretrained models are decoder-only (no encoder): only --mode sample or complete')
    if args.mode == 'complete' and len(args.sketch or []) != 1:
        p.error('complete finishes one sketch: give --sketch FILE')
    if args.num is not None and args.num < 1:
        p.error(f'--num must be at least 1, got {args.num}')
    if args.steps < 2:
        p.error(f'--steps must be at least 2, got {args.steps}')
    given = args.sketch or args.index
    if args.mode == 'interpolate' and given and len(given) != 2:
        p.error(f'interpolate needs two sketches, got {len(given)}: '
                'give --index I J or --sketch A B')
    return args


def experiment(args):
    """MODEL's Experiment, or None for a Magenta checkpoint folder."""
    from sketchgen.experiment import Experiment, is_experiment
    return Experiment(args.model) if is_experiment(args.model) else None


def load_test_set(args, model):
    recorded = experiment(args)
    data_dir = args.data_dir or (recorded.read_settings().data_dir if recorded else None)
    if not data_dir:
        raise UsageError(f'{args.model} records no data folder (for the test set and its '
                         'normalizing scale factor): pass --data_dir')
    hps = model.hps.copy()
    hps.batch_size = 1  # only the sketches are needed
    return load_dataset(data_dir, hps)[2]


def sketch_scale(args, model):
    """The data's normalizing scale factor, which --sketch files are divided by."""
    if args.pretrained:
        return model.normalizing_scale_factor
    recorded = experiment(args)
    scale = recorded.scale_factor if recorded else None
    if scale is None:  # Magenta folders do not store it: recompute it from the data
        scale = load_test_set(args, model).scale_factor
    return scale


def input_sketches(args, model):
    """[(name, sketch)] to encode, normalised as the model reads them."""
    if args.sketch:
        scale = sketch_scale(args, model)
        for _, sketch in args.sketches:
            sketch[:, 0:2] /= scale
        return args.sketches
    test_set = load_test_set(args, model)
    indices = args.index or ([0] if args.mode == 'reconstruct' else [0, 1])
    for i in indices:
        if not 0 <= i < len(test_set.strokes):
            raise UsageError(f'--index {i}: the test set has {len(test_set.strokes)} sketches')
    return [(f'test sketch {i}', test_set.strokes[i]) for i in indices]


def sample_rows(args, model):
    """One row of sketches per temperature, all from the same z and seed."""
    from sketchgen.sampling import sample_batch
    num = args.num or 10
    rng = np.random.default_rng(args.seed)
    z = rng.standard_normal((num, model.hps.z_size))
    seed = int(rng.integers(2 ** 31))
    return [[to_normal_strokes(s) for s in sample_batch(
                model, num, model.hps.max_seq_len, t, args.greedy, z, seed)]
            for t in args.temperature]


def decode_rows(args, model, named_inputs):
    """A first row with the inputs, then one row of decodings per temperature."""
    from sketchgen.sampling import decode, encode
    zs = []
    for name, sketch in named_inputs:
        try:
            zs.append(encode(model, sketch))
        except SketchDataError as err:  # longer than the model's max_seq_len
            raise SketchDataError(f'{name}: {err}') from None
    inputs = [sketch for _, sketch in named_inputs]
    if args.mode == 'interpolate':
        per_z = 1
        zs = [slerp(zs[0][0], zs[1][0], t)[None] for t in np.linspace(0, 1, args.steps)]
        header = [inputs[0]] + [BLANK] * (args.steps - 2) + [inputs[1]]
    else:
        per_z = args.num or 1
        header = [cell for sketch in inputs for cell in [sketch] + [BLANK] * (per_z - 1)]
    rng = np.random.default_rng(args.seed)
    rows = [[decode(model, z, t, args.greedy, rng=rng) for z in zs for _ in range(per_z)]
            for t in args.temperature]
    return [header] + rows


def complete_rows(args, model):
    """One row of --num endings of the --sketch per temperature, all from the
    same z and seed, and each cell's row colours (the sketch's, the model's)."""
    from sketchgen.sampling import complete
    ((_, sketch),) = input_sketches(args, model)
    num = args.num or 5
    rng = np.random.default_rng(args.seed)
    z = rng.standard_normal((num, model.hps.z_size))
    seed = int(rng.integers(2 ** 31))
    rows = [[to_normal_strokes(s) for s in complete(
                model, sketch, num, model.hps.max_seq_len, t, args.greedy, z, seed)]
            for t in args.temperature]
    colors = [[[PREFIX_COLOR] * len(sketch) + [MODEL_COLOR] * (len(cell) - len(sketch))
               for cell in row] for row in rows]
    return rows, colors


def draw(cells, ncols, out, animate, row_colors=None):
    """Writes the cells (a grid unless one) to `out`: an SVG, animated or not,
    or a GIF drawing itself when `out` ends in .gif; row_colors: each cell's
    (sketchgen.drawing)."""
    if out.lower().endswith('.gif'):
        if len(cells) == 1:
            draw_strokes_gif(cells[0], out, colors=row_colors and row_colors[0])
        else:
            draw_grid_gif(cells, out, ncols=ncols, row_colors=row_colors)
    elif len(cells) == 1:
        (draw_strokes_animated if animate else draw_strokes)(
            cells[0], svg_filename=out, row_colors=row_colors and row_colors[0])
    else:
        draw_many = draw_grid_animated if animate else draw_grid
        draw_many(cells, ncols=ncols, svg_filename=out, row_colors=row_colors)
    return out


def draw_all(rows, args, row_colors=None):
    """The pictures the flags ask for -> the files written; row_colors: each
    cell's, row by row as `rows`."""
    cells = [sketch for row in rows for sketch in row]
    if row_colors is not None:
        row_colors = [colors for row in row_colors for colors in row]
    ncols = len(rows[0])
    animation = args.animate if isinstance(args.animate, str) else None
    written = []
    if animation is None or args.out:
        written.append(draw(cells, ncols, args.out or f'{args.mode}.svg',
                            args.animate is True, row_colors))
    if animation:
        written.append(draw(cells, ncols, animation, True, row_colors))
    return written


def load(args):
    """The model the arguments name (TensorFlow starts here, once the
    arguments are checked)."""
    if args.pretrained:
        from sketchgen.pretrained import load_pretrained
        return load_pretrained(args.pretrained)
    from sketchgen.checkpoints import load_model
    return load_model(args.model, args.checkpoint)


@cli.command
def main(argv=None):
    args = parse_args(argv)
    # A bad sketch file fails before TensorFlow loads.
    args.sketches = [(spec, load_sketch(spec)) for spec in args.sketch or []]
    model = load(args)
    if args.mode in ('reconstruct', 'interpolate') and not model.hps.conditional:
        raise UsageError(f'{args.model} is a decoder-only model (conditional=False): it has no '
                         f'encoder to {args.mode} with; use --mode sample or complete')
    colors = None
    if args.mode == 'sample':
        rows = sample_rows(args, model)
    elif args.mode == 'complete':
        rows, colors = complete_rows(args, model)
    else:
        rows = decode_rows(args, model, input_sketches(args, model))
    print(f"wrote {', '.join(draw_all(rows, args, colors))}")


if __name__ == '__main__':
    sys.exit(main())
