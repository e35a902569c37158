"""The bundled reference under the mixed-precision pattern: arguments in the dtype under test, computation in
float32, results cast back to the arguments' dtype (as Keras' mixed-precision policies do).

    pytest --pyargs conformance --impl=tests/mixed_precision.py --dtype=bfloat16
"""

from __future__ import annotations

import functools
from typing import Any

import tensorflow as tf

from conformance.contracts import NAMES
from conformance.targets import reference

_HALF = (tf.float16, tf.bfloat16)


def _up(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return type(x)(_up(v) for v in x)
    if isinstance(x, (tf.Tensor, tf.Variable)) and x.dtype in _HALF:
        return tf.cast(x, tf.float32)
    return x


def _down(x: Any, dtype: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return type(x)(_down(v, dtype) for v in x)
    if dtype is not None and isinstance(x, tf.Tensor) and x.dtype == tf.float32:
        return tf.cast(x, dtype)
    if callable(x):
        return _mixed(x)
    return x


def _half_dtype(args: Any) -> Any:
    for a in args:
        if isinstance(a, (list, tuple)):
            d = _half_dtype(a)
            if d is not None:
                return d
        elif isinstance(a, (tf.Tensor, tf.Variable)) and a.dtype in _HALF:
            return a.dtype
    return None


def _mixed(fn: Any) -> Any:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        dtype = _half_dtype([*args, *kwargs.values()])
        out = fn(*_up(args), **{k: _up(v) for k, v in kwargs.items()})
        return _down(out, dtype)

    return call


for _name in NAMES:
    if getattr(reference, _name, None) is not None:
        globals()[_name] = _mixed(getattr(reference, _name))
