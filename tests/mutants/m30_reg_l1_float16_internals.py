"""CenterNet reg_l1_loss computed in float16 inside a float32 loss (a leaked mixed-precision policy)."""

from typing import Any

from conformance.targets.catalogue import Catalogue

TARGETS = ("reg_l1_loss",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "cast y_pred, y_true and mask to float16, compute, cast back: ~3 significant digits"
KIND = "precision"


def reg_l1_loss(self: Any, y_pred: Any, y_true: Any, indices: Any, mask: Any) -> Any:
    o = self.ops
    y_pred = o.as_float(y_pred)
    half = [o.cast(t, "float16") for t in (y_pred, y_true, mask)]
    return o.cast(Catalogue.reg_l1_loss(self, half[0], half[1], indices, half[2]), o.dtype(y_pred))
