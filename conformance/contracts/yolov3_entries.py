"""The contract page's entries of family ``yolov3`` (see :mod:`conformance.contracts.entry`)."""

from __future__ import annotations

from conformance.contracts.entry import Constant, Entry

FOCAL_ALPHA = Constant("α", "oracle.focal_weight.focal(alpha)", "focal's default weight")
FOCAL_GAMMA = Constant("γ", "oracle.focal_weight.focal(gamma)", "focal's default power")
BOX_SCALE = Constant("s_0", "oracle.yolov3.BOX_SCALE", "the base of the GIoU term's box-size weight")
THRESH = Constant("τ_default", "oracle.yolov3.loss_layer(iou_loss_thresh)",
                  "the documents' IOU_LOSS_THRESH (the suite always passes `iou_loss_thresh`)")

_BOX_BROADCAST = ("boxes1 (..., 4) and boxes2 (..., 4) broadcast over their leading axes (NumPy rules; the documents' "
                  "loss_layer relies on it: (B, S, S, A, 1, 4) against (B, 1, 1, 1, M, 4)); the last axis is always "
                  "4. The suite draws equal shapes and checks (category badinput, case `broadcast`) that a value "
                  "returned for shapes that differ is the broadcast one (raising there is tolerated)")
_BOX_OUT = ("the broadcast leading shape: (...,), the last axis (4) reduced and not kept; the dtype of the boxes")
_BOX = (("x_1, y_1, w_1, h_1", "boxes1[..., 0], [..., 1], [..., 2], [..., 3]: centre, width, height"),
        ("x_2, y_2, w_2, h_2", "the same of boxes2"))
_CORNERS = ("l_k = x_k − w_k/2,  r_k = x_k + w_k/2,  b_k = y_k − h_k/2,  t_k = y_k + h_k/2   (k = 1, 2)",)
_CORNER_SYMBOLS = (("l_k, r_k", "box k's left and right edge"), ("b_k, t_k", "box k's bottom and top edge"),
                   ("k", "1 or 2, the box"))
_RAW_IOU = (*_CORNERS,
            "I = max(min(r_1, r_2) − max(l_1, l_2), 0)·max(min(t_1, t_2) − max(b_1, b_2), 0)",
            "U = w_1·h_1 + w_2·h_2 − I   (areas from the raw w, h: negative for a negative w or h)",
            "IoU = I / U")
_IOU_SYMBOLS = (*_BOX, *_CORNER_SYMBOLS, ("I", "the intersection area"), ("U", "the union area"),
                ("IoU", "the intersection over union"))
_SORTED = (*_CORNERS,
           "l_k, r_k ← min(l_k, r_k), max(l_k, r_k);  b_k, t_k ← min(b_k, t_k), max(b_k, t_k)   (corners re-sorted)",
           "I = max(min(r_1, r_2) − max(l_1, l_2), 0)·max(min(t_1, t_2) − max(b_1, b_2), 0)",
           "U = (r_1 − l_1)·(t_1 − b_1) + (r_2 − l_2)·(t_2 − b_2) − I   (areas from the sorted corners)",
           "E = max(max(r_1, r_2) − min(l_1, l_2), 0)·max(max(t_1, t_2) − min(b_1, b_2), 0)",
           "GIoU = I/U − (E − U)/E")
_GIOU_SYMBOLS = (*_IOU_SYMBOLS[:-1], ("E", "the area of the smallest box enclosing both"),
                 ("GIoU", "the generalised IoU"))
_DIOU = ("ρ² = (x_1 − x_2)² + (y_1 − y_2)²",
         "c² = (max(r_1, r_2) − min(l_1, l_2))² + (max(t_1, t_2) − min(b_1, b_2))²")
_DIOU_SYMBOLS = (("ρ²", "the squared distance of the centres"),
                 ("c²", "the squared diagonal of the smallest box enclosing both"))
_ZERO = ("U = 0 or E = 0 (degenerate boxes) gives 0/0: undefined, a hazard, not judged (YOLO-ZERO-UNION).",)
_BOX_GRAD = ("with respect to both boxes (the broadcast gradient summed back to each argument's shape); at the kinks "
             "of min and max (equal edges) any subgradient is accepted")


def _box(formula: tuple[str, ...], symbols: tuple, notes: tuple[str, ...] = _ZERO, **kw) -> Entry:
    return Entry(formula, symbols=symbols, output=_BOX_OUT, broadcasting=_BOX_BROADCAST,
                 layout="boxes are (x, y, w, h): centre, width, height, in input-image pixels",
                 gradient=_BOX_GRAD, notes=notes, **kw)


_NONNEG = "w, h ≥ 0 (boxes2 the ground truth); negative extents are outside the contract and not drawn"

