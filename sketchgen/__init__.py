"""SketchGen's library modules (imported by the top-level seq2seqVAE*.py and utils.py)."""
