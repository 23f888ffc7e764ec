"""Puts the repository root on sys.path, so plain `pytest` imports utils and
seq2seqVAE, and imports seq2seqVAE before any test module imports TensorFlow
(it sets TensorFlow's CPU options, as it does for users)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import seq2seqVAE  # noqa: E402,F401
