"""decode clamping raw w, h at log(1000/16) before the exponential, as torchvision's box coder does."""

from typing import Any

import numpy as np

TARGETS = ("decode", "compute_loss")
CATEGORIES = ("value", "gradient")
DESCRIPTION = "e^min(t, log(1000/16)) · anchor · stride instead of e^t · anchor · stride (boxes capped at 62.5 anchors)"
KIND = "clip-bound"


def box_size(self: Any, raw_wh: Any, anchors: Any, stride: Any) -> Any:
    o = self.ops
    return o.exp(self.minimum(raw_wh, o.full_like(raw_wh, float(np.log(1000.0 / 16.0))))) * anchors * stride
