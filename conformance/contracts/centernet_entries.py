"""The contract page's entries of family ``centernet`` (see :mod:`conformance.contracts.entry`)."""

from __future__ import annotations

from conformance.contracts.entry import Constant, Entry

EPS_C = Constant("ε_c", "oracle.centernet.EPSILON_C",
                 "the log clip of the focal loss, taken in the dtype under test")
ALPHA = Constant("α", "oracle.centernet.ALPHA", "the power of the prediction's focusing weight")
BETA = Constant("β", "oracle.centernet.BETA", "the power of the heatmap's negative weight")
EPS = Constant("ε", "oracle.centernet.EPSILON", "the normaliser's epsilon, added once in total")
WH = Constant("w_wh", "oracle.centernet.WH_WEIGHT", "the weight of the size (wh) regression term")
_SCALAR = "a scalar: shape (), the dtype of the float inputs"
_GATHER = ("The gather reads the flattened grid row-major: index i is row ⌊i / W⌋, column i mod W. An index "
           "outside [0, H·W) is bad input: raise or return NaN (CN-GATHER-RANGE); a gather that clamps, wraps or "
           "reads zeros fails.")

FOCAL = Entry(
    ("pos = [y = 1],  neg = [y < 1]   (an element of y above 1 is neither)",
     "pos_loss = Σ −log(clip(p, ε_c, 1))·(1 − p)^α·pos",
     "neg_loss = Σ −log(clip(1 − p, ε_c, 1))·p^α·(1 − y)^β·neg",
     "n_pos = Σ pos",
     "L = (pos_loss + neg_loss) / n_pos if n_pos > 0, else neg_loss"),
    symbols=(("p", "`hm_pred`, probabilities, shape (B, H, W, K)"),
             ("y", "`hm_true`, the Gaussian-splatted heatmap in [0, 1], shape (B, H, W, K)"),
             ("pos, neg", "the positive and negative masks (0/1), shape (B, H, W, K)"),
             ("pos_loss, neg_loss", "the two sums, over every element (batch included)"),
             ("n_pos", "the number of positives in the whole batch")),
    constants=(ALPHA, BETA, EPS_C),
    output=_SCALAR, reduction="every Σ runs over all elements, batch included; one normaliser for the batch",
    broadcasting="no broadcasting: `hm_pred` and `hm_true` have the same shape (B, H, W, K)",
    layout="channels last: K heatmap classes on the last axis",
    gradient="with respect to `hm_pred`; clip passes the gradient for ε_c ≤ value ≤ 1 (bounds included), 0 outside; "
             "the masks and n_pos carry none",
    notes=("The total is pos_loss + neg_loss: the documents' prose writes \"loss − neg_loss\" where the code adds "
           "(CN-NEG-SIGN); with no positive the loss is +neg_loss.",))

REG_L1 = Entry(
    ("g = gather(reshape(y_pred, (B, H·W, 2)), indices), shape (B, K, 2):  "
     "g[b, k, :] = y_pred_flat[b, indices[b, k], :]",
     "M = mask repeated over the 2 channels, shape (B, K, 2)",
     "L = Σ |y_true·M − g·M| / (Σ M + ε)"),
    symbols=(("g", "the predictions gathered at the object centres"), ("M", "the tiled mask (0/1)"),
             ("y_pred_flat", "`y_pred` reshaped to (B, H·W, 2)"), ("b", "the batch index"),
             ("k", "the object slot, 0 ≤ k < K"), ("K", "the number of object slots (axis 1 of `indices`)")),
    constants=(EPS,),
    output=_SCALAR, reduction="every Σ runs over all elements, batch included",
    broadcasting="no broadcasting: shapes exactly as given; `y_pred` has exactly 2 channels (CN-TWO-CHANNELS)",
    layout="y_pred: (B, H, W, 2) channels last; y_true: (B, K, 2); indices: (B, K) integers; mask: (B, K) 0/1. "
           + _GATHER,
    gradient="with respect to `y_pred`: sign(g − y_true)·M / (Σ M + ε) scattered back to the gathered positions "
             "(duplicate indices accumulate); at g = y_true any subgradient in [−1, 1] is accepted",
    notes=("ε is added once (Σ M + ε), unlike Faster R-CNN's once per element.",))

ENTRIES = {
    "focal_loss": FOCAL,
    "reg_l1_loss": REG_L1,
    "loss": Entry(
        ("L = focal_loss(hm_pred, hm_true) + w_wh·reg_l1_loss(wh_pred, wh_true, indices, reg_mask) "
         "+ reg_l1_loss(reg_pred, reg_true, indices, reg_mask)",),
        constants=(WH,),
        output=_SCALAR,
        broadcasting="no broadcasting (as focal_loss and reg_l1_loss)",
        layout="one argument: the list [hm_pred, wh_pred, reg_pred, hm_true, wh_true, reg_true, reg_mask, indices] "
               "in this order; hm_pred, hm_true: (B, H, W, K); wh_pred, reg_pred: (B, H, W, 2); wh_true, reg_true: "
               "(B, K, 2); reg_mask, indices: (B, K)",
        gradient="with respect to hm_pred, wh_pred and reg_pred, as the terms'",
        notes=("focal_loss and reg_l1_loss as their own entries, with their constants: "
               "[focal_loss](#focal_loss), [reg_l1_loss](#reg_l1_loss).",)),
}
