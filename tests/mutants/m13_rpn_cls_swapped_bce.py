"""RPN objectness loss calling binary_crossentropy(y_pred, labels) (FRCNN-SWAPPED-BCE)."""

from collections.abc import Callable
from typing import Any

from conformance.targets.catalogue import LAMBDA_RPN_CLASS

TARGETS = ("rpn_loss_cls",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = "BCE arguments swapped: the prediction becomes the target and the 0/1 label the clipped output"
KIND = "divergence"


def rpn_loss_cls(self: Any, num_anchors: int) -> Callable[[Any, Any], Any]:
    o = self.ops
    a = int(num_anchors)

    def rpn_loss_cls_fixed_num(y_true: Any, y_pred: Any) -> Any:
        y_true, y_pred = self.frcnn_pair(y_true, y_pred, 4, (2 * a, "2*A"), (a, "A"))
        v = y_true[..., :a]
        num = o.sum(v * self.binary_crossentropy(y_pred, y_true[..., a:]))
        return o.const(LAMBDA_RPN_CLASS, o.dtype(y_pred)) * num / self.eps_normaliser(v)

    return rpn_loss_cls_fixed_num
