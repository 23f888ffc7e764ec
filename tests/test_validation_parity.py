"""Validation costs as Magenta's evaluate_model computes them: z drawn from
the posterior for every batch.  With the same eps (fed to Magenta's graph,
drawn by our evaluate_costs from the same noise seed) the costs are equal;
over many draws the means agree within their standard error
(tests/fixtures/validation_parity, made by
`bench/make_training_fixtures.py --only validation`)."""
import json
from pathlib import Path

import numpy as np
import pytest
from needs import DATASETS, REFERENCE, needs

import seq2seqVAE as S
import utils

FIXTURES = Path(__file__).resolve().parent / 'fixtures' / 'validation_parity'
BUNDLES = sorted(p.stem for p in FIXTURES.glob('*.json'))
DRAWS = 30

pytestmark = [pytest.mark.slow, needs(REFERENCE.is_dir() and DATASETS.is_dir(),
                                      '../shared/reference and ../shared/datasets are absent')]


def bundle_and_valid_set(name):
    model = S.load_model(str(REFERENCE / name))
    _, valid_set, _, _ = utils.load_dataset(DATASETS, model.hps.copy())
    return model, valid_set


@pytest.mark.parametrize('bundle', BUNDLES)
def test_validation_with_magentas_eps_gives_magentas_costs(bundle):
    expected = json.loads((FIXTURES / f'{bundle}.json').read_text())
    model, valid_set = bundle_and_valid_set(bundle)
    assert valid_set.num_batches == expected['num_batches']
    ours = S.evaluate_costs(model, valid_set, noise_seed=expected['noise_seed'])
    for name in ('cost', 'r_cost', 'kl_cost'):
        assert ours[name] == pytest.approx(expected['fed_eps'][name], abs=1e-5), name
    if model.hps.conditional:  # the drawn z differs from the mean: a cost of its own
        at_mean = S.evaluate_costs(model, valid_set, use_mean_z=True)
        assert abs(at_mean['r_cost'] - ours['r_cost']) > 1e-4


@pytest.mark.parametrize('bundle', BUNDLES)
def test_many_draws_agree_with_magentas_within_their_standard_error(bundle):
    expected = json.loads((FIXTURES / f'{bundle}.json').read_text())
    model, valid_set = bundle_and_valid_set(bundle)
    costs = np.array([S.evaluate_costs(model, valid_set, noise_seed=seed)['cost']
                      for seed in range(DRAWS)])
    theirs = expected['draws']
    standard_error = np.hypot(costs.std(ddof=1) / np.sqrt(DRAWS),
                              theirs['std'][0] / np.sqrt(theirs['count']))
    assert abs(costs.mean() - theirs['mean'][0]) <= 3 * standard_error + 1e-6
    if model.hps.conditional:  # the draws vary, as Magenta's do, by about as much
        assert 0.5 < costs.std(ddof=1) / theirs['std'][0] < 2.0
