"""Tests that need what a bare machine may lack (../shared's data sets and
Magenta-trained bundles, Node's packages, Chromium, cairosvg, Jupyter):
they skip with the reason where it is absent, and fail instead where
SKETCHGEN_REQUIRE_REFERENCE=1, which .ci/run sets, so that a CI that lost
one of them cannot pass by skipping."""
import importlib
import os
from pathlib import Path

import pytest

REQUIRED = os.environ.get('SKETCHGEN_REQUIRE_REFERENCE') == '1'
SHARED = Path(__file__).resolve().parents[1].parent / 'shared'
REFERENCE = SHARED / 'reference'
DATASETS = SHARED / 'datasets'


def needs(present, reason):
    """A mark: the test runs where `present`; elsewhere it skips with the
    reason, or fails with it under SKETCHGEN_REQUIRE_REFERENCE=1 (see conftest)."""
    if present:
        return pytest.mark.needs()
    return pytest.mark.needs(missing=reason)


def skip_unless(present, reason):
    """The same, decided inside a test or fixture."""
    if present:
        return
    if REQUIRED:
        pytest.fail(f'{reason}, which SKETCHGEN_REQUIRE_REFERENCE=1 requires', pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def module_or_skip(name, reason):
    """importlib.import_module(name), or skip_unless's verdict."""
    try:
        return importlib.import_module(name)
    except (ImportError, OSError) as err:  # OSError: a native library missing (libcairo)
        skip_unless(False, f'{reason} ({err})')
