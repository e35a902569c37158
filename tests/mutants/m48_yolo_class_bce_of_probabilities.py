"""YOLOv3's class loss as the Keras BCE of the sigmoid probabilities instead of the SCE of the raw logits."""

from typing import Any

TARGETS = ("loss_layer", "compute_loss")
CATEGORIES = ("value", "gradient")
DESCRIPTION = ("−(z·log P + (1−z)·log(1−P)), P = clip(σ(raw), 1e-7, 1 − 1e-7), instead of "
               "sigmoid_cross_entropy_with_logits(z, raw): equal for moderate logits, apart for confident ones")
KIND = "precision"


def yolo_class_loss(self: Any, label_prob: Any, raw_prob: Any, pred_prob: Any) -> Any:
    o = self.ops
    p = self.clip_prob(pred_prob, 1e-7)
    return -(label_prob * o.log(p) + (1 - label_prob) * o.log(1 - p))
