"""Our trainable variables under Magenta's checkpoint names: the inverse of
seq2seqVAE.load_magenta_checkpoint, for weights and for gradients.

The hyper cell fuses several of Magenta's variables into one of ours (the
eight hyper-norm projections into one matmul): they are split back here.
"""
import numpy as np

PREFIX = 'vector_rnn/'
HYPER_PARTS = tuple(g + 'x' for g in 'ijfo') + tuple(g + 'h' for g in 'ijfo')
_LAYER_NORM = (('ln_all_gamma', 'ln_all/ln_gamma'), ('ln_all_beta', 'ln_all/ln_beta'),
               ('ln_c_gamma', 'ln_c/ln_gamma'), ('ln_c_beta', 'ln_c/ln_beta'))


def magenta_layout(model):
    """[(our variable, [Magenta names], fused)] for every trainable variable of
    a Seq2seqModel.  fused says how the names make up the variable: None (one
    name), 'concat' (side by side along the last axis) or 'stack' (along a
    new first axis)."""
    entries = []
    if model.hps.conditional:
        for cell, direction in ((model.enc_fw, 'fw'), (model.enc_bw, 'bw')):
            entries += _cell_layout(cell, f'ENC_RNN/{direction}/{cell.magenta_scope}')
        for layer, scope in ((model.mu_layer, 'ENC_RNN_mu'), (model.presig_layer, 'ENC_RNN_sigma'),
                             (model.initial_state_layer, 'linear')):
            entries += [(layer.kernel, [f'{scope}/super_linear_w'], None),
                        (layer.bias, [f'{scope}/super_linear_b'], None)]
    entries += _cell_layout(model.decoder, f'RNN/{model.decoder.magenta_scope}')
    entries += [(model.output_layer.kernel, ['RNN/output_w'], None),
                (model.output_layer.bias, ['RNN/output_b'], None)]
    return [(var, [PREFIX + name for name in names], fused) for var, names, fused in entries]


def _cell_layout(cell, scope):
    kind = cell.magenta_scope
    entries = [(cell.W_xh, [f'{scope}/W_xh'], None), (cell.W_hh, [f'{scope}/W_hh'], None)]
    if kind != 'LayerNormLSTMCell':  # its layer-norm beta stands in for the bias
        entries.append((cell.bias, [f'{scope}/bias'], None))
    if kind == 'LSTMCell':
        return entries
    entries += [(getattr(cell, ours), [f'{scope}/{theirs}'], None) for ours, theirs in _LAYER_NORM]
    if kind == 'LayerNormLSTMCell':
        return entries
    entries += _cell_layout(cell.hyper_cell, f'{scope}/{cell.hyper_cell.magenta_scope}')
    hyper = [f'{scope}/hyper_{part}' for part in HYPER_PARTS]
    recurrent = hyper[4:]  # only the recurrent contributions get shifts
    return entries + [
        (cell.zw_w, [f'{h}/zw/super_linear_w' for h in hyper], 'concat'),
        (cell.zw_b, [f'{h}/zw/super_linear_b' for h in hyper], 'concat'),
        (cell.alpha_w, [f'{h}/alpha/super_linear_w' for h in hyper], 'stack'),
        (cell.zb_w, [f'{h}/zb/super_linear_w' for h in recurrent], 'concat'),
        (cell.beta_w, [f'{h}/beta/super_linear_w' for h in recurrent], 'stack'),
    ]


def magenta_arrays(model, values=None):
    """{Magenta checkpoint name: np.ndarray} of `values`, a list parallel to
    model.trainable_variables (e.g. gradients); default: the weights."""
    variables = list(model.trainable_variables)
    if values is None:
        values = [var.numpy() for var in variables]
    if len(values) != len(variables):
        raise ValueError(f'{len(values)} values for {len(variables)} trainable variables')
    by_variable = {id(var): np.asarray(value) for var, value in zip(variables, values)}
    arrays = {}
    for var, names, fused in magenta_layout(model):
        value = by_variable.pop(id(var))
        if fused is None:
            parts = [value]
        elif fused == 'concat':
            parts = np.split(value, len(names), axis=-1)
        else:
            parts = list(value)
        arrays.update(zip(names, parts))
    if by_variable:
        unnamed = [var.path for var in variables if id(var) in by_variable]
        raise ValueError(f'no Magenta name for {", ".join(unnamed)}')
    return arrays
