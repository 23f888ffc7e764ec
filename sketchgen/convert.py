"""Builds a sketch-rnn .npz data set from SVG files, QuickDraw .ndjson files
and .json lists of sketches.

Every drawing goes through the steps that made QuickDraw's sketch-rnn files:
align to the top-left corner, scale uniformly so the longer side spans 255,
simplify each stroke with Ramer-Douglas-Peucker, round to integers and write
stroke-3 int16 offsets with pen_lifted on each stroke's last point.
"""

import collections
import dataclasses
import json
import os

import numpy as np
from simplification.cutil import simplify_coords
from tqdm import tqdm

from sketchgen import atomic
from sketchgen.drawing import draw_grid
from sketchgen.hparams import DEFAULT_HPARAMS
from sketchgen.loading import SPLITS
from sketchgen.messages import one_line
from sketchgen.safe_npz import NpzReader
from sketchgen.strokes import SketchDataError, lines_to_strokes
from sketchgen.svg_lines import SIDE, SvgDrawing, counted, svg_drawing
from sketchgen.svg_lines import read_svg  # noqa: F401  (the converter reads SVG with it)
SUFFIXES = ('.svg', '.ndjson', '.json')
PREVIEW_SKETCHES = 40


# ---------------------------------------------------------------------------
# QuickDraw .ndjson and .json stroke lists


def _strokes(strokes, name, points_of):
    """Validated polylines from a drawing's strokes, or SketchDataError."""
    if not isinstance(strokes, list) or not strokes:
        raise SketchDataError(f'{name}: a drawing must be a non-empty list '
                              'of strokes')
    lines = []
    for i, stroke in enumerate(strokes):
        try:
            line = np.asarray(points_of(stroke), dtype=np.float64)
        except (ValueError, TypeError, IndexError) as err:
            raise SketchDataError(
                f'{name}: stroke {i} is not a list of numbers: '
                f'{one_line(err)}') from err
        if line.ndim != 2 or line.shape[1] != 2 or not len(line):
            raise SketchDataError(f'{name}: stroke {i} has no [x, y] points')
        lines.append(line)
    return lines


def _quickdraw_points(stroke):
    """[[x...], [y...]] or raw [[x...], [y...], [t...]] -> (k, 2) points."""
    if not isinstance(stroke, list) or len(stroke) not in (2, 3):
        raise ValueError('expected [[x...], [y...]] or [[x...], [y...], '
                         '[t...]]')
    return np.asarray(stroke[:2], dtype=np.float64).T


def read_ndjson(path, recognized=False, countrycodes=()):
    """Yields (name, polylines or SketchDataError) for each QuickDraw drawing
    of `path` that passes the filters, name being 'path:line'."""
    with open(path, encoding='utf-8', errors='replace') as lines:
        for number, text in enumerate(lines, 1):
            name = f'{path}:{number}'
            if not text.strip():
                continue
            try:
                record = json.loads(text)
                if not isinstance(record, dict) or 'drawing' not in record:
                    raise SketchDataError(f'{name}: no "drawing" field')
            except ValueError as err:
                yield name, SketchDataError(
                    f'{name}: not a JSON object: {one_line(err)}')
                continue
            except SketchDataError as err:
                yield name, err
                continue
            if recognized and record.get('recognized') is not True:
                continue
            if countrycodes and record.get('countrycode') not in countrycodes:
                continue
            try:
                yield name, _strokes(record['drawing'], name, _quickdraw_points)
            except SketchDataError as err:
                yield name, err


def read_json(path):
    """Yields (name, polylines or SketchDataError) for each sketch of a .json
    list of sketches (lists of strokes of [x, y] points), name 'path[i]'."""
    try:
        with open(path, encoding='utf-8') as f:
            sketches = json.load(f)
    except (OSError, ValueError) as err:
        yield path, SketchDataError(f'{path}: cannot read JSON: '
                                    f'{one_line(err)}')
        return
    if not isinstance(sketches, list):
        yield path, SketchDataError(f'{path}: not a list of sketches')
        return
    for i, strokes in enumerate(sketches):
        name = f'{path}[{i}]'
        try:
            yield name, _strokes(strokes, name, lambda stroke: stroke)
        except SketchDataError as err:
            yield name, err


