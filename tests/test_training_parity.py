"""Training parity with Magenta: on each checkpoint bundle in ../shared/reference,
for one fixed batch and fixed eps, our costs, every gradient and the cost
after 3 Adam steps match what Magenta's own code computed
(tests/fixtures/training_parity, made by bench/make_training_fixtures.py)."""
import json
from pathlib import Path

import numpy as np
import pytest
from needs import needs
import tensorflow as tf

import seq2seqVAE as S
import utils
from sketchgen.magenta_names import magenta_arrays

SHARED = Path(__file__).resolve().parents[1].parent / 'shared'
FIXTURES = Path(__file__).resolve().parent / 'fixtures' / 'training_parity'
CASES = sorted(p.name[:-len('.json')] for p in FIXTURES.glob('*.json'))  # <bundle>.<config>

pytestmark = [pytest.mark.slow, needs((SHARED / 'reference').is_dir(),
                                      '../shared/reference is absent')]


def fixed_batch(hps, indices):
    """The fixture's batch, built as make_training_fixtures builds it with
    Magenta's loader: valid sketches `indices`, train-set scale factor."""
    train_set = utils.load_dataset(SHARED / 'datasets', hps)[0]
    valid = np.concatenate([np.load(SHARED / 'datasets' / name, encoding='latin1',
                                    allow_pickle=True)['valid'] for name in hps.data_set])
    loader = utils.DataLoader([valid[i] for i in indices], len(indices),
                              max_seq_length=hps.max_seq_len)
    loader.normalize(train_set.scale_factor)
    _, x, seq_len = loader.get_batch(0)
    return x, seq_len, train_set.scale_factor


@pytest.fixture(scope='module', params=CASES)
def case(request):
    expected = json.loads((FIXTURES / f'{request.param}.json').read_text())
    arrays = dict(np.load(FIXTURES / f'{request.param}.npz'))
    model = S.load_magenta_checkpoint(str(SHARED / 'reference' / expected['bundle']),
                                      batch_size=len(expected['batch_indices']),
                                      **expected['overrides'])
    x, seq_len, scale_factor = fixed_batch(model.hps, expected['batch_indices'])
    assert scale_factor == pytest.approx(expected['scale_factor'], rel=1e-6)
    assert seq_len.tolist() == expected['seq_len']
    assert np.abs(x).sum() == pytest.approx(expected['x_abs_sum'], rel=1e-6)
    data = dict(strokes=tf.constant(x), seq_len=tf.constant(seq_len, tf.int32))
    if 'eps' in arrays:
        data['eps'] = tf.constant(arrays['eps'])
    run = costs_and_gradients(model, data, expected['kl_weight'])
    return dict(expected=expected, arrays=arrays, model=model, data=data, run=run,
                initial=run())


def costs_and_gradients(model, data, kl_weight):
    """A compiled () -> (cost, r_cost, kl_cost, gradients) in training mode."""
    @tf.function
    def run():
        with tf.GradientTape() as tape:
            r_cost, kl_cost = model.compute_costs(data['strokes'], data['seq_len'], training=True,
                                                  eps=data.get('eps'))
            cost = r_cost + kl_weight * kl_cost
        return cost, r_cost, kl_cost, tape.gradient(cost, model.trainable_variables)
    return run


def test_costs(case):
    expected = case['expected']
    cost, r_cost, kl_cost, _ = case['initial']
    assert float(r_cost) == pytest.approx(expected['r_cost'], abs=1e-5)
    assert float(kl_cost) == pytest.approx(expected['kl_cost'], abs=1e-5)
    assert float(cost) == pytest.approx(expected['cost'], abs=1e-5)


def test_gradients(case):
    """Every variable Magenta has, we have (and the reverse); each gradient
    within 1e-4 of its largest element."""
    expected, arrays = case['expected'], case['arrays']
    grads = case['initial'][3]
    ours = magenta_arrays(case['model'], grads)
    assert sorted(ours) == sorted(expected['gradients'])
    worst = {}
    for name, facts in expected['gradients'].items():
        g = ours[name].ravel()
        picked = arrays.get(f'index:{name}')
        sampled = g if picked is None else g[picked]
        tol = 1e-4 * facts['max_abs']
        errors = [np.max(np.abs(sampled - arrays[f'grad:{name}'])),
                  abs(np.linalg.norm(g) - facts['norm']),
                  abs(np.max(np.abs(g)) - facts['max_abs'])]
        if max(errors) > tol:
            worst[name] = max(errors) / facts['max_abs']
    assert not worst, 'error / max|g| (allowed 1e-4): ' + ', '.join(
        f'{name} {ratio:.2g}' for name, ratio in sorted(worst.items(), key=lambda kv: -kv[1]))


def test_cost_after_adam_steps(case):
    """3 steps of our train_step (Magenta's schedules, clipping, a fresh Adam)."""
    expected, model = case['expected'], case['model']
    model.compile(optimizer=S.make_optimizer(model.hps))
    model.optimizer.build(model.trainable_variables)  # else the first step traces twice
    train_step = tf.function(model.train_step)  # traces once; train_on_batch twice
    for step in expected['adam_steps']:
        logs = train_step(case['data'])
        assert float(logs['cost']) == pytest.approx(step['cost'], abs=1e-4)
        assert float(logs['lr']) == pytest.approx(step['lr'], rel=1e-6)
        assert float(logs['kl_weight']) == pytest.approx(step['kl_weight'], rel=1e-6)
    cost = case['run']()[0]
    assert float(cost) == pytest.approx(expected['cost_after_steps'], abs=1e-4)
