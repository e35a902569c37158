"""The contract page's entries of family ``nn`` (see :mod:`conformance.contracts.entry`)."""

from __future__ import annotations

from conformance.contracts.entry import Constant, Entry

EPS_K = Constant("ε_k", "oracle.crossentropy.EPS_K",
                 "the Keras backend epsilon: probabilities are clipped to [ε_k, 1 − ε_k], both bounds taken in the "
                 "dtype under test")
_SAME_SHAPE = ("the arguments have the same shape; that is what the suite draws. Arguments of different shapes that "
               "broadcast (NumPy rules) may be rejected (raise) or broadcast; a value returned for them must be the "
               "value of the arguments broadcast to their common shape first (checked: category badinput, case "
               "`broadcast`)")
_ROW_OUT = ("the input's shape without `axis` (the reduced axis is not kept: (B, C) with axis = -1 gives (B,)); "
            "the dtype of the float input")
_SAME_OUT = "the shape and dtype of the float input (no reduction)"
_AXIS = ("`axis`: an integer in [−rank, rank), default −1; every axis of the input may be the one reduced, "
         "negative axes count from the end")

ENTRIES = {
    "sigmoid": Entry(("σ(x) = 1 / (1 + e^(−x))",), output=_SAME_OUT, gradient="σ(x)·(1 − σ(x))",
                     notes=("For x below −88.7 in float32, 1 + e^(−x) overflows: the value 0 is right, but a gradient "
                            "of inf/inf = NaN is not (the exact gradient σ(x)·(1 − σ(x)) is finite).",)),
    "softmax": Entry(("softmax(x)_i = e^(x_i) / Σ_j e^(x_j), i and j running along `axis`",),
                     symbols=(("i, j", "positions along `axis`"),), output="the shape and dtype of `logits`",
                     reduction=_AXIS + "; the output keeps every axis",
                     gradient="∂softmax(x)_i/∂x_j = softmax(x)_i·([i = j] − softmax(x)_j)",
                     notes=("Evaluate with the maximum along `axis` subtracted first (e^(x_i − m) / Σ_j e^(x_j − m)): "
                            "e^100 overflows float32.",)),
    "sigmoid_cross_entropy_with_logits": Entry(
        ("L = z·(−log σ(x)) + (1 − z)·(−log(1 − σ(x)))",
         "  = max(x, 0) − x·z + log(1 + e^(−|x|))   (the stable form; same value)"),
        symbols=(("x", "`logits`"), ("z", "`labels`, in [0, 1] (soft labels allowed)")),
        output=_SAME_OUT, broadcasting=_SAME_SHAPE,
        gradient="∂L/∂x = σ(x) − z everywhere, x = 0 included (the function is smooth; |x| and max(x, 0) of the "
                 "stable form are no kinks). Only `logits` is differentiated."),
    "weighted_cross_entropy_with_logits": Entry(
        ("L = q·z·(−log σ(x)) + (1 − z)·(−log(1 − σ(x)))",
         "  = (1 − z)·x + (1 + (q − 1)·z)·(log(1 + e^(−|x|)) + max(−x, 0))   (the stable form; same value)"),
        symbols=(("x", "`logits`"), ("z", "`labels`, in [0, 1]"), ("q", "`pos_weight`, a Python number")),
        output=_SAME_OUT, broadcasting=_SAME_SHAPE + "; `pos_weight` is a scalar",
        gradient="∂L/∂x = (1 − z) − (1 + (q − 1)·z)·σ(−x) everywhere, x = 0 included (there: (1 − z) − "
                 "(1 + (q − 1)·z)/2). Only `logits` is differentiated."),
    "sigmoid_focal_loss": Entry(
        ("SCE = max(x, 0) − x·z + log(1 + e^(−|x|))   (the sigmoid cross-entropy above)",
         "m = z·σ(−x) + (1 − z)·σ(x)   (1 − p_t: the probability given to the wrong answer)",
         "w = α·z + (1 − α)·(1 − z) if α ≥ 0, else w = 1   (α < 0: no class balancing)",
         "L = w·m^γ·SCE"),
        symbols=(("x", "`logits`"), ("z", "`labels`, in [0, 1] (soft labels allowed)"),
                 ("α", "`alpha`, a Python number, default 0.25"), ("γ", "`gamma`, a Python number ≥ 0, default 2"),
                 ("σ", "the logistic sigmoid 1 / (1 + e^(−x))"), ("SCE", "the sigmoid cross-entropy"),
                 ("m", "1 − p_t"), ("w", "α_t, the class-balancing weight"), ("L", "the loss")),
        output=_SAME_OUT + " (unreduced, as `torchvision.ops.sigmoid_focal_loss(reduction='none')`)",
        broadcasting=_SAME_SHAPE + "; `alpha` and `gamma` are scalars",
        gradient="the calculus of the formula, through m^γ as well (no stop-gradient): ∂L/∂x = w·(m^γ·(σ(x) − z) + "
                 "γ·m^(γ−1)·(1 − 2z)·σ(x)·σ(−x)·SCE); smooth everywhere for finite x (m > 0). Only `logits`.",
        notes=("RetinaNet's focal loss (Lin et al. 2017): torchvision's `sigmoid_focal_loss` and Keras' "
               "`BinaryFocalCrossentropy(from_logits=True, apply_class_balancing=True, reduction=None)` compute it. "
               "With γ = 0 and α < 0 it is `sigmoid_cross_entropy_with_logits`.",)),
    "softmax_cross_entropy_with_logits": Entry(
        ("L = −Σ_i y_i·log softmax(x)_i = Σ_i y_i·(logsumexp(x) − x_i), i running along `axis`",),
        symbols=(("x", "`logits`"), ("y", "`labels`: each row along `axis` a probability distribution"),
                 ("i", "the position along `axis`")),
        output=_ROW_OUT, reduction=_AXIS, broadcasting=_SAME_SHAPE,
        gradient="∂L/∂x = softmax(x)·Σ_i y_i − y (with rows of y summing to 1: softmax(x) − y). Only `logits`."),
    "sparse_softmax_cross_entropy_with_logits": Entry(
        ("L = logsumexp(x) − x_k, along the last axis",),
        symbols=(("x", "`logits`, shape (..., C)"), ("k", "`labels`, integers in [0, C), shape (...)"),
                 ("C", "the size of the last axis of `logits`"), ("x_k", "the entry of x at position k")),
        output="the shape of `labels` (the last axis of `logits` is reduced, not kept); the dtype of `logits`",
        reduction="the last axis of `logits`, always (there is no `axis` argument)",
        broadcasting="`labels` has the shape of `logits` without its last axis; no broadcasting",
        gradient="∂L/∂x = softmax(x) − onehot(k) along the last axis; `labels` carries none",
        notes=("A label outside [0, C) is bad input: raise, or return NaN; never a finite value "
               "(SPARSE-LABEL-RANGE).",)),
    "binary_crossentropy": Entry(
        ("P = clip(p, ε_k, 1 − ε_k)",
         "keras-ops:    L = −(t·log P + (1 − t)·log(1 − P))",
         "keras-legacy: L = −(t·log(P + ε_k) + (1 − t)·log(1 − P + ε_k))"),
        symbols=(("t", "`target`, in [0, 1]"), ("p", "`output`, a probability in [0, 1]"),
                 ("P", "the clipped probability")),
        constants=(EPS_K,), output=_SAME_OUT + ": the Keras backend's elementwise BCE, not a mean over the last axis",
        broadcasting=_SAME_SHAPE,
        gradient="the calculus of the formula; clip passes the gradient for ε_k ≤ p ≤ 1 − ε_k (bounds included) and "
                 "gives 0 outside. Only `output`.",
        notes=("Either clipping convention conforms (see [Clipping conventions](#clipping-conventions)); the report "
               "names the one matched.",)),
    "categorical_crossentropy": Entry(
        ("q_i = p_i / Σ_j p_j,  i and j running along `axis`",
         "L = −Σ_i t_i·log clip(q_i, ε_k, 1 − ε_k)"),
        symbols=(("t", "`target`, one-hot or probability rows"),
                 ("p", "`output`: non-negative rows with a positive sum (not necessarily normalised)"),
                 ("q", "the row-normalised probabilities"), ("i, j", "positions along `axis`")),
        constants=(EPS_K,), output=_ROW_OUT, reduction=_AXIS, broadcasting=_SAME_SHAPE,
        gradient="the calculus of the formula through the normalisation q = p / Σp; clip as in binary_crossentropy. "
                 "Only `output`.",
        notes=("Both clipping conventions (see [Clipping conventions](#clipping-conventions)) give this one "
               "formula: Keras' legacy CCE adds no ε_k inside the log.",
               "A row of p summing to 0 gives 0/0: undefined.")),
    "entropy": Entry(
        ("L = −Σ_i p_i·log p_i along `axis`, with 0·log 0 = 0",),
        symbols=(("p", "`p`, non-negative"), ("i", "the position along `axis`")),
        output=_ROW_OUT, reduction=_AXIS,
        gradient="∂L/∂p = −(log p + 1); p = 0 is a kink (any value, the one-sided limit +inf included, is accepted)."),
    "kl_divergence": Entry(
        ("L = Σ_i p_i·log(p_i / q_i) along `axis`, with 0·log(0 / q) = 0 (q = 0 included)",),
        symbols=(("p", "`p`, non-negative"), ("q", "`q`, non-negative"), ("i", "the position along `axis`")),
        output=_ROW_OUT, reduction=_AXIS, broadcasting=_SAME_SHAPE,
        gradient="∂L/∂p = log(p/q) + 1, ∂L/∂q = −p/q; p = 0 or q = 0 is a kink (any subgradient accepted). "
                 "p > 0 with q = 0 gives +inf.",
        notes=("Compute log(p/q) without cancellation where p ≈ q (e.g. log1p((p − q)/q)); do not clip p or q: "
               "clipping p = 0 to ε_k gives a negative KL. Where a branch is chosen elementwise (tf.where), keep "
               "the unselected branch finite: its gradient still flows, and inf·0 is NaN.",)),
    "smooth_l1": Entry(
        ("smooth_l1(x) = 0.5·x² if |x| ≤ 1, else |x| − 0.5",), output=_SAME_OUT,
        gradient="x where |x| ≤ 1, sign(x) elsewhere. No kink: at |x| = 1 both pieces have slope sign(x), and that "
                 "exact derivative is required there."),
}
