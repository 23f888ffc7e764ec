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
"""
import argparse
import os

import numpy as np

import seq2seqVAE as S
import utils
from sketchgen import cli, model_index, sketch_js
from sketchgen.pretrained import PretrainedError
from sketchgen.sketch_js import NUM_MIXTURE as JS_NUM_MIXTURE
from sketchgen.sketch_js import STROKE_INPUTS


class ExportError(ValueError):
    """The model cannot be written in the library's format (one-line reason)."""


def check_exportable(model):
    """Raises ExportError naming every reason the library cannot run `model`."""
    hps = model.hps
    reasons = []
    if hps.dec_model != 'lstm':
        reasons.append(f"its decoder is '{hps.dec_model}', but @magenta/sketch runs only a "
                       'plain LSTM (tf.basicLSTMCell)')
    if hps.num_mixture > JS_NUM_MIXTURE:
        reasons.append(f'it has num_mixture={hps.num_mixture}, but @magenta/sketch '
                       f'hard-codes {JS_NUM_MIXTURE} mixtures (fewer are padded, more cannot be)')
    if reasons:
        raise ExportError('cannot export for @magenta/sketch: ' + '; '.join(reasons))


def decoder_arrays(model, z=None):
    """The five float32 arrays the library reads.  Its LSTM input is the
    stroke alone, so a conditional model's constant z @ W_xh[5:] joins the bias."""
    cell, out = model.decoder, model.output_layer
    w_xh = cell.W_xh.numpy()
    bias = cell.project_static(None if z is None else S.tf.constant(z[None])).numpy()[0]
    return [out.kernel.numpy(), out.bias.numpy(), w_xh[:STROKE_INPUTS], cell.W_hh.numpy(), bias]


def export_sketch_rnn_js(model, path, z=None, *, scale_factor, name='sketchgen'):
    """Writes `model`'s decoder as a @magenta/sketch JSON model to `path`.

    z: the latent vector [z_size] a conditional model is exported at (it
    must be given for those, and None for decoder-only models).
    scale_factor: the data's normalizing_scale_factor; the library divides
    its pixel offsets by scale_factor / 2 to get model inputs.
    A model with fewer than 20 mixtures is padded to 20 (sketch_js.pad_mixtures);
    info records num_mixture and padded_weight_bound, the most total weight
    the library can give the padded mixtures.  Returns the info dict written."""
    check_exportable(model)
    hps = model.hps
    if hps.conditional and z is None:
        raise ExportError('conditional model: give the z to export its decoder at')
    if not hps.conditional and z is not None:
        raise ExportError('decoder-only model: it has no z')
    if z is not None:
        z = np.asarray(z, np.float32)
        if z.shape != (hps.z_size,):
            raise ExportError(f'z has shape {z.shape}; the model takes ({hps.z_size},)')
    arrays = decoder_arrays(model, z)
    # @magenta/sketch reads only scale_factor; pages cap samples at
    # max_seq_len.  mode 2 ("gen") is the decoder-only layout in the older
    # sketch-rnn-js, which squashes z with tanh for version < 6 (ours is not).
    info = dict(name=name, mode=2, version=6, max_seq_len=int(hps.max_seq_len),
                scale_factor=float(scale_factor))
    if z is not None:  # the state tanh(W z + b) the decoder starts from
        c, h = (s.numpy()[0] for s in model.initial_state(z[None], 1))
        info['initial_state'] = dict(c=c.tolist(), h=h.tolist())
    if hps.num_mixture < JS_NUM_MIXTURE:
        arrays[:2] = sketch_js.pad_mixtures(*arrays[:2], hps.num_mixture)
        info.update(num_mixture=hps.num_mixture,
                    padded_weight_bound=sketch_js.padded_weight_bound(*arrays[:2],
                                                                      hps.num_mixture))
    try:
        sketch_js.write_model(path, info, arrays)
    except sketch_js.SketchJSError as err:
        raise ExportError(f'cannot export for @magenta/sketch: {err}') from None
    return info


# --------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------
def parse_args(argv):
    p = argparse.ArgumentParser(
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
    if args.index is not None:
        # The test set comes normalised by the train set's scale factor.
        _, _, test_set, _ = utils.load_dataset(args.data_dir, model.hps.copy())
        if not 0 <= args.index < len(test_set.strokes):
            raise ExportError(f'--index {args.index}: the test set has '
                              f'{len(test_set.strokes)} sketches')
        return S.encode(model, test_set.strokes[args.index])[0], scale_factor or test_set.scale_factor
    if args.sketch is not None:
        if scale_factor is None:
            raise ExportError('--sketch: give --scale_factor to normalise it')
        return S.encode(model, utils.load_sketch(args.sketch), scale_factor)[0], scale_factor
    return None, scale_factor


def import_sketch_js(source, out_dir):
    """Writes the @magenta/sketch model `source` (a .json file, or a
    pretrained model's name) as an experiment folder: logs/model_config.json
    (with its normalizing scale factor) and checkpoints/best.weights.h5.
    Returns the model."""
    if os.path.exists(out_dir) and os.listdir(out_dir):
        raise ExportError(f'{out_dir}: already exists and is not empty; choose a new folder')
    if os.path.isfile(source):
        model = S.load_sketch_js(source)
    elif source.endswith('.json') or os.sep in source:
        raise FileNotFoundError(f'{source}: no such file')
    else:
        model = S.load_pretrained(source)
    paths = S.experiment_paths(out_dir)
    for path in (paths['config'], paths['best']):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    S.write_model_config(paths['config'], model.hps,
                         normalizing_scale_factor=model.normalizing_scale_factor)
    model.save_weights(paths['best'])
    return model


def main_import(args):
    """Imports; returns the line to print."""
    model = import_sketch_js(args.import_source, args.out)
    hps = model.hps
    return (f'wrote {args.out}: a decoder-only LSTM ({hps.dec_rnn_size} units, '
            f'{hps.num_mixture} mixtures, max_seq_len {hps.max_seq_len}, scale factor '
            f'{model.normalizing_scale_factor:.4g}); draw from it with: '
            f'python3 seq2seqVAE_sample.py {args.out} --num 10')


def main_export(args):
    """Exports; returns the line to print."""
    model = S.load_model(args.model, args.checkpoint, batch_size=1)
    check_exportable(model)  # before any data is read
    scale_factor = args.scale_factor
    config = S.experiment_paths(args.model)['config']
    if scale_factor is None and os.path.exists(config):
        scale_factor = S.read_model_config(config)[1].get('normalizing_scale_factor')
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
            f'{JS_NUM_MIXTURE}; the padded ones get at most {info["padded_weight_bound"]:.2g} '
            'of the mixture weight')


def main(argv=None):
    args = parse_args(argv)
    with cli.failing_on(ExportError, FileNotFoundError, utils.SketchDataError,
                        sketch_js.SketchJSError, PretrainedError):
        line = main_export(args) if args.import_source is None else main_import(args)
    print(line)


if __name__ == '__main__':
    main()
