"""The contract page (docs/contracts.md), written from the records so that it cannot drift from them."""

from __future__ import annotations

from conformance.contracts import FAMILIES, REGISTRY

SPEC_IDS = {
    "FRCNN-SWAPPED-BCE": "the documents call binary_crossentropy(y_pred, labels): prediction and label swapped",
    "FRCNN-NORM-AXIS": "the documents' normaliser sums y_true[:, :A, :, :] (rows) instead of y_true[..., :A]",
    "FRCNN-EPS-PER-ELEMENT": "Σ(ε + m) adds ε once per element (the formula as written: this is the contract)",
    "FRCNN-BATCH0": "only batch element 0 contributes (the formula as written)",
    "YOLO-IOU-RAW-AREA": "bbox_iou takes areas from the raw (w, h), bbox_giou from re-sorted corners",
    "YOLO-ZERO-UNION": "0/0 for degenerate boxes (or e^raw underflowing to 0): undefined, a hazard",
    "YOLO-EXP-OVERFLOW": "e^raw overflows the dtype (float32 above ~88.7, float16 above ~11.1): a hazard",
    "SCE-NAIVE": "the naive sigmoid CE overflows for large |x|: inf/NaN where the exact value is finite fails",
    "SPARSE-LABEL-RANGE": "labels outside [0, C) must raise or give NaN, never a silent finite value",
    "CN-NEG-SIGN": "the prose writes loss − neg_loss; the code (+neg_loss) is the contract",
    "CN-TWO-CHANNELS": "the mask is tiled to exactly 2 channels: y_pred has 2 channels",
    "CN-GATHER-RANGE": "indices outside [0, H·W) must raise or give NaN (a gather that reads a neighbour fails)",
    "TF-WCE-GRAD-AT-ZERO": "tf.nn.weighted_cross_entropy_with_logits' gradient at logits == 0 drops the softplus "
                           "term (1 − z instead of (1 − z) − (1 + (q − 1)z)/2)",
    "CIOU-ALPHA-GRAD": "α differentiated (no stop-gradient): values agree, gradients do not",
    "FP16-CLIP": "in float16 1 − 1e-7 rounds to 1 and 1e-7, 1e-6 are subnormal: a hazard",
}


def render() -> str:
    """The page as Markdown."""
    lines = ["# The contract", "",
             "Generated from the contract records (`python -m conformance contracts > docs/contracts.md`); a test "
             "keeps it in step with them.", "",
             "An implementation module exposes any subset of these names. Tensors are passed in the dtype under "
             "test (float32 by default; float16, bfloat16, float64 on request); sizes and configuration (num_anchors, "
             "anchors, stride, num_class, iou_loss_thresh, pos_weight) as Python numbers or NumPy arrays; integer "
             "arguments as int32 tensors. Functions return tensors (a tuple of three for `loss_layer` and "
             "`compute_loss`). Gradients are checked with respect to the arguments marked ∂.", ""]
    for family in FAMILIES:
        records = [c for c in REGISTRY.values() if c.family == family]
        if not records:
            continue
        lines += [f"## Family `{family}`", "", "| name and call | formula | arguments | ∂ | divergences and notes |",
                  "|---|---|---|---|---|"]
        for c in records:
            notes = "; ".join([*(f"{d}" for d in c.divergences), *([c.notes] if c.notes else [])])
            cells = [f"`{c.signature()}`", c.summary, c.shapes, ", ".join(c.grad_args), notes]
            lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
        lines.append("")
    lines += ["## Divergences and hazards", "", "| id | meaning |", "|---|---|"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in SPEC_IDS.items()]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", "\\|")