DECODE = Entry(
    ("r = reshape(conv_output, (B, S, S, A, 5 + N))",
     "x = (σ(r[..., 0]) + g_x)·stride,  y = (σ(r[..., 1]) + g_y)·stride",
     "w = e^(r[..., 2])·anchors[a, 0]·stride,  h = e^(r[..., 3])·anchors[a, 1]·stride",
     "conf = σ(r[..., 4]),  prob_n = σ(r[..., 5 + n])",
     "output[b, i, j, a, :] = (x, y, w, h, conf, prob_0, …, prob_(N−1))"),
    symbols=(("r", "the raw output, reshaped"), ("B", "the batch size"), ("S", "the grid size (square S × S)"),
             ("A", "the number of anchors, anchors.shape[0]"), ("N", "`num_class`"),
             ("b, i, j, a", "batch, row (axis 1), column (axis 2) and anchor indices"),
             ("g_x", "the column index j (axis 2 of the grid is x)"), ("g_y", "the row index i (axis 1 is y)"),
             ("n", "the class index, 0 ≤ n < N"), ("x, y, w, h, conf, prob_n", "the decoded channels")),
    output="(B, S, S, A, 5 + N), the dtype of `conv_output` (5-D: the anchors get their own axis)",
    broadcasting="no broadcasting: conv_output's last axis is exactly A·(5 + N), anything else is bad input",
    layout="conv_output channel a·(5 + N) + c holds channel c of anchor a: c = 0, 1 the x, y offsets, 2, 3 the log "
           "sizes, 4 the objectness logit, 5… the class logits. anchors: (A, 2) (w, h) in grid units; stride: a "
           "number (pixels per cell); num_class: a Python int",
    gradient="with respect to `conv_output`, the calculus of the formula",
    notes=("e^r overflows the dtype for large r (float32 above ~88.7): a hazard where the exact value is finite "
           "(YOLO-EXP-OVERFLOW).",))

LOSS_LAYER = Entry(
    ("r_raw = reshape(conv, (B, S, S, A, 5 + N));  z_conf = r_raw[..., 4:5];  z_prob = r_raw[..., 5:]",
     "P = pred[..., 0:4];  c = pred[..., 4:5]   (pred = decode(conv, anchors, stride, num_class))",
     "T = label[..., 0:4];  m = label[..., 4:5];  y = label[..., 5:]",
     "input_size = stride·S",
     "giou_term = m·(s_0 − T_w·T_h / input_size²)·(1 − bbox_giou(P, T))",
     "max_iou = max over M of bbox_iou(P[:, :, :, :, None, :], bboxes[:, None, None, None, :, :])   (keeps a last "
     "axis of 1)",
     "bgd = (1 − m)·[max_iou < iou_loss_thresh]",
     "conf_term = focal(m, c)·(m·SCE(m, z_conf) + bgd·SCE(m, z_conf)),  focal(m, c) = α·|m − c|^γ",
     "prob_term = m·SCE(y, z_prob)",
     "giou_loss = (1/B)·Σ giou_term,  conf_loss = (1/B)·Σ conf_term,  prob_loss = (1/B)·Σ prob_term"),
    symbols=(("r_raw", "the raw output, reshaped as in decode"), ("z_conf", "the raw objectness logit"),
             ("z_prob", "the raw class logits"), ("P", "the decoded box (x, y, w, h)"),
             ("c", "the decoded confidence σ(z_conf)"), ("T", "the label box (x, y, w, h)"),
             ("T_w, T_h", "its width and height, label[..., 2:3], label[..., 3:4]"),
             ("m", "the responsibility mask, 1 where an object is assigned to the cell and anchor"),
             ("y", "the class targets"), ("B", "the batch size"), ("S", "the grid size"),
             ("A", "the number of anchors"), ("N", "`num_class`"), ("M", "the number of true boxes per image"),
             ("input_size", "the input image's side in pixels"),
             ("bgd", "the background mask (1 − m where the best IoU with any true box is below the threshold)"),
             ("SCE", "sigmoid_cross_entropy_with_logits(labels, logits), elementwise"),
             ("giou_term, conf_term, prob_term", "the per-element terms, shapes (B, S, S, A, 1), (B, S, S, A, 1), "
                                                 "(B, S, S, A, N)"),
             ("max_iou", "the best IoU of the predicted box with the image's true boxes, (B, S, S, A, 1)"),
             ("giou_loss, conf_loss, prob_loss", "the three outputs")),
    constants=(BOX_SCALE, FOCAL_ALPHA, FOCAL_GAMMA, THRESH),
    output="a tuple of three scalars (giou_loss, conf_loss, prob_loss), each shape (), the dtype of `conv`",
    reduction="each Σ runs over every axis of its term, batch included, then divides by B: the batch mean of the "
              "per-image sums (not a mean over every element)",
    broadcasting="no broadcasting beyond the one written in max_iou: label and pred are (B, S, S, A, 5 + N), bboxes "
                 "(B, M, 4) with M ≥ 1 (zero-padded), conv (B, S, S, A·(5 + N)); any other shape (a last axis of "
                 "bboxes other than 4, a conv channel count other than A·(5 + N)) is bad input: raise or return NaN",
    layout="conv as decode's conv_output; label[..., 0:4] the target box (x, y, w, h) in pixels, label[..., 4] the "
           "mask m, label[..., 5:] the class targets; bboxes the image's true boxes (x, y, w, h), zero-padded; "
           "anchors (A, 2) in grid units; stride and iou_loss_thresh numbers; num_class a Python int",
    gradient="checked with respect to `conv` through the composite loss_layer(conv, decode(conv, …), …): "
             "through P and c (decode) and through z_conf, z_prob directly. The focal weight carries gradient (no "
             "stop-gradient); the comparison in bgd carries none.",
    notes=("The suite calls loss_layer with pred computed by your own decode.",
           "Examples whose max_iou is within rounding distance of iou_loss_thresh are not judged (the mask may flip "
           "either way).",
           "The true boxes' zero padding gives IoU 0 with any box of positive area (0/0 for a predicted box of zero "
           "area: YOLO-ZERO-UNION).",))

