"""Fixed examples pinned for every run: the documents' typical sizes and known hard cases.

They are built from a seeded NumPy generator, so they are identical on every run and
need no Hypothesis draw.  Hypothesis runs them first (``@example``) before generating.
"""

from __future__ import annotations

import numpy as np


def _rng(tag: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, tag)))


def _mask(rng: np.random.Generator, shape: tuple[int, ...], p: float = 0.3) -> np.ndarray:
    return (rng.random(shape) < p).astype(np.float64)


def _frcnn() -> dict[str, list[dict]]:
    rng = _rng("frcnn")
    a, h, w = 9, 38, 50  # the documents' VGG-16 feature map for a 600 x 800 image, 9 anchors
    m = _mask(rng, (1, h, w, 4 * a), 0.05)
    regr = {"num_anchors": a, "y_true": np.concatenate([m, rng.normal(size=(1, h, w, 4 * a))], -1),
            "y_pred": rng.normal(size=(1, h, w, 4 * a))}
    v = _mask(rng, (1, h, w, a), 0.2)
    cls = {"num_anchors": a, "y_true": np.concatenate([v, _mask(rng, (1, h, w, a), 0.5)], -1),
           "y_pred": rng.random((1, h, w, a))}
    # hard case: batch 2 with an all-zero first element (normaliser = eps * numel only)
    cls2 = {"num_anchors": 3, "y_true": np.concatenate([np.zeros((2, 2, 3, 3)), _mask(rng, (2, 2, 3, 3))], -1),
            "y_pred": np.array([0.0, 1.0, 1e-9, 1 - 1e-9, 0.5, 0.25] * 6).reshape(2, 2, 3, 3)}
    c = 20  # PASCAL VOC
    mc = np.zeros((1, 32, 4 * c))
    mc[0, np.arange(32), 4 * (np.arange(32) % c)] = 1
    creg = {"num_classes": c, "y_true": np.concatenate([mc, rng.normal(size=(1, 32, 4 * c))], -1),
            "y_pred": rng.normal(size=(1, 32, 4 * c))}
    k = c + 1
    ccls = {"y_true": np.eye(k)[rng.integers(0, k, (2, 32))], "y_pred": rng.dirichlet(np.ones(k), (2, 32))}
    return {"rpn_loss_regr": [regr], "rpn_loss_cls": [cls, cls2], "class_loss_regr": [creg],
            "class_loss_cls": [ccls]}


def _yolo() -> dict[str, list[dict]]:
    rng = _rng("yolo")
    n, a, s, stride, m = 80, 3, 13, 32, 150  # COCO, 416 input, the coarse scale
    anchors = np.array([[3.625, 2.8125], [4.875, 6.1875], [11.65625, 10.1875]])
    conv = rng.normal(scale=0.5, size=(1, s, s, a * (5 + n)))
    r = _mask(rng, (1, s, s, a, 1), 0.02)
    xy = rng.random((1, s, s, a, 2)) * 416
    wh = 8 + rng.random((1, s, s, a, 2)) * 200
    label = np.concatenate([xy, wh, r, r * np.eye(n)[rng.integers(0, n, (1, s, s, a))]], -1)
    boxes = np.concatenate([rng.random((1, m, 2)) * 416, 8 + rng.random((1, m, 2)) * 200], -1)
    boxes[:, 20:] = 0.0  # zero padding beyond the image's 20 objects
    layer = {"conv": conv, "label": label, "bboxes": boxes, "anchors": anchors, "stride": stride, "num_class": n,
             "iou_loss_thresh": 0.5}
    dec = {"conv_output": conv, "anchors": anchors, "stride": stride, "num_class": n}
    b = np.array([[10.0, 10.0, 4.0, 6.0], [0.0, 0.0, 0.0, 5.0], [1e6, 1e6, 3.0, 3.0], [5.0, 5.0, -2.0, 4.0]])
    pair = {"boxes1": b, "boxes2": np.array([[10.0, 10.0, 4.0, 6.0], [1.0, 0.0, 2.0, 5.0],
                                             [1e6 + 1, 1e6, 3.0, 3.0], [5.0, 5.0, 2.0, 4.0]])}
    return {"decode": [dec], "loss_layer": [layer], "bbox_iou": [pair], "bbox_giou": [pair], "iou_loss": [pair],
            "giou_loss": [pair]}


def _centernet() -> dict[str, list[dict]]:
    rng = _rng("centernet")
    b, h, w, c, k = 1, 128, 128, 80, 100
    hm = rng.random((b, h, w, c)) ** 8
    idx = rng.integers(0, h * w, (b, k))
    hm.reshape(b, h * w, c)[0, idx[0], rng.integers(0, c, k)] = 1.0
    mask = (np.arange(k) < 30).astype(np.float64)[None]
    fl = {"hm_pred": rng.random((b, h, w, c)) * 0.5, "hm_true": hm}
    reg = {"y_pred": rng.random((b, h, w, 2)) * 40, "y_true": rng.random((b, k, 2)) * 40, "indices": idx,
           "mask": mask}
    no_pos = {"hm_pred": rng.random((2, 3, 5, 2)), "hm_true": rng.random((2, 3, 5, 2)) * 0.9}
    return {"focal_loss": [fl, no_pos], "reg_l1_loss": [reg]}


PINNED: dict[str, list[dict]] = {**_frcnn(), **_yolo(), **_centernet()}


def pinned(name: str) -> list[dict]:
    """The fixed examples for contract ``name`` (possibly none)."""
    return PINNED.get(name, [])
