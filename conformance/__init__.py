"""Numerical conformance suite for TensorFlow object-detection losses."""

__version__ = "0.1.0"
