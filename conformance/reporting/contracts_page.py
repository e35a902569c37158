"""The contract page (docs/contracts.md), written from the records so that it cannot drift from them.

Each name's entry comes from its record (call, shapes, divergences) and the record's
:class:`~conformance.contracts.entry.Entry` (formula, symbols, output, reduction, broadcasting, ...); constants are
printed from the oracle's own values.  ``render_entry(name)`` is one name's entry, as ``python -m conformance
contracts NAME`` prints it.
"""

from __future__ import annotations

import math

from conformance.contracts import FAMILIES, REGISTRY, Contract
from conformance.contracts.entry import anchor, number
from conformance.contracts.nn_entries import EPS_K

DIVERGENCES = {
    "FRCNN-SWAPPED-BCE": "the documents call binary_crossentropy(y_pred, labels): prediction and label swapped",
    "FRCNN-NORM-AXIS": "the documents' normaliser sums y_true[:, :A, :, :] (rows) instead of y_true[..., :A]",
    "FRCNN-EPS-PER-ELEMENT": "Σ(ε + m) adds ε once per element (the formula as written: this is the contract)",
    "FRCNN-BATCH0": "only batch element 0 contributes (the formula as written: this is the contract)",
    "YOLO-IOU-RAW-AREA": "bbox_iou takes areas from the raw (w, h), bbox_giou from re-sorted corners (the formulas "
                         "as written: this is the contract)",
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

NOTATION = (
    ("Σ", "the sum over every element of its argument (all axes, batch included) unless an axis is named"),
    ("[c]", "1 where the condition c holds, else 0"),
    ("σ(x)", "the logistic sigmoid 1 / (1 + e^(−x))"),
    ("e^(x)", "the exponential; log is the natural logarithm"),
    ("clip(x, lo, hi)", "min(max(x, lo), hi)"),
    ("|x|, sign(x)", "absolute value and sign (sign(0) = 0)"),
    ("max, min", "of two values elementwise; 'max over M' is the maximum along that axis"),
    ("logsumexp(x)", "log Σ_j e^(x_j) along the reduced axis"),
    ("numel(t)", "the number of elements of t"),
    ("atan2(a, b), π", "the two-argument arctangent (atan2(w, h) = arctan(w / h) for h > 0), and π"),
    ("⌊x⌋, mod", "floor and remainder"),
    ("t[..., a:b]", "NumPy slicing of the last axis (a included, b excluded); `...` stands for the leading axes"),
    ("B, H, W", "batch size, feature-map height and width"),
)


def _conventions() -> list[str]:
    eps = EPS_K.value
    ops, legacy = -math.log(eps), -math.log(2 * eps)
    return [
        '<a id="clipping-conventions"></a>', "", "## Clipping conventions", "",
        "binary_crossentropy and rpn_loss_cls clip the probability, P = clip(p, ε_k, 1 − ε_k), and then follow "
        "one of two conventions, both in use; an implementation conforms if it matches either (on every example of "
        "a run), and the report names which:", "",
        "- **keras-ops** (Keras 3's `keras.ops.binary_crossentropy`): −(t·log P + (1 − t)·log(1 − P)). "
        f"At p = 0, t = 1 this is −log ε_k ≈ {ops:.4f}.",
        "- **keras-legacy** (`tf.keras.backend.binary_crossentropy`): −(t·log(P + ε_k) + (1 − t)·log(1 − P + ε_k)). "
        f"At p = 0, t = 1 this is −log(2ε_k) ≈ {legacy:.4f}.", "",
        f"ε_k = {number(eps)} (`{EPS_K.source}`). The categorical cross-entropies have one formula under both. "
        "The clip bounds ε_k and 1 − ε_k (and CenterNet's ε_c) are taken in the dtype under test: in float16, "
        "1 − ε_k rounds to 1 (FP16-CLIP). An implementation that computes in float32 and casts the result to "
        "float16 or bfloat16 (Keras mixed precision) has them in float32: both are accepted.", ""]


def _preamble() -> list[str]:
    lines = ["# The contract", "",
             "Generated from the contract records (`python -m conformance contracts > docs/contracts.md`); a test "
             "keeps it in step with them, and every constant below is printed from the oracle's own value. "
             "`python -m conformance contracts NAME` prints one name's entry; every failure names its entry's "
             "anchor here.", "",
             "An implementation module exposes any subset of these names (names it lacks are reported \"not "
             "provided\", never failures). Tensors are passed in the dtype under test (float32 by default; float16, "
             "bfloat16, float64 on request) and outputs are returned as tensors of that dtype; sizes and "
             "configuration (num_anchors, num_classes, anchors, stride(s), num_class, iou_loss_thresh, pos_weight) "
             "as Python numbers or NumPy arrays; integer arguments (labels of the sparse CE, indices) as int32 "
             "tensors. Functions return one tensor, or a tuple of three for `loss_layer` and `compute_loss`. "
             "Gradients are checked with respect to the arguments marked ∂, by reverse mode with a random "
             "cotangent.", "",
             "Gradients follow the calculus of the formula. At a kink (a point where the exact function is not "
             "differentiable: |x| at 0, max/min at a tie, clip at its bounds) any element of the subdifferential "
             "is accepted; a clip passes the gradient when lo ≤ x ≤ hi (bounds included) and gives 0 outside. A "
             "point where one way of writing a smooth function contains |x| or max(x, 0) is no kink.", "",
             "Bad input (a label or index out of range, a wrong channel count, shapes that do not fit) must raise "
             "or return NaN, never a finite value. Where an exact value is undefined (0/0) or not representable "
             "in the dtype (overflow), the element is a hazard: reported, not failed.", "",
             "## Notation", "", "| symbol | meaning |", "|---|---|"]
    lines += [f"| {_cell(s)} | {_cell(m)} |" for s, m in NOTATION]
    return [*lines, "", *_conventions()]


def _index() -> list[str]:
    lines = ["## Index", "", "| name | call | formula in one line |", "|---|---|---|"]
    for c in _records():
        lines.append(f"| [{c.name}](#{anchor(c.name)}) | `{_cell(c.signature())}` | {_cell(c.summary)} |")
    return [*lines, ""]


def _records() -> list[Contract]:
    return [c for family in FAMILIES for c in REGISTRY.values() if c.family == family]


def _defaults(c: Contract) -> str:
    opt = [f"{k}={d!r}" for k, d in c.call.optional]
    return ", ".join(opt)


def render_entry(name: str, level: int = 3) -> str:
    """One name's entry as Markdown."""
    c = REGISTRY[name]
    e = c.entry
    head = "#" * level
    lines = [f'<a id="{anchor(name)}"></a>', "", f"{head} `{name}`", "",
             f"Call: `{c.signature()}` (family `{c.family}`; ∂ with respect to {', '.join(c.grad_args)})", "",
             f"- **Arguments**: {c.shapes}"]
    if c.call.optional:
        lines.append(f"- **Defaults**: {_defaults(c)}")
    if e is None:
        lines += [f"- **Formula**: {c.summary}"]
    else:
        for label, text in (("Output", e.output), ("Reduction", e.reduction), ("Broadcasting", e.broadcasting),
                            ("Layout", e.layout), ("Gradient", e.gradient)):
            if text:
                lines.append(f"- **{label}**: {text}")
        lines += ["", "Formula:", "", "```", *e.formula, "```", ""]
        if e.symbols:
            lines += ["where", ""] + [f"- {s}: {d}" for s, d in e.symbols] + [""]
        if e.constants:
            lines += ["| constant | value | from the oracle | meaning |", "|---|---|---|---|"]
            lines += [f"| {k.symbol} | {number(k.value)} | `{k.source}` | {_cell(k.meaning)} |" for k in e.constants]
            lines.append("")
        lines += [f"- {n}" for n in e.notes]
    if c.bad_inputs:
        bad = [b for b in c.bad_inputs if not b.broadcast]
        if bad:
            lines.append("- **Bad input** (checked; must raise or return NaN): "
                         + "; ".join(f"`{b.id}` (argument `{b.arg}`{', ' + b.spec if b.spec else ''})" for b in bad))
    if c.notes and e is None:
        lines.append(f"- {c.notes}")
    if c.divergences:
        lines.append("- Divergences and hazards: " + "; ".join(f"[{d}](#divergences): {DIVERGENCES.get(d, d)}"
                                                                for d in c.divergences))
    return "\n".join(lines).rstrip("\n") + "\n"


def render() -> str:
    """The page as Markdown."""
    lines = [*_preamble(), *_index()]
    for family in FAMILIES:
        records = [c for c in REGISTRY.values() if c.family == family]
        if not records:
            continue
        lines += [f"## Family `{family}`", ""]
        for c in records:
            lines += [render_entry(c.name), ""]
    lines += ['<a id="divergences"></a>', "", "## Divergences and hazards", "", "| id | meaning |", "|---|---|"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in DIVERGENCES.items()]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", "\\|")