# ---------------------------------------------------------------------------
# QuickDraw's processing


def to_stroke3(lines, epsilon=2.0, dot_step=False):
    """Absolute polylines -> int16 stroke-3, processed as QuickDraw's data:
    top-left aligned, longer side scaled to 255, RDP with `epsilon` (0 keeps
    every point), rounded; points repeating the one before are dropped.
    With `dot_step`, a stroke left with one point (a dot) gets a second one
    unit beside it: the smallest mark the data can hold."""
    lines = [np.asarray(line, dtype=np.float64).reshape(-1, 2)
             for line in lines]
    lines = [line for line in lines if len(line)]
    if not lines:
        raise SketchDataError('no strokes')
    points = np.concatenate(lines)
    if not np.isfinite(points).all():
        raise SketchDataError('coordinates are not finite numbers')
    low = points.min(axis=0)
    extent = (points.max(axis=0) - low).max()
    scale = SIDE / extent if extent > 0 else 1.0
    result = []
    for line in lines:
        line = (line - low) * scale
        if epsilon > 0:
            line = np.asarray(simplify_coords(line, epsilon)).reshape(-1, 2)
        line = np.round(line)
        moved = np.any(np.diff(line, axis=0) != 0, axis=1)
        line = line[np.concatenate([[True], moved])]
        if dot_step and len(line) == 1:
            line = np.concatenate([line, line + [1 if line[0, 0] < SIDE else -1, 0]])
        result.append(line)
    return lines_to_strokes(result).astype(np.int16)


# ---------------------------------------------------------------------------
# Inputs


def input_files(paths):
    """The .svg, .ndjson and .json files named or inside the folders named
    (recursively, sorted, so the same inputs give the same order)."""
    files = []
    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            files += sorted(
                os.path.join(folder, name)
                for folder, _, names in os.walk(path) for name in names
                if name.lower().endswith(SUFFIXES) and not name.startswith('.'))
        elif not os.path.exists(path):
            raise SketchDataError(f'{path}: no such file or folder')
        elif not path.lower().endswith(SUFFIXES):
            raise SketchDataError(f'{path}: not a .svg, .ndjson or .json file')
        else:
            files.append(path)
    if not files:
        raise SketchDataError(
            f"{' '.join(map(os.fspath, paths))}: no .svg, .ndjson or .json files")
    return files


