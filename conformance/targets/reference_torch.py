"""Reference PyTorch implementation of every contract name in the loss catalogue::

    pytest --pyargs conformance --impl=conformance.targets.reference_torch

The formulas are :class:`conformance.targets.catalogue.Catalogue`'s, written once for every
framework; this module is PyTorch's array layer under them (``torch`` operations with ``dim=``,
``Tensor.detach`` as the stop-gradient, ``torch.gather``) and exports the catalogue's functions,
``torch.Tensor`` in and out (on the inputs' device: scalar constants combine with any device, the
others are moved with ``on_device_of``).

Bad labels and indices never give a silent finite value: ``sparse_softmax_cross_entropy_with_logits``
and ``reg_l1_loss`` assert that they are in range (``torch._assert_async``: a ``RuntimeError``) and also
return NaN for out-of-range ones, which covers any execution where the assertion is dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from conformance.targets.catalogue import NAMES, Catalogue
from conformance.targets.layer import ArrayLayer

__all__ = [*NAMES, "REFERENCE", "TorchLayer"]


def _torch_dtype(dtype: Any) -> torch.dtype:
    return dtype if isinstance(dtype, torch.dtype) else getattr(torch, str(dtype))


class TorchLayer(ArrayLayer):
    """The catalogue's array layer on PyTorch."""

    where = staticmethod(torch.where)
    exp = staticmethod(torch.exp)
    log = staticmethod(torch.log)
    log1p = staticmethod(torch.log1p)
    abs = staticmethod(torch.abs)
    power = staticmethod(torch.pow)
    reshape = staticmethod(torch.reshape)
    broadcast_to = staticmethod(torch.broadcast_to)
    zeros_like = staticmethod(torch.zeros_like)
    ones_like = staticmethod(torch.ones_like)
    isfinite = staticmethod(torch.isfinite)
    isnan = staticmethod(torch.isnan)
    isinf = staticmethod(torch.isinf)
    equal = staticmethod(torch.eq)
    not_equal = staticmethod(torch.ne)
    all = staticmethod(torch.all)
    atan2 = staticmethod(torch.atan2)

    def is_tensor(self, x: Any) -> bool:
        return isinstance(x, torch.Tensor)

    def tensor(self, x: Any) -> torch.Tensor:
        return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))

    def from_numpy(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a)

    def dtype(self, x: Any) -> str:
        return str(x.dtype).removeprefix("torch.")

    def cast(self, x: Any, dtype: Any) -> torch.Tensor:
        return self.tensor(x).to(_torch_dtype(dtype))

    def const(self, value: Any, dtype: Any) -> torch.Tensor:
        return super().const(value, str(_torch_dtype(dtype)).removeprefix("torch."))

    def rank(self, x: Any) -> int:
        return x.dim()

    def shape(self, x: Any) -> tuple:
        return tuple(x.shape)

    def size(self, x: torch.Tensor) -> int:
        return x.numel()

    def stop_gradient(self, x: torch.Tensor) -> torch.Tensor:
        return x.detach()

    def sum(self, x: torch.Tensor, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
        return torch.sum(x, dim=axis, keepdim=keepdims)

    def max(self, x: torch.Tensor, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
        return torch.amax(x, dim=() if axis is None else axis, keepdim=keepdims)

    def argmax(self, x: torch.Tensor, axis: int, keepdims: bool = False) -> torch.Tensor:
        return torch.argmax(x, dim=axis, keepdim=keepdims)

    def one_hot(self, k: torch.Tensor, n: int, axis: int = -1, dtype: str = "float32") -> torch.Tensor:
        return torch.nn.functional.one_hot(k.long(), n).movedim(-1, axis).to(_torch_dtype(dtype))

    def arange(self, n: int, dtype: str = "int64") -> torch.Tensor:
        return torch.arange(n, dtype=_torch_dtype(dtype))

    def expand_dims(self, x: torch.Tensor, axis: int) -> torch.Tensor:
        return torch.unsqueeze(x, axis)

    def concatenate(self, xs: list, axis: int = 0) -> torch.Tensor:
        return torch.cat(xs, dim=axis)

    def on_device_of(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return x.to(ref.device)

    def gather_rows(self, flat: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return torch.gather(flat, 1, idx.long()[..., None].expand(-1, -1, flat.shape[-1]))

    def assert_all(self, ok: torch.Tensor, message: str) -> torch.Tensor:
        torch._assert_async(torch.all(ok), message)
        return ok


REFERENCE = Catalogue(TorchLayer())
globals().update(REFERENCE.functions())
