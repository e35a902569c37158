"""RPN objectness loss normalised over y_true[:, :A, :, :] (FRCNN-NORM-AXIS)."""

from collections.abc import Callable
from typing import Any

from conformance.targets.catalogue import LAMBDA_RPN_CLASS

TARGETS = ("rpn_loss_cls",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "normaliser sums the first A rows of the map (all channels) instead of the first A channels"
KIND = "divergence"


def rpn_loss_cls(self: Any, num_anchors: int) -> Callable[[Any, Any], Any]:
    o = self.ops
    a = int(num_anchors)

    def rpn_loss_cls_fixed_num(y_true: Any, y_pred: Any) -> Any:
        y_true, y_pred = self.frcnn_pair(y_true, y_pred, 4, (2 * a, "2*A"), (a, "A"))
        num = o.sum(y_true[..., :a] * self.binary_crossentropy(y_true[..., a:], y_pred))
        return o.const(LAMBDA_RPN_CLASS, o.dtype(y_pred)) * num / self.eps_normaliser(y_true[:, :a, :, :])

    return rpn_loss_cls_fixed_num
