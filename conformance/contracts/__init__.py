"""One record per contract name: how to draw inputs, call the impl, and judge it.

Adding a loss means one oracle function, one :class:`Contract` here and one
strategy; the checks are generic over this registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

import oracle
from conformance.contracts import centernet as s_cn
from conformance.contracts import frcnn as s_fr
from conformance.contracts import nn as s_nn
from conformance.contracts import yolov3 as s_yo
from conformance.numerics.dtypes import info
from conformance.numerics.tolerance import TOLERANCES, Tolerance, box_near_kinks, yolo_near_kinks
from oracle import yolov3 as o_yolo

FAMILIES = ("nn", "frcnn", "yolov3", "centernet")


@dataclass(frozen=True)
class Contract:
    """Everything the generic checks need to know about one contract name."""

    name: str
    family: str
    strategy: Callable[[], st.SearchStrategy[dict]]
    call: Callable[[Callable, dict], Any]
    float_args: tuple[str, ...]
    grad_args: tuple[str, ...]
    int_args: tuple[str, ...] = ()
    to_oracle: Callable[[dict], dict] = field(default=lambda ex: dict(ex))
    oracle_wrt: Callable[[str], str] = field(default=lambda k: k)
    conventions: bool = False
    divergences: tuple[str, ...] = ()
    constants_dtype: bool = False
    n_outputs: int = 1
    ambiguous: Callable[[dict, str], bool] | None = None
    near_kinks: Callable[[dict, str, str], Any] | None = None

    @property
    def oracle(self) -> oracle.OracleSpec:
        return oracle.spec(self.name)

    @property
    def tolerance(self) -> Tolerance:
        return TOLERANCES[self.name]

    def expected(self, ex: dict, **extra: Any) -> Any:
        return oracle.evaluate(self.name, **self.to_oracle(ex), **extra)

    def expected_vjp(self, ex: dict, cot: Any, wrt: str, **extra: Any) -> Any:
        return oracle.vjp(self.name, cot, self.oracle_wrt(wrt), **self.to_oracle(ex), **extra)

    def kinks(self, ex: dict, wrt: str, **extra: Any) -> Any:
        return oracle.kinks(self.name, self.oracle_wrt(wrt), **self.to_oracle(ex), **extra)


def _axis_kw(a: dict) -> dict:
    return {} if a.get("axis", -1) == -1 else {"axis": a["axis"]}


def _bgd_margin(dtype: str) -> float:
    """Margin to iou_loss_thresh below which a rounded max_iou may land on the other side (docs/tolerances.md)."""
    return min(256 * info(dtype).unit_roundoff, 0.05)


def _layer_ambiguous(ex: dict, dtype: str) -> bool:
    m = o_yolo.threshold_margin(ex["conv"], ex["label"], ex["bboxes"], ex["anchors"], ex["stride"], ex["num_class"],
                                ex["iou_loss_thresh"])
    return not m > _bgd_margin(dtype)


def _compute_ambiguous(ex: dict, dtype: str) -> bool:
    return any(
        not o_yolo.threshold_margin(c, lab, bb, an, st_, ex["num_class"], ex["iou_loss_thresh"]) > _bgd_margin(dtype)
        for c, lab, bb, an, st_ in zip(ex["convs"], ex["labels"], ex["bboxes"], ex["anchors"], ex["strides"],
                                       strict=True))


def _args_to_oracle(ex: dict) -> dict:
    keys = ("hm_pred", "wh_pred", "reg_pred", "hm_true", "wh_true", "reg_true", "reg_mask", "indices")
    return {"args": [ex[k] for k in keys]}


_CONTRACTS = [
    # family nn
    Contract("sigmoid", "nn", s_nn.sigmoid, lambda f, a: f(a["x"]), ("x",), ("x",)),
    Contract("softmax", "nn", s_nn.softmax, lambda f, a: f(a["logits"], **_axis_kw(a)), ("logits",), ("logits",)),
    Contract("sigmoid_cross_entropy_with_logits", "nn", s_nn.sigmoid_cross_entropy_with_logits,
             lambda f, a: f(labels=a["labels"], logits=a["logits"]), ("labels", "logits"), ("logits",)),
    Contract("weighted_cross_entropy_with_logits", "nn", s_nn.weighted_cross_entropy_with_logits,
             lambda f, a: f(labels=a["labels"], logits=a["logits"], pos_weight=a["pos_weight"]),
             ("labels", "logits"), ("logits",)),
    Contract("softmax_cross_entropy_with_logits", "nn", s_nn.softmax_cross_entropy_with_logits,
             lambda f, a: f(labels=a["labels"], logits=a["logits"], **_axis_kw(a)), ("labels", "logits"),
             ("logits",)),
    Contract("sparse_softmax_cross_entropy_with_logits", "nn", s_nn.sparse_softmax_cross_entropy_with_logits,
             lambda f, a: f(labels=a["labels"], logits=a["logits"]), ("logits",), ("logits",), int_args=("labels",)),
    Contract("binary_crossentropy", "nn", s_nn.binary_crossentropy, lambda f, a: f(a["target"], a["output"]),
             ("target", "output"), ("output",), conventions=True, constants_dtype=True),
    Contract("categorical_crossentropy", "nn", s_nn.categorical_crossentropy,
             lambda f, a: f(a["target"], a["output"], **_axis_kw(a)), ("target", "output"), ("output",),
             conventions=True, constants_dtype=True),
    Contract("entropy", "nn", s_nn.entropy, lambda f, a: f(a["p"], **_axis_kw(a)), ("p",), ("p",)),
    Contract("kl_divergence", "nn", s_nn.kl_divergence, lambda f, a: f(a["p"], a["q"], **_axis_kw(a)),
             ("p", "q"), ("p", "q")),
    Contract("smooth_l1", "nn", s_nn.smooth_l1, lambda f, a: f(a["x"]), ("x",), ("x",)),
    # family frcnn
    Contract("rpn_loss_regr", "frcnn", s_fr.rpn_loss_regr, lambda f, a: f(a["num_anchors"])(a["y_true"], a["y_pred"]),
             ("y_true", "y_pred"), ("y_pred",)),
    Contract("rpn_loss_cls", "frcnn", s_fr.rpn_loss_cls, lambda f, a: f(a["num_anchors"])(a["y_true"], a["y_pred"]),
             ("y_true", "y_pred"), ("y_pred",), conventions=True, constants_dtype=True,
             divergences=("FRCNN-SWAPPED-BCE", "FRCNN-NORM-AXIS")),
    Contract("class_loss_regr", "frcnn", s_fr.class_loss_regr,
             lambda f, a: f(a["num_classes"])(a["y_true"], a["y_pred"]), ("y_true", "y_pred"), ("y_pred",)),
    Contract("class_loss_cls", "frcnn", s_fr.class_loss_cls, lambda f, a: f(a["y_true"], a["y_pred"]),
             ("y_true", "y_pred"), ("y_pred",), conventions=True, constants_dtype=True),
    # family yolov3
    Contract("decode", "yolov3", s_yo.decode,
             lambda f, a: f(a["conv_output"], a["anchors"], a["stride"], a["num_class"]), ("conv_output",),
             ("conv_output",)),
    *[Contract(n, "yolov3", getattr(s_yo, n), lambda f, a: f(a["boxes1"], a["boxes2"]), ("boxes1", "boxes2"),
               ("boxes1", "boxes2"), near_kinks=box_near_kinks)
      for n in ("bbox_iou", "bbox_giou", "iou_loss", "giou_loss")],
    Contract("focal", "yolov3", s_yo.focal,
             lambda f, a: f(a["target"], a["actual"], alpha=a["alpha"], gamma=a["gamma"]), ("target", "actual"),
             ("actual",)),
    Contract("loss_layer", "yolov3", s_yo.loss_layer,
             lambda f, a: f(a["conv"], a["pred"], a["label"], a["bboxes"], a["anchors"], a["stride"], a["num_class"],
                            a["iou_loss_thresh"]),
             ("conv", "label", "bboxes"), ("conv",), n_outputs=3, ambiguous=_layer_ambiguous,
             near_kinks=yolo_near_kinks),
    Contract("compute_loss", "yolov3", s_yo.compute_loss,
             lambda f, a: f(a["convs"], a["labels"], a["bboxes"], a["anchors"], a["strides"], a["num_class"],
                            a["iou_loss_thresh"]),
             ("convs", "labels", "bboxes"), ("convs",), n_outputs=3, ambiguous=_compute_ambiguous,
             near_kinks=yolo_near_kinks),
    # family centernet
    Contract("focal_loss", "centernet", s_cn.focal_loss, lambda f, a: f(a["hm_pred"], a["hm_true"]),
             ("hm_pred", "hm_true"), ("hm_pred",), constants_dtype=True),
    Contract("reg_l1_loss", "centernet", s_cn.reg_l1_loss,
             lambda f, a: f(a["y_pred"], a["y_true"], a["indices"], a["mask"]), ("y_pred", "y_true", "mask"),
             ("y_pred",), int_args=("indices",)),
    Contract("loss", "centernet", s_cn.loss,
             lambda f, a: f([a[k] for k in ("hm_pred", "wh_pred", "reg_pred", "hm_true", "wh_true", "reg_true",
                                           "reg_mask", "indices")]),
             ("hm_pred", "wh_pred", "reg_pred", "hm_true", "wh_true", "reg_true", "reg_mask"),
             ("hm_pred", "wh_pred", "reg_pred"), int_args=("indices",), to_oracle=_args_to_oracle,
             constants_dtype=True),
]

REGISTRY: dict[str, Contract] = {c.name: c for c in _CONTRACTS}
NAMES: tuple[str, ...] = tuple(REGISTRY)
