"""The tiny settings the tests use: a model that trains in a few steps, and
the data-loader settings load_dataset reads."""
import types

import seq2seqVAE as S

TINY = dict(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=3, batch_size=4)
TINY_HPARAMS = ','.join(f'{name}={value}' for name, value in TINY.items())  # for --hparams


def tiny_hps(**overrides):
    """Magenta's defaults with the tiny sizes, max_seq_len 20 and `overrides`."""
    hps = S.get_default_hparams()
    for name, value in {**TINY, 'max_seq_len': 20, **overrides}.items():
        hps.set(name, value)
    return hps


def loader_hps(data_set, **more):
    """What load_dataset reads of the hyper-parameters, without augmentation."""
    return types.SimpleNamespace(**{
        'data_set': data_set, 'batch_size': 4, 'max_seq_len': -1,
        'random_scale_factor': 0.0, 'augment_stroke_prob': 0.0, **more})
