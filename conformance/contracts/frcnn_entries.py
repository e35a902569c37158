"""The contract page's entries of family ``frcnn`` (see :mod:`conformance.contracts.entry`)."""

from __future__ import annotations

from conformance.contracts.entry import Constant, Entry
from conformance.contracts.nn_entries import EPS_K

EPS = Constant("ε", "oracle.frcnn.EPSILON", "the normaliser's epsilon, added once per element of the mask")
_SCALAR = "a scalar: shape (), the dtype of `y_pred`"
_CLOSURE = ("a closure: the outer call fixes a size and returns the loss function of (y_true, y_pred); "
            "channels last (NHWC) only")
_NO_BROADCAST = ("no broadcasting: `y_true` and `y_pred` share every axis but the last, whose sizes the layout "
                 "fixes; anything else is bad input (raise, or return NaN)")
_EPS_NOTE = ("Σ(ε + m) = Σ m + ε·numel(m): ε is added once per element of the mask, not once in total "
             "(FRCNN-EPS-PER-ELEMENT); with the mask all zero the loss is exactly 0.")


def _regr(lam: str, size: str, mask_shape: str) -> Entry:
    return Entry(
        (f"L = {lam}·Σ m·smooth_l1(t − y_pred) / Σ(ε + m)",
         "smooth_l1(d) = 0.5·d² if |d| ≤ 1, else |d| − 0.5"),
        symbols=(("m", f"the mask, y_true[..., :4{size}], shape {mask_shape}, 0/1"),
                 ("t", f"the regression targets, y_true[..., 4{size}:], shape {mask_shape}"),
                 ("d", "an element of t − y_pred")),
        constants=(Constant(lam, f"oracle.frcnn.LAMBDA_{'RPN' if size == 'A' else 'CLS'}_REGR",
                            "the loss weight"), EPS),
        output=_SCALAR, reduction="Σ runs over every element (batch included)", broadcasting=_NO_BROADCAST,
        layout=_CLOSURE, gradient="with respect to `y_pred`: −λ·m·smooth_l1′(t − y_pred) / Σ(ε + m), "
                                  "smooth_l1′(d) = d if |d| ≤ 1 else sign(d) (no kink at |d| = 1)",
        notes=(_EPS_NOTE,))


ENTRIES = {
    "rpn_loss_regr": _regr("λ_rpn_regr", "A", "(B, H, W, 4A)"),
    "rpn_loss_cls": Entry(
        ("L = λ_rpn_class·Σ v·BCE(z, y_pred) / Σ(ε + v)",),
        symbols=(("BCE(z, p)", "[binary_crossentropy](#binary_crossentropy)(target = z, output = p): elementwise, "
                               "P = clip(p, ε_k, 1 − ε_k), either clipping convention"),
                 ("v", "y_true[..., :A], 1 where the anchor is used (0/1), shape (B, H, W, A)"),
                 ("z", "y_true[..., A:], the objectness labels (0/1), shape (B, H, W, A)"),
                 ("p", "the probability argument of BCE")),
        constants=(Constant("λ_rpn_class", "oracle.frcnn.LAMBDA_RPN_CLASS", "the loss weight"), EPS, EPS_K),
        output=_SCALAR, reduction="Σ runs over every element (batch included)", broadcasting=_NO_BROADCAST,
        layout=_CLOSURE, gradient="with respect to `y_pred`: the BCE gradient (0 outside [ε_k, 1 − ε_k]) times "
                                  "λ_rpn_class·v / Σ(ε + v)",
        notes=(_EPS_NOTE,
               "The label is BCE's target and y_pred its output; the documents swap them (FRCNN-SWAPPED-BCE) and "
               "sum the normaliser over y_true[:, :A, :, :] (FRCNN-NORM-AXIS): both are divergences, not the "
               "contract.")),
    "class_loss_regr": _regr("λ_cls_regr", "C", "(B, R, 4C)"),
    "class_loss_cls": Entry(
        ("L = λ_cls_class·(1/R)·Σ_r CCE(y_true[0, r, :], y_pred[0, r, :])",),
        symbols=(("CCE(t, p)", "[categorical_crossentropy](#categorical_crossentropy)(target = t, output = p, "
                               "axis = −1): −Σ_i t_i·log clip(p_i / Σ_j p_j, ε_k, 1 − ε_k)"),
                 ("r", "the RoI index, 0 ≤ r < R"), ("R", "the number of RoIs (axis 1)"),
                 ("t", "a one-hot target row"), ("p", "a row of class probabilities")),
        constants=(Constant("λ_cls_class", "oracle.frcnn.LAMBDA_CLS_CLASS", "the loss weight"), EPS_K),
        output=_SCALAR, reduction="the mean over the R RoIs of batch element 0; batch elements 1… do not count",
        broadcasting="no broadcasting: `y_true` and `y_pred` have the same shape (B, R, K)",
        gradient="with respect to `y_pred`: the CCE gradient of each row of batch element 0 times λ_cls_class/R; 0 "
                 "for the other batch elements",
        notes=("Only batch element 0 contributes (FRCNN-BATCH0: the documents' code, trained with B = 1, is the "
               "contract).",)),
}
