"""RPN regression loss reshaping y_pred per anchor with H and W swapped."""

from collections.abc import Callable
from typing import Any

from conformance.targets.catalogue import LAMBDA_RPN_REGR

TARGETS = ("rpn_loss_regr",)
CATEGORIES = ("value", "gradient")
DESCRIPTION = ("per-anchor view of y_pred as (B, W, H, A, 4) against y_true's (B, H, W, A, 4): right on square "
               "maps; on non-square ones a silent broadcast (H or W = 1) or a shape error")
KIND = "non-square"


def rpn_loss_regr(self: Any, num_anchors: int) -> Callable[[Any, Any], Any]:
    o = self.ops
    a = int(num_anchors)

    def rpn_loss_regr_fixed_num(y_true: Any, y_pred: Any) -> Any:
        y_true, y_pred = self.frcnn_pair(y_true, y_pred, 4, (8 * a, "8*A"), (4 * a, "4*A"))
        _, rows, cols, _ = o.shape(y_true)
        m = o.reshape(y_true[..., :4 * a], (-1, rows, cols, a, 4))
        t = o.reshape(y_true[..., 4 * a:], (-1, rows, cols, a, 4))
        pred = o.reshape(y_pred, (-1, cols, rows, a, 4))
        num = o.sum(m * self.smooth_l1(t - pred))
        return o.const(LAMBDA_RPN_REGR, o.dtype(y_pred)) * num / self.eps_normaliser(m)

    return rpn_loss_regr_fixed_num
