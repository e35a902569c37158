"""GIoU's enclosing box treated as a constant of the centres: the loss_layer's GIoU gradient loses a term."""

from typing import Any

TARGETS = ("loss_layer",)
CATEGORIES = ("gradient",)
DESCRIPTION = ("the enclosing extent max(a1, a2, (a1 + a2)/2 + |c1 − c2|) with |c1 − c2| under stop_gradient: "
               "the same values, but the enclosure no longer pulls the predicted centre towards the label's")
KIND = "gradient-only"


def span(self: Any, c1: Any, a1: Any, c2: Any, a2: Any) -> Any:
    o = self.ops
    return self.maximum(self.maximum(a1, a2), (a1 + a2) * 0.5 + o.stop_gradient(o.abs(c1 - c2)))
