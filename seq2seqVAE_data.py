"""Build a sketch-rnn .npz data set from SVG files, QuickDraw .ndjson files or
.json lists of sketches (files or folders, mixed freely).

    python3 seq2seqVAE_data.py my_svgs/ --out datasets/mine.npz
    python3 seq2seqVAE_data.py full_raw_cat.ndjson --out datasets/cat_raw.npz --max_sketches 75000
    python3 seq2seqVAE_train.py --data_set mine
"""
import os
import sys

from sketchgen import cli, convert
from sketchgen.errors import SketchDataError, UsageError
from sketchgen.messages import one_line

DESCRIPTION = __doc__.split('\n\n')[0]
EPILOG = """Each SVG file is one sketch and each of its subpaths one stroke;
each .ndjson line is one QuickDraw drawing (raw or simplified); a .json file
holds a list of sketches, each a list of strokes of [x, y] points. Drawings
are processed as QuickDraw's sketch-rnn files were: aligned to the top-left,
scaled so the longer side spans 255, simplified with Ramer-Douglas-Peucker,
stored as int16 stroke-3 offsets. Every input skipped, dropped or not drawn
as written is named with the reason on stderr, or in OUT_report.txt beside
the output when there are more than 20."""
SHOWN = 20  # inputs named on the console; more go to the report file
FIRST = 5  # of those, how many the console still shows


def parse_args(argv=None):
    p = cli.ArgumentParser(description=DESCRIPTION, epilog=EPILOG)
    p.add_argument('inputs', nargs='+', help='.svg, .ndjson, .json files or folders of them')
    p.add_argument('--out', required=True, help='the .npz file to write')
    p.add_argument('--epsilon', type=float, default=2.0,
                   help='Ramer-Douglas-Peucker tolerance in the 255-unit frame; 0 keeps every '
                        'point (default: 2.0)')
    p.add_argument('--tolerance', type=float, default=0.5,
                   help='how far flattened SVG curves may stray, in the 255-unit frame '
                        '(default: 0.5)')
    p.add_argument('--max_len', type=int, default=250,
                   help='drop sketches with more points than this (default: 250)')
    p.add_argument('--split', type=float, nargs=3, default=[0.9, 0.05, 0.05],
                   metavar=('TRAIN', 'VALID', 'TEST'),
                   help='fractions summing to 1, or counts of sketches (default: 0.9 0.05 0.05)')
    p.add_argument('--seed', type=int, default=0, help='seed of the shuffle before splitting (default: 0)')
    p.add_argument('--max_sketches', type=int, default=None,
                   help='stop after this many sketches (default: all; with counts: their sum)')
    p.add_argument('--recognized', action='store_true',
                   help='ndjson: keep only drawings the game recognised')
    p.add_argument('--countrycode', nargs='+', default=(),
                   help='ndjson: keep only drawings from these countries, e.g. US GB '
                        '(default: all)')
    p.add_argument('--preview', metavar='SVG', help='also draw the first sketches of the written file')
    p.add_argument('--strict', action='store_true', help='stop at the first bad input')
    p.add_argument('--force', action='store_true', help='overwrite --out and --preview')
    return p.parse_args(argv)


@cli.command
def main(argv=None):
    args = parse_args(argv)
    if not args.out.endswith('.npz'):
        raise UsageError(f'--out {args.out}: the file name must end with .npz')
    named_path = report_path(args.out)
    for path in (args.out, args.preview, named_path):
        if path and os.path.exists(path) and not args.force:
            raise UsageError(f'{path} exists; pass --force to overwrite it')
    if args.max_len < 2 or (args.max_sketches is not None and args.max_sketches < 1):
        raise UsageError('--max_len must be at least 2 and --max_sketches at least 1')
    if args.epsilon < 0 or args.tolerance <= 0:
        raise UsageError('--epsilon must be at least 0 and --tolerance more than 0')
    options = convert.Options(
        epsilon=args.epsilon, max_len=args.max_len, tolerance=args.tolerance,
        recognized=args.recognized, countrycodes=tuple(args.countrycode),
        max_sketches=args.max_sketches, strict=args.strict)
    try:
        report = convert.read_sketches(args.inputs, convert.reading_options(options, args.split))
        if report.sketches:
            name_inputs(report.named, named_path)
        line, warnings = convert.write_dataset(
            report, args.out, args.split, args.seed, args.preview, named_path)
    except OSError as err:  # the whole message on one line: a wrapped error may span several
        raise SketchDataError(one_line(err)) from None
    for warning in warnings:
        print(warning, file=sys.stderr)
    print(line)


def report_path(out):
    """OUT.npz -> OUT_report.txt, where the inputs are named when many."""
    return out[:-len('.npz')] + '_report.txt'


def name_inputs(named, path):
    """Each input skipped, dropped or not drawn as written, on stderr; in
    the report file `path` when there are more than SHOWN (the console
    then shows the FIRST)."""
    if len(named) > SHOWN:
        convert.write_named(path, named)
        named = named[:FIRST] + [f'... and {len(named) - FIRST} more: all {len(named)} '
                                 f'named with their reasons in {path}']
    for line in named:
        print(line, file=sys.stderr)


if __name__ == '__main__':
    sys.exit(main())
