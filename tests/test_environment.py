"""Facts about the environment the suite relies on."""

import numpy as np
from hypothesis import find
from hypothesis import strategies as st


def test_tensorflow_import_leaves_subnormals_alone():
    """TensorFlow must not switch the process to flush-to-zero: Hypothesis draws subnormal floats."""
    import tensorflow as tf  # noqa: F401

    tiny = np.finfo(np.float64).smallest_subnormal
    assert tiny / 1.0 > 0.0 and float(np.float64(1e-310) * 1.0) != 0.0
    assert np.float32(1e-40) * np.float32(1.0) != 0.0
    found = find(st.floats(allow_subnormal=True), lambda x: 0.0 < abs(x) < np.finfo(np.float64).tiny)
    assert 0.0 < abs(found) < np.finfo(np.float64).tiny


def test_plugin_registered_exactly_once(pytestconfig):
    """The pytest11 entry point is the only registration (no conftest also loads it)."""
    mods = [p for p in pytestconfig.pluginmanager.get_plugins() if getattr(p, "__name__", "") == "conformance.plugin"]
    assert len(mods) == 1
