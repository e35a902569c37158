"""The YOLOv3 loss's form, step by step, for its running error bound (:mod:`conformance.numerics.form_bounds`; the
arithmetic ``d`` as in :mod:`conformance.numerics.box_forms`).

One scale (``loss_layer``), as the documents compute it from the raw output: decode (σ of the offsets plus the grid
times the stride; e^raw times the anchor times the stride), GIoU against the label box, the box-loss scale
2 − w·h/size², the confidence's focal weight |r − σ(conf)|² and sigmoid cross-entropies (in any of their forms), the
background mask (max IoU against the image's true boxes below the threshold: decided on the exact values, the
checks keep examples away from the threshold), sums over each image and the mean over the batch.  ``compute_loss``
adds the three scales' outputs.  The three outputs are bounded as one vector (giou, conf, prob).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.numerics.bounds import exact
from conformance.numerics.box_forms import giou
from conformance.numerics.crossentropy_forms import sce_forms
from oracle.maxiou import screened_max_iou


def _background(pred: Any, bboxes: np.ndarray, thresh: float) -> np.ndarray:
    """max IoU(pred, the image's true boxes) < thresh, on the exact values of ``pred`` (the oracle's exact maximum),
    computed once per example and kept: every form of the loss, value and gradient alike, asks for the same."""
    p, b = exact(pred), np.asarray(bboxes, dtype=np.float64)
    key = (p.shape, p.tobytes(), b.shape, b.tobytes(), float(thresh))
    if key not in _MASKS:
        _MASKS[key] = screened_max_iou(p, b)[..., None] < thresh
        while len(_MASKS) > 8:
            _MASKS.pop(next(iter(_MASKS)))
    return _MASKS[key]


_MASKS: dict[tuple, np.ndarray] = {}


def _layer(d: Any, sce: Any, conv: Any, label: Any, bboxes: Any, anchors: Any, stride: Any, num_class: Any,
           thresh: Any) -> list[Any]:
    """One scale's (giou_loss, conf_loss, prob_loss), each a scalar; ``conv`` in the arithmetic ``d``, its sigmoid
    cross-entropies by ``sce`` (one of their forms)."""
    label, bboxes = (np.asarray(v, dtype=np.float64) for v in (label, bboxes))
    b, s, a, n = exact(conv).shape[0], exact(conv).shape[1], np.shape(anchors)[0], int(num_class)
    raw, lab = conv.reshape((b, s, s, a, 5 + n)), d.a(label)
    grid = np.zeros((1, s, s, 1, 2))
    grid[..., 0], grid[..., 1] = np.arange(s)[None, None, :, None], np.arange(s)[None, :, None, None]
    xy = d.f(d.f(d.sigmoid(raw[..., 0:2]) + d.c(grid)) * d.c(float(stride)))
    wh = d.f(d.f(d.exp(raw[..., 2:4]) * d.c(np.asarray(anchors, dtype=np.float64))) * d.c(float(stride)))
    pred = d.concat([xy, wh], -1)
    one, r = d.c(1.0), lab[..., 4:5]
    size = float(stride) * s
    scale = d.f(d.c(2.0) - d.f(d.f(lab[..., 2:3] * lab[..., 3:4]) / d.c(size * size)))
    giou_el = d.f(d.f(r * scale) * d.f(one - giou(d, pred, lab[..., 0:4])[..., None]))
    bgd = d.f(d.f(one - r) * d.c(_background(pred, bboxes, float(thresh)).astype(np.float64)))
    focal = d.pow(d.abs(d.f(r - d.sigmoid(raw[..., 4:5]))), 2.0)
    conf_sce = sce(d, r, raw[..., 4:5])
    conf_el = d.f(focal * d.f(d.f(r * conf_sce) + d.f(bgd * conf_sce)))
    prob_el = d.f(r * sce(d, lab[..., 5:], raw[..., 5:]))
    return [d.f(d.sum(d.sum(el, (1, 2, 3, 4)), 0) / d.c(float(b)))[(0,) * 5] for el in (giou_el, conf_el, prob_el)]


def _loss_layer(sce: Any) -> Any:
    def form(d: Any, conv: Any, label: Any, bboxes: Any, anchors: Any, stride: Any, num_class: Any, thresh: Any) -> Any:
        return d.stack(_layer(d, sce, conv, label, bboxes, anchors, stride, num_class,
                              0.5 if thresh is None else thresh))

    return form


def _compute_loss(sce: Any) -> Any:
    def form(d: Any, convs: Any, labels: Any, bboxes: Any, anchors: Any, strides: Any, num_class: Any,
             thresh: Any) -> Any:
        scales = [_layer(d, sce, c, lab, bb, an, st, num_class,
                         0.5 if thresh is None else thresh)
                  for c, lab, bb, an, st in zip(convs, labels, bboxes, anchors, strides, strict=True)]
        return d.stack([d.f(d.f(x + y) + z) for x, y, z in zip(*scales, strict=True)])

    return form


# every form of the sigmoid cross-entropy, one per form of the loss (an implementation computes them one way)
FORMS = {"loss_layer": (("conv",), ("label", "bboxes", "anchors", "stride", "num_class", "iou_loss_thresh"),
                        [_loss_layer(f) for f in sce_forms()]),
         "compute_loss": (("convs",), ("labels", "bboxes", "anchors", "strides", "num_class", "iou_loss_thresh"),
                          [_compute_loss(f) for f in sce_forms()])}
