"""loss_layer at an enclosure corner gap far below rounding: the exact gradient, and the stability verdict.

Anchor 1 of the one-cell example has raw w = −50: its decoded box is centred at (4, 4) with
w = 2e^{-50} ≈ 3.9e-22, h = 2, against the label box (0, 0, 8, 1).  The enclosing box's right
edge is the prediction's, 4 + e^{-50}, larger than the label's 4 by 1.9e-22, so the exact
gradient wrt raw x flows through the enclosure (0.0852 per unit giou cotangent).  Any dtype,
float64 included, rounds 4 + e^{-50} to 4: a tie of tf.maximum, whose convention decides
between that one-sided derivative and the other one, 0.  The suite's near-kink rule accepts
either, in the stability tier as in the value tier.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from conformance.checks import stability
from conformance.contracts import REGISTRY
from conformance.reporting.results import CheckResult, Recorder
from conformance.runners.tf import Runner
from conformance.targets import reference

CONV = np.zeros((1, 1, 1, 21))
CONV[..., 9] = -50.0  # anchor 1, raw w
LABEL = np.array([[0, 0, 1, 1, 1, 0, 0], [0, 0, 8, 1, 1, 0, 0], [0, 0, 1, 1, 1, 0, 0]], dtype=np.float64)
EX = {"conv": CONV, "label": LABEL.reshape(1, 1, 1, 3, 7), "bboxes": np.zeros((1, 1, 4)),
      "anchors": np.full((3, 2), 0.25), "stride": 8, "num_class": 2, "iou_loss_thresh": 0.5}


def _giou_output_mp(conv: list) -> mp.mpf:
    """The giou output of the contract's loss_layer(conv, decode(conv)) for EX, in mpmath (B = S = 1, grid offset 0)."""
    total = mp.mpf(0)
    for a in range(3):
        raw, lab = conv[7 * a: 7 * a + 7], [mp.mpf(float(v)) for v in LABEL[a]]
        px, py = (8 / (1 + mp.exp(-raw[i])) for i in (0, 1))
        pw, ph = (mp.exp(raw[i]) * 2 for i in (2, 3))  # anchor 0.25 · stride 8
        inter, enclose = mp.mpf(1), mp.mpf(1)
        for c1, w1, c2, w2 in ((px, pw, lab[0], lab[2]), (py, ph, lab[1], lab[3])):
            inter *= max(min(c1 + w1 / 2, c2 + w2 / 2) - max(c1 - w1 / 2, c2 - w2 / 2), 0)
            enclose *= max(c1 + w1 / 2, c2 + w2 / 2) - min(c1 - w1 / 2, c2 - w2 / 2)
        union = pw * ph + lab[2] * lab[3] - inter
        giou = inter / union - (enclose - union) / enclose
        total += lab[4] * (2 - lab[2] * lab[3] / 64) * (1 - giou)  # input_size = 8
    return total


def test_exact_gradient_flows_through_the_enclosure():
    """mpmath central difference of the spec formula, the closed form 15/176 and the oracle agree."""
    mp.mp.dps = 60
    h = mp.mpf("1e-30")  # far below the 1.9e-22 gap: the difference stays on one side of the kink
    conv = [mp.mpf(float(v)) for v in CONV.ravel()]
    up, down = list(conv), list(conv)
    up[7] += h
    down[7] -= h
    fd = (_giou_output_mp(up) - _giou_output_mp(down)) / (2 * h)
    # (2 − 8/64) · σ'(0)·8 · d(1 − GIoU)/dE · dE/dpx = 1.875 · 2 · (U / E²) · 5.5, U = 8 + 4e^{-50}, E = 8·5.5 (+)
    assert abs(fd - mp.mpf(15) / 176) < mp.mpf("1e-18")
    g = REGISTRY["loss_layer"].expected_vjp(EX, (1.0, 0.0, 0.0), "conv")
    assert np.ravel(g)[7] == pytest.approx(15 / 176, rel=1e-14)
    # no kink for the exact function; within rounding distance of one in every dtype
    assert not np.ravel(REGISTRY["loss_layer"].kinks(EX, "conv"))[7]
    assert np.ravel(REGISTRY["loss_layer"].near_kinks(EX, "conv", "float32"))[[7, 9]].all()


@pytest.mark.parametrize("dtype, mode", [("float32", "eager"), ("float32", "xla"), ("float64", "eager"),
                                         ("bfloat16", "eager"), ("float16", "eager")])
