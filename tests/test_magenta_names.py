"""sketchgen.magenta_names: our variables under Magenta's checkpoint names,
the exact inverse of load_magenta_checkpoint, with no name missing or extra."""
import re
from pathlib import Path

import numpy as np
import pytest
from needs import needs
import tensorflow as tf

import seq2seqVAE as S
from sketchgen.magenta_names import magenta_arrays

SHARED = Path(__file__).resolve().parents[1].parent / 'shared'
BUNDLES = sorted(p for p in (SHARED / 'reference').glob('*') if (p / 'checkpoint').exists())
# Not trainable: Adam's slots and powers, the step, the fed lr and kl_weight.
NOT_TRAINABLE = re.compile(r'/(Adam(_1)?|global_step|beta[12]_power|Variable(_\d+)?)$')


@needs(BUNDLES, '../shared/reference is absent')
@pytest.mark.parametrize('bundle', BUNDLES, ids=lambda p: p.name)
def test_bundle_names_and_weights(bundle):
    reader = tf.train.load_checkpoint(S.magenta_checkpoint_prefix(str(bundle)))
    trainable = {name for name in reader.get_variable_to_shape_map()
                 if name.startswith('vector_rnn/') and not NOT_TRAINABLE.search(name)}
    arrays = magenta_arrays(S.load_magenta_checkpoint(str(bundle)))
    assert set(arrays) == trainable
    for name, value in arrays.items():
        np.testing.assert_array_equal(value, reader.get_tensor(name), err_msg=name)


@pytest.mark.parametrize('enc_model,dec_model,conditional', [
    ('lstm', 'lstm', True), ('layer_norm', 'layer_norm', True), ('hyper', 'hyper', True),
    ('lstm', 'hyper', False)])
def test_round_trip_through_a_magenta_checkpoint(tmp_path, enc_model, dec_model, conditional):
    """Written under Magenta's names, a model's weights load back unchanged."""
    hps = S.get_default_hparams()
    hps.parse(f'enc_model={enc_model},dec_model={dec_model},conditional={conditional},'
              'enc_rnn_size=4,dec_rnn_size=8,z_size=3,num_mixture=2')
    model = S.Seq2seqModel(hps, seed=1)
    rng = np.random.default_rng(0)
    for var in model.trainable_variables:  # every element its own value: no swap hides
        var.assign(rng.standard_normal(var.shape).astype(np.float32))
    arrays = magenta_arrays(model)
    names = sorted(arrays)
    tf.raw_ops.SaveV2(prefix=str(tmp_path / 'vector-1'), tensor_names=names,
                      shape_and_slices=[''] * len(names), tensors=[arrays[n] for n in names])
    (tmp_path / 'model_config.json').write_text(hps.to_json())
    loaded = S.load_magenta_checkpoint(str(tmp_path / 'vector-1'))
    assert len(loaded.trainable_variables) == len(model.trainable_variables)
    for ours, theirs in zip(model.trainable_variables, loaded.trainable_variables):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)
    doubled = magenta_arrays(model, [2 * v.numpy() for v in model.trainable_variables])
    assert all(np.array_equal(doubled[n], 2 * arrays[n]) for n in names)
    with pytest.raises(ValueError, match='values for'):
        magenta_arrays(model, [v.numpy() for v in model.trainable_variables[1:]])