def drawings(path, options):
    """Yields (name, polylines or SketchDataError) for the drawings of one file."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix == '.svg':
        try:
            yield path, svg_drawing(path, options.tolerance)
        except SketchDataError as err:
            yield path, err
    elif suffix == '.ndjson':
        try:
            yield from read_ndjson(path, options.recognized, options.countrycodes)
        except OSError as err:  # unreadable: skipped like any bad input
            yield path, SketchDataError(f'{path}: cannot read it: {one_line(err)}')
    else:
        yield from read_json(path)


@dataclasses.dataclass
class Options:
    """How drawings become sketches (the command's flags)."""
    epsilon: float = 2.0
    max_len: int = 250
    tolerance: float = 0.5
    recognized: bool = False
    countrycodes: tuple = ()
    max_sketches: int = None
    strict: bool = False


@dataclasses.dataclass
class Report:
    """What a conversion read, kept, dropped and skipped; `named` has one
    line per input skipped, dropped or not drawn as written."""
    files: int = 0
    sketches: list = dataclasses.field(default_factory=list)
    dropped: collections.Counter = dataclasses.field(
        default_factory=collections.Counter)
    skipped: int = 0
    skip_reasons: list = dataclasses.field(default_factory=list)
    named: list = dataclasses.field(default_factory=list)
    svg: collections.Counter = dataclasses.field(
        default_factory=collections.Counter)

    def skip(self, err, strict):
        if strict:
            raise err
        self.skipped += 1
        self.skip_reasons.append(str(err))
        self.named.append(f'skipped {err}')

    def drop(self, name, reason):
        self.dropped[reason] += 1
        self.named.append(f'dropped {name}: {reason}')


def _svg_lines(report, name, drawing, strict):
    """The lines of an SvgDrawing, its events counted and its notes named;
    SketchDataError for broken data with `strict`."""
    if drawing.broken and strict:
        raise SketchDataError(f'{name}: {drawing.broken[0]} (--strict refuses '
                              'broken data)')
    report.named += [f'warning {name}: {note}'
                     for note in drawing.broken + drawing.notes]
    report.svg.update({'clipped': drawing.clipped, 'broken': bool(drawing.broken),
                       'dots drawn': drawing.dots_drawn,
                       'dots dropped': drawing.dots_dropped})
    return drawing.lines


def _add(report, name, lines, options):
    """Processes one drawing into report: kept, dropped or skipped."""
    if isinstance(lines, SketchDataError):
        return report.skip(lines, options.strict)
    is_svg = isinstance(lines, SvgDrawing)
    if is_svg:
        lines = _svg_lines(report, name, lines, options.strict)
    try:
        sketch = to_stroke3(lines, options.epsilon, dot_step=is_svg)
    except SketchDataError as err:
        return report.skip(SketchDataError(f'{name}: {err}'), options.strict)
    if len(sketch) > options.max_len:
        report.drop(name, f'longer than {options.max_len} points')
    elif len(sketch) < 2:
        report.drop(name, 'fewer than 2 points')
    elif not (sketch[:-1, 2] == 0).any():
        report.drop(name, 'nothing drawn (points without lines between them)')
    else:
        report.sketches.append(sketch)


def read_sketches(paths, options):
    """Report holding the stroke-3 sketches of every drawing in `paths`, in
    file order, up to options.max_sketches. A progress bar shows on a
    terminal; bad drawings are skipped (SketchDataError with strict)."""
    files = input_files(paths)
    report = Report()
    with tqdm(files, unit='file', disable=None) as bar:
        for path in bar:
            report.files += 1
            for count, (name, lines) in enumerate(drawings(path, options), 1):
                _add(report, name, lines, options)
                if len(report.sketches) == options.max_sketches:
                    bar.set_postfix(sketches=len(report.sketches))
                    return report
                if count % 1000 == 0:  # a big ndjson file is one long step
                    bar.set_postfix(sketches=len(report.sketches))
            bar.set_postfix(sketches=len(report.sketches), refresh=False)
    return report


# ---------------------------------------------------------------------------
# Splits, output, preview


def check_split(split):
    """--split as ('counts', ints) or ('fractions', floats), or
    SketchDataError. Whole numbers summing to more than 1 are counts."""
    if len(split) != 3 or any(value < 0 for value in split):
        raise SketchDataError(
            f'--split {split}: give three non-negative numbers for train, '
            'valid and test (fractions summing to 1, or counts)')
    if all(float(value).is_integer() for value in split) and sum(split) > 1:
        return 'counts', [int(value) for value in split]
    if abs(sum(split) - 1) > 1e-6:
        raise SketchDataError(
            f'--split {split}: fractions must sum to 1 (they sum to '
            f'{sum(split):g})')
    return 'fractions', [float(value) for value in split]


def split_sizes(count, split):
    """Sketches in train, valid and test out of `count`; each split with a
    positive fraction gets at least one while there are enough."""
    kind, values = check_split(split)
    if kind == 'counts':
        if sum(values) > count:
            raise SketchDataError(
                f'--split asks for {sum(values)} sketches; the inputs gave '
                f'{count}')
        return values
    sizes = [0] + [max(round(count * f), int(f > 0)) for f in values[1:]]
    sizes[0] = count - sum(sizes[1:])
    if sizes[0] < 0 or (values[0] > 0 and sizes[0] == 0):
        raise SketchDataError(
            f'{count} sketches are too few for --split {split}')
    return sizes


def split_sketches(sketches, split, seed):
    """{'train', 'valid', 'test'} -> lists of sketches, shuffled with `seed`
    (the same inputs and seed give the same splits)."""
    sizes = split_sizes(len(sketches), split)
    order = np.random.default_rng(seed).permutation(len(sketches))
    bounds = np.cumsum([0] + sizes)
    return {name: [sketches[i] for i in order[start:end]]
            for name, start, end in zip(SPLITS, bounds, bounds[1:])}


def write_npz(path, splits):
    """Writes the splits as QuickDraw's files are: object arrays of int16
    (N, 3) arrays. Written aside and moved in place, so a failure leaves no
    half-written file."""
    arrays = {}
    for name, sketches in splits.items():
        arrays[name] = np.empty(len(sketches), dtype=object)
        for i, sketch in enumerate(sketches):  # not np.array: equal lengths
            arrays[name][i] = np.asarray(sketch, dtype=np.int16)  # would stack
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic.replacing(path) as partial, open(partial, 'wb') as f:
        np.savez_compressed(f, **arrays)


def write_preview(npz_path, svg_path, count=PREVIEW_SKETCHES):
    """A grid of the first sketches of the written file, as the model sees
    them (train first, then valid and test)."""
    with NpzReader(npz_path) as data:
        sketches = [s for split in SPLITS for s in data[split]][:count]
    draw_grid(sketches, ncols=10, svg_filename=svg_path, factor=5.0)


def summary(path, splits, report):
    """One line: sketches per split, points and strokes per sketch, what
    happened to SVG files, drops and skips."""
    sketches = [s for split in splits.values() for s in split]
    points = [len(s) for s in sketches]
    strokes = [int(np.asarray(s)[:, 2].sum()) for s in sketches]
    line = (f'{path}: ' + ', '.join(f'{name} {len(s)}'
                                    for name, s in splits.items())
            + f' sketches from {report.files} files; points per sketch: '
            f'median {np.median(points):g}, min {min(points)}, max {max(points)}; '
            f'strokes per sketch: median {np.median(strokes):g}, max {max(strokes)}')
    return '; '.join([line] + _svg_events(report.svg) + _losses(report))


def _svg_events(events):
    """'SVG: 2 files clipped, ...' where anything happened to SVG files."""
    said = [f'{counted(events[key], noun)} {what}' for key, noun, what in (
        ('clipped', 'file', 'clipped'),
        ('broken', 'file', 'with broken data (drawn up to the break)'),
        ('dots drawn', 'dot', 'drawn as 1-unit marks'),
        ('dots dropped', 'dot', 'with butt caps dropped')) if events[key]]
    return [f"SVG: {', '.join(said)}"] if said else []


def _losses(report):
    """'dropped N (reasons)' and 'skipped N bad inputs', where there are any."""
    losses = []
    dropped = sum(report.dropped.values())
    if dropped:
        losses.append(f'dropped {dropped} (' + ', '.join(
            f'{n} {reason}' for reason, n in report.dropped.items()) + ')')
    if report.skipped:
        losses.append(f'skipped {report.skipped} bad inputs (first: '
                      f'{report.skip_reasons[0]})')
    return losses


def small_splits(splits, batch_size=DEFAULT_HPARAMS['batch_size']):
    """A warning for each split too small for one batch of the default size."""
    return [f"warning: the '{name}' split holds {len(sketches)} sketches, fewer "
            f'than the default batch_size {batch_size}: training refuses it '
            '(give more drawings, or train with a smaller --hparams batch_size)'
            for name, sketches in splits.items() if len(sketches) < batch_size]


def reading_options(options, split):
    """The options to read with: a --split of counts reads only as many
    sketches as it needs. SketchDataError for a bad --split."""
    kind, values = check_split(split)
    if kind == 'counts' and options.max_sketches is None:
        return dataclasses.replace(options, max_sketches=sum(values))
    return options


def write_dataset(report, out, split=(0.9, 0.05, 0.05), seed=0, preview=None,
                  named_path=None):
    """Writes the sketches of `report` to `out` (and the preview SVG);
    returns the summary line and the warnings about small splits. With no
    sketches, SketchDataError; the inputs are then named in `named_path`."""
    if not report.sketches:
        losses = _losses(report) or ['no drawings passed the filters']
        if report.named and named_path:
            write_named(named_path, report.named)
            losses.append(f'each input named with its reason in {named_path}')
        raise SketchDataError(f"no sketches to write: {'; '.join(losses)}")
    splits = split_sketches(report.sketches, split, seed)
    write_npz(out, splits)
    if preview:
        write_preview(out, preview)
    return summary(out, splits, report), small_splits(splits)


def write_named(path, named):
    """The report of every input skipped, dropped or not drawn as written,
    one line each, written aside and moved in place."""
    with atomic.replacing(path) as partial, open(partial, 'w', encoding='utf-8') as f:
        f.write(''.join(f'{line}\n' for line in named))
