"""Parity with Magenta: every checkpoint bundle in ../shared/reference,
trained by Magenta's own code, must give the same data facts, costs and
mixture parameters in our port."""
import json
from pathlib import Path

import numpy as np
import pytest
from needs import needs

import seq2seqVAE as S
import utils

SHARED = Path(__file__).resolve().parents[1].parent / 'shared'
BUNDLES = sorted(p for p in (SHARED / 'reference').glob('*') if (p / 'expected.json').exists())

pytestmark = needs(BUNDLES, '../shared/reference is absent')


@pytest.fixture(scope='module', params=BUNDLES, ids=lambda p: p.name)
def bundle(request):
    path = request.param
    expected = json.loads((path / 'expected.json').read_text())
    model = S.load_magenta_checkpoint(str(path))
    _, valid_set, test_set, hps = utils.load_dataset(SHARED / 'datasets', model.hps)
    return dict(path=path, expected=expected, model=model, hps=hps,
                sets=dict(valid=valid_set, test=test_set))


def test_data_loader_facts(bundle):
    expected, valid = bundle['expected'], bundle['sets']['valid']
    assert bundle['hps'].max_seq_len == expected['max_seq_len']
    assert valid.scale_factor == pytest.approx(expected['normalizing_scale_factor'], rel=1e-6)
    for split, count in expected['num_batches'].items():
        if split in bundle['sets']:
            assert bundle['sets'][split].num_batches == count
    _, x, seq_len = valid.get_batch(0)
    assert sorted(seq_len.tolist()) == sorted(expected['valid_batch0_seq_len'])


@pytest.mark.parametrize('split', ['valid', 'test'])
@pytest.mark.parametrize('masked', [False, True], ids=['unmasked', 'masked'])
def test_costs_match_magenta(bundle, split, masked):
    target = bundle['expected'][split + ('_masked' if masked else '')]
    costs = S.evaluate_costs(bundle['model'], bundle['sets'][split], use_mean_z=True,
                             mask_pen_loss=masked)
    assert costs['r_cost'] == pytest.approx(target['r_cost'], abs=1e-4)
    assert costs['kl_cost'] == pytest.approx(target['kl_cost'], abs=1e-4)


def test_mixture_parameters_match_magenta(bundle):
    """Decoder outputs for sketch 0 of valid batch 0, steps 0..4, z = posterior mean.

    Magenta sorts sketches with numpy's default (unstable) argsort, whose
    order among equally long sketches depends on the CPU's SIMD sort, so the
    sketch Magenta put first is one of the valid sketches of that length:
    exactly one of them must reproduce Magenta's numbers."""
    expected = bundle['expected']
    model, valid = bundle['model'], bundle['sets']['valid']
    first_len = expected['valid_batch0_seq_len'][0]
    candidates = [s for s in valid.strokes if len(s) == first_len][:valid.batch_size]
    batch = candidates + candidates[:1] * (valid.batch_size - len(candidates))
    x = valid.pad_batch(batch, valid.max_seq_length)
    seq_len = np.array([len(s) for s in batch])
    params, mu, _ = model(dict(strokes=x, seq_len=seq_len), use_mean_z=True)
    target = expected['valid_batch0_sketch0_steps0to4']
    errors = np.max([np.max(np.abs(np.asarray(params[name])[:len(candidates), :5] - values),
                            axis=(1, 2)) for name, values in target.items()], axis=0)
    best = int(np.argmin(errors))
    assert errors[best] < 1e-4, f'closest candidate differs by {errors[best]:.2e}'
    if mu is not None:
        np.testing.assert_allclose(mu[best], expected['valid_batch0_mean_z0'], atol=1e-4)


def test_magenta_name_list_config_says_what_is_missing_and_loads_when_given(tmp_path):
    """Magenta 2.1.4's trainer writes model_config.json as a list of names:
    loading says which values are missing; passing them loads the weights."""
    source = BUNDLES[0]
    for f in source.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    config = json.loads((source / 'model_config.json').read_text())
    (tmp_path / 'model_config.json').write_text(json.dumps(sorted(config)))
    with pytest.raises(ValueError) as err:
        S.load_magenta_checkpoint(str(tmp_path))
    message = str(err.value)
    assert '\n' not in message and 'model_config.json' in message
    assert all(f'{name}=...' in message for name in S.ARCHITECTURE)
    model = S.load_magenta_checkpoint(str(tmp_path), **{n: config[n] for n in S.ARCHITECTURE})
    reference = S.load_magenta_checkpoint(str(source))
    for ours, theirs in zip(model.weights, reference.weights):
        np.testing.assert_array_equal(ours, theirs)
    wrong = dict(config, dec_rnn_size=config['dec_rnn_size'] * 2)
    (tmp_path / 'model_config.json').write_text(json.dumps(wrong))
    with pytest.raises(ValueError, match='does not match') as err:
        S.load_magenta_checkpoint(str(tmp_path))
    assert '\n' not in str(err.value)
