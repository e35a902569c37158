"""Bundled TensorFlow targets."""