def test_reference_stability_passes(dtype, mode):
    """The reference's tie gives the other one-sided derivative (0 at element 7): not a failure (it raised before)."""
    contract = REGISTRY["loss_layer"]
    log = stability.HazardLog()
    result = CheckResult("loss_layer", contract.family, "stability", dtype, mode)
    stability.check_stability(contract, Runner(contract, reference.loss_layer, mode, reference), EX, 0, dtype,
                              Recorder(result), "reference", log)
    assert set(log.counts) <= {"YOLO-ZERO-UNION", "GRADIENT-OF-HAZARD"}, log.message()


def test_record_pins_the_example():
    """The loss_layer record's stability cases hold the example, so every stability run judges it."""
    cases = REGISTRY["loss_layer"].stability_cases("float32")
    assert any(np.array_equal(c["conv"], CONV) and np.array_equal(c["label"], EX["label"]) for c in cases)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_decoded_tie_band_covers_every_computed_corner_difference(dtype):
    """yolo_near_kinks' band (yolov3_numerics.decoded_tie): on the strategy's draws, every difference of two
    corners (decoded box and label box, one axis) that TensorFlow computes in the dtype, σ as tf.sigmoid or as
    1/(1 + e^{−t}), w as e^t·a·s, lies within the band's half for the implementation, W·u(max|c| + max|w|), of the
    exact difference; measured, the band is not more than a few times what the arithmetic needs."""
    import tensorflow as tf
    from helpers import strategy_draws

    import oracle
    from conformance.contracts import yolov3_numerics as num
    from conformance.numerics import arithmetic
    from conformance.numerics.dtypes import info
    from conformance.numerics.tolerance import round_example
    from conformance.runners import probe

    c, t = REGISTRY["loss_layer"], tf.as_dtype(dtype)
    arithmetic.use(probe.measure("tf", "eager", dtype) if dtype != "float32" else arithmetic.current(dtype))
    try:
        width, u = num.decoded_tie(dtype), info(dtype).unit_roundoff
    finally:
        arithmetic.reset()
    worst = 0.0
    for ex in (round_example(c, x, dtype) for x in strategy_draws("loss_layer", 40)):
        a = len(ex["anchors"])
        exact = oracle.decode(ex["conv"], ex["anchors"], ex["stride"], ex["num_class"])[..., :4]
        raw = tf.reshape(tf.constant(ex["conv"], t), exact.shape[:-1] + (-1,))
        s, anchors = tf.constant(ex["stride"], t), tf.constant(np.asarray(ex["anchors"]).reshape(a, 2), t)
        rows, cols = exact.shape[1:3]
        grid = np.stack(np.meshgrid(np.arange(cols), np.arange(rows)), -1)[None, :, :, None, :]
        label = ex["label"][..., :4]
        for sigmoid in (tf.sigmoid, lambda x: 1 / (1 + tf.exp(-x))):
            xy = (sigmoid(raw[..., 0:2]) + tf.constant(grid, t)) * s
            wh = tf.exp(raw[..., 2:4]) * anchors * s
            for axis in (0, 1):
                lx, lw = tf.constant(label[..., axis], t), tf.constant(label[..., axis + 2], t)
                got = [np.asarray(tf.cast(g, tf.float64)) for g in (
                    xy[..., axis] - wh[..., axis] * 0.5, xy[..., axis] + wh[..., axis] * 0.5, lx - lw * 0.5,
                    lx + lw * 0.5)]
                e = [exact[..., axis] - exact[..., axis + 2] / 2, exact[..., axis] + exact[..., axis + 2] / 2,
                     label[..., axis] - label[..., axis + 2] / 2, label[..., axis] + label[..., axis + 2] / 2]
                scale = (np.maximum(np.abs(exact[..., axis]), np.abs(label[..., axis]))
                         + np.maximum(np.abs(exact[..., axis + 2]), np.abs(label[..., axis + 2])))
                ok = np.isfinite(scale) & (ex["label"][..., 4] != 0) & np.all([np.isfinite(g) for g in got], 0)
                for i in range(4):
                    for j in range(i + 1, 4):
                        err = np.abs((got[i] - got[j]) - (e[i] - e[j]))[ok]
                        band = (width * u * scale)[ok]
                        assert np.all(err <= band), (dtype, i, j, float(np.max(err / band)))
                        worst = max(worst, float(np.max(err / band, initial=0.0)))
    assert worst > 0.05, f"the band is {1 / worst:.0f}x the largest error"
    print(f"{dtype}: width {width:.3g}, largest error / band {worst:.3f}")
