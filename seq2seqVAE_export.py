"""Exports a sketch-rnn decoder to the JSON model format of @magenta/sketch,
the npm library behind Magenta's and ml5's sketch-rnn demos, and imports
such models (Magenta's pretrained ones among them) as experiment folders.

The format (sketchgen/sketch_js.py) holds int16-quantised weights of a
tf.basicLSTMCell decoder with 20 mixtures, so only plain-LSTM decoders with
at most 20 mixtures export; fewer are padded to 20 with mixtures of weight
at most info.padded_weight_bound (printed).  A conditional model is
exported at one z: z's input term is folded into the bias, and the
decoder's initial state tanh(W z + b) goes into info.initial_state for
pages to start from (the library's own zeroState() is zeros).  Each model
written is listed in models.json beside it, which the drawing page
(examples/browser/draw.html) offers.

    python3 seq2seqVAE_export.py experiments/cat --out cat.json
    python3 seq2seqVAE_export.py experiments/cat --index 7 --out cat7.json
    python3 seq2seqVAE_export.py magenta_ckpt/ --scale_factor 41.7 --seed 0 --out m.json
    python3 seq2seqVAE_export.py --import cat.gen.json --out experiments/cat_js
    python3 seq2seqVAE_export.py --import cat --out experiments/cat_js   # pretrained, by name

The format and both directions of it are sketchgen/sketch_js.py's.
"""
import os
import sys

import numpy as np

from sketchgen import cli
from sketchgen.errors import ExportError, UsageError


def parse_args(argv):
    p = cli.ArgumentParser(
        description='Export a model for @magenta/sketch (a JSON file a web page can load), '
                    'or --import such a model as an experiment folder.')
    p.add_argument('model', nargs='?', help='experiment folder or Magenta checkpoint folder')
    p.add_argument('--import', dest='import_source', metavar='SOURCE',
                   help='instead of exporting: read a @magenta/sketch model (a .json file, '
                        'or the name of a pretrained model, downloaded once) and write it to '
                        '--out as an experiment folder that seq2seqVAE_sample.py and '
                        'load_model read')
    p.add_argument('--out', required=True,
                   help='JSON file to write (with --import: a new experiment folder)')
    p.add_argument('--checkpoint', default=None,
                   help="experiments: 'best' (default), 'latest' or a .weights.h5 file; "
                        'Magenta: a checkpoint prefix (default: the latest)')
    p.add_argument('--scale_factor', type=float, default=None,
                   help="the data's normalizing_scale_factor (default: the experiment's "
                        "model_config.json, or with --index the data's own; Magenta "
                        "checkpoints record none)")
    p.add_argument('--name', default=None, help='model name in info (default: the data set)')
    z = p.add_mutually_exclusive_group()
    for flag, kind, chooses in (
            ('--seed', int, 'a random z ~ N(0, I) from this seed'),
            ('--index', int, "z = posterior mean of this test-set sketch (in the data loader's "
                             'length order)'),
            ('--sketch', str, 'z = posterior mean of this stroke-3 sketch (.npy or .json rows '
                              'of dx, dy, pen_lifted, data units)')):
        z.add_argument(flag, type=kind, help=f'conditional models: {chooses}')
    p.add_argument('--data_dir', default='datasets',
                   help='where --index finds the data set (default: datasets)')
    args = p.parse_args(argv)
    if (args.model is None) == (args.import_source is None):
        p.error('give either MODEL (to export) or --import SOURCE')
    return args


def choose_z(model, args, scale_factor):
    """(z or None, scale_factor) from the --seed/--index/--sketch flags."""
    conditional = model.hps.conditional
    wants_z = (args.seed, args.index, args.sketch) != (None, None, None)
    if wants_z and not conditional:
        raise ExportError('decoder-only model: --seed, --index and --sketch choose a z, '
                          'and it has none')
    if conditional and not wants_z:
        raise ExportError('conditional model: choose its z with --seed, --index or --sketch')
    if args.seed is not None:
        return np.random.default_rng(args.seed).standard_normal(model.hps.z_size), scale_factor
    from sketchgen.loading import load_dataset, load_sketch
    from sketchgen.sampling import encode
    if args.index is not None:
        # The test set comes normalised by the train set's scale factor.
        _, _, test_set, _ = load_dataset(args.data_dir, model.hps.copy())
        if not 0 <= args.index < len(test_set.strokes):
            raise ExportError(f'--index {args.index}: the test set has '
                              f'{len(test_set.strokes)} sketches')
        return encode(model, test_set.strokes[args.index])[0], scale_factor or test_set.scale_factor
    if args.sketch is not None:
        if scale_factor is None:
            raise ExportError('--sketch: give --scale_factor to normalise it')
        return encode(model, load_sketch(args.sketch), scale_factor)[0], scale_factor
    return None, scale_factor


def main_import(args):
    """Imports; returns the line to print."""
    from sketchgen.pretrained import fetch_model
    from sketchgen.sketch_js import import_sketch_js
    source = args.import_source
    if os.path.isfile(source):
        path = source
    elif source.endswith('.json') or os.sep in source:
        raise UsageError(f'{source}: no such file')
    else:  # a pretrained model's name
        path = fetch_model(source)
    model = import_sketch_js(path, args.out, source)
    hps = model.hps
    return (f'wrote {args.out}: a decoder-only LSTM ({hps.dec_rnn_size} units, '
            f'{hps.num_mixture} mixtures, max_seq_len {hps.max_seq_len}, scale factor '
            f'{model.normalizing_scale_factor:.4g}); draw from it with: '
            f'python3 seq2seqVAE_sample.py {args.out} --num 10')


def main_export(args):
    """Exports; returns the line to print."""
    from sketchgen.checkpoints import load_model
    from sketchgen.experiment import Experiment, is_experiment
    from sketchgen import model_index
    from sketchgen.sketch_js import NUM_MIXTURE, check_exportable, export_sketch_rnn_js
    model = load_model(args.model, args.checkpoint, batch_size=1)
    check_exportable(model)  # before any data is read
    scale_factor = args.scale_factor
    if scale_factor is None and is_experiment(args.model):
        scale_factor = Experiment(args.model).scale_factor
    z, scale_factor = choose_z(model, args, scale_factor)
    if scale_factor is None:
        raise ExportError(f'{args.model}: no normalizing_scale_factor recorded '
                          '(Magenta checkpoints have none); give --scale_factor')
    name = args.name or os.path.splitext(model.hps.data_set[0])[0]
    info = export_sketch_rnn_js(model, args.out, z, scale_factor=scale_factor, name=name)
    listed = f' (listed in {model_index.add_to_index(args.out, info)})'
    if 'num_mixture' not in info:
        return f'wrote {args.out}{listed}'
    return (f'wrote {args.out}{listed}: its {info["num_mixture"]} mixtures padded to '
            f'{NUM_MIXTURE}; the padded ones get at most {info["padded_weight_bound"]:.2g} '
            'of the mixture weight')


@cli.command
def main(argv=None):
    args = parse_args(argv)
    print(main_export(args) if args.import_source is None else main_import(args))


if __name__ == '__main__':
    sys.exit(main())
