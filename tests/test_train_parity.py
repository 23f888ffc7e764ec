"""Step for step with Magenta: 20 training steps of a small model from
Magenta's initial weights (tests/fixtures/train_parity, made by
`bench/train_parity.py --save_fixture`), on the same batches and eps, with
Magenta's schedules and clipping, give Magenta's cost at every step."""
import json
from pathlib import Path

import numpy as np
import pytest

import train_parity  # bench/train_parity.py

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / 'tests' / 'fixtures' / 'train_parity'


@pytest.mark.slow
def test_twenty_steps_match_magenta():
    expected = json.loads((FIXTURE / 'magenta_costs.json').read_text())
    hps = train_parity.make_hparams(str(FIXTURE), expected['hparams'], expected['data_set'])
    feeds = train_parity.make_feeds(hps, ROOT / 'datasets', expected['steps'], expected['seed'])
    ours = train_parity.run_ours(str(FIXTURE), hps, feeds)
    differences = np.abs(np.subtract(ours, expected['costs']))
    assert len(ours) == 20
    assert differences.max() < 1e-4, f'step {differences.argmax()} differs by {differences.max():.2e}'