COMPUTE_LOSS = Entry(
    ("pred_i = decode(convs[i], anchors[i], strides[i], num_class)",
     "(g_i, f_i, p_i) = loss_layer(convs[i], pred_i, labels[i], bboxes[i], anchors[i], strides[i], num_class, "
     "iou_loss_thresh)",
     "compute_loss = (Σ_i g_i, Σ_i f_i, Σ_i p_i),  i = 0, 1, 2"),
    symbols=(("i", "the scale"), ("pred_i", "scale i decoded"),
             ("g_i, f_i, p_i", "scale i's giou, conf and prob losses")),
    output="a tuple of three scalars (giou_loss, conf_loss, prob_loss), each shape (), the dtype of the convs",
    reduction="each scale as loss_layer (batch mean of per-image sums), then the sum over the three scales",
    broadcasting="none: per scale as loss_layer",
    layout="convs, labels, bboxes: sequences of three, scale i as loss_layer's conv, label, bboxes (grid sizes "
           "may differ per scale); anchors: (3, A, 2); strides: (3,); num_class, iou_loss_thresh numbers",
    gradient="with respect to each of the three convs, as loss_layer",
    notes=("The formula of every scale, constants included, is [loss_layer](#loss_layer)'s.",))

ENTRIES = {
    "decode": DECODE,
    "bbox_iou": _box(_RAW_IOU, _IOU_SYMBOLS,
                     notes=(*_ZERO, "bbox_iou takes areas from the raw w·h and the corners unsorted, bbox_giou "
                                    "from the re-sorted corners: they differ for a negative w or h "
                                    "(YOLO-IOU-RAW-AREA).")),
    "bbox_giou": _box(_SORTED, _GIOU_SYMBOLS),
    "iou_loss": _box((*_RAW_IOU, "iou_loss = 1 − IoU"), _IOU_SYMBOLS),
    "giou_loss": _box((*_SORTED, "giou_loss = 1 − GIoU"), _GIOU_SYMBOLS),
    "diou_loss": _box((*_RAW_IOU, *_DIOU, "diou_loss = 1 − IoU + ρ²/c²"), (*_IOU_SYMBOLS, *_DIOU_SYMBOLS),
                      notes=(_NONNEG, *_ZERO, "ρ²/c² is 0/0 for two identical point boxes: undefined, a hazard.")),
    "ciou_loss": _box((*_RAW_IOU, *_DIOU,
                       "v = (4/π²)·(atan2(w_2, h_2) − atan2(w_1, h_1))²",
                       "α_v = v / ((1 − IoU) + v), and α_v = 0 where v = 0",
                       "ciou_loss = 1 − IoU + ρ²/c² + α_v·v"),
                      (*_IOU_SYMBOLS, *_DIOU_SYMBOLS, ("v", "the aspect-ratio consistency term"),
                       ("α_v", "its trade-off weight")),
                      notes=(_NONNEG, *_ZERO, "α_v is a constant in the gradient (stop-gradient, as the paper's code); "
                                              "differentiating it is the divergence CIOU-ALPHA-GRAD.")),
    "focal": Entry(("focal = α·|target − actual|^γ",),
                   constants=(FOCAL_ALPHA, FOCAL_GAMMA),
                   symbols=(("α", "`alpha`"), ("γ", "`gamma`")),
                   output="the broadcast shape of target and actual, the dtype of `actual`",
                   broadcasting="target and actual broadcast (NumPy rules); alpha and gamma are numbers. Checked as "
                                "the boxes' rule (category badinput, case `broadcast`)",
                   gradient="with respect to `actual`: −α·γ·|d|^(γ−1)·sign(d), d = target − actual; 0 at d = 0",
                   notes=("A weight, not the focal loss of Lin et al.; the gradient flows through it.",)),
    "loss_layer": LOSS_LAYER,
    "compute_loss": COMPUTE_LOSS,
}
