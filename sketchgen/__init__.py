"""SketchGen library modules (import seq2seqVAE before TensorFlow; these modules never import it)."""
