"""Named common-mistake variants the diagnosis evaluates: values by hand, VJPs by finite differences."""

import numpy as np
import pytest
from helpers import assert_rel, fd_vjp

import oracle


def _layer_case(seed=0, b=2, s=2, a=2, n=2):
    rng = np.random.default_rng(seed)
    conv = rng.normal(scale=0.7, size=(b, s, s, a * (5 + n)))
    r = (rng.random((b, s, s, a, 1)) < 0.5).astype(float)
    label = np.concatenate([rng.random((b, s, s, a, 2)) * 32, 2 + rng.random((b, s, s, a, 2)) * 20, r,
                            rng.random((b, s, s, a, n))], -1)
    bboxes = np.concatenate([rng.random((b, 3, 2)) * 32, 2 + rng.random((b, 3, 2)) * 20], -1)
    return dict(conv=conv, label=label, bboxes=bboxes, anchors=np.array([[1.0, 1.5], [2.0, 1.0]])[:a], stride=16,
                num_class=n, iou_loss_thresh=0.5)


def test_mean_not_batch_sum_divides_by_every_element():
    kw = _layer_case()
    right = oracle.evaluate("loss_layer", **kw)
    mean = oracle.evaluate("loss_layer", variants=("MEAN-NOT-BATCH-SUM",), **kw)
    b, s, a, n = 2, 2, 2, 2
    assert_rel(mean[0], right[0] * b / (b * s * s * a), rtol=1e-13)
    assert_rel(mean[2], right[2] * b / (b * s * s * a * n), rtol=1e-13)


@pytest.mark.parametrize("variants", [("FOCAL-STOP-GRADIENT",), ("MEAN-NOT-BATCH-SUM",)])
def test_layer_variant_vjps(variants):
    kw = _layer_case(1)
    cot = (0.3, -1.1, 0.7)
    got = oracle.vjp("loss_layer", cot, "conv", variants=variants, **kw)
    if variants == ("FOCAL-STOP-GRADIENT",):
        # the focal weight is a constant: differentiate with the weight frozen at its value
        right = oracle.vjp("loss_layer", cot, "conv", **kw)
        assert not np.allclose(got, right)
        assert np.allclose(got[..., :4], right[..., :4])  # only the confidence channel changes
        return

    def f(c):
        return np.array(oracle.evaluate("loss_layer", variants=variants, **{**kw, "conv": c}))

    want = fd_vjp(f, kw["conv"], np.array(cot))
    assert np.allclose(got, want, rtol=1e-5, atol=1e-7)


def test_cce_unnormalised():
    t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    p = np.array([[0.2, 0.4, 0.2], [0.5, 0.5, 0.5]])
    got = oracle.evaluate("categorical_crossentropy", target=t, output=p, variants=("CCE-UNNORMALISED",))
    assert_rel(got, [-np.log(0.4), -np.log(0.5)], rtol=1e-15)
    g = oracle.vjp("categorical_crossentropy", np.ones(2), "output", target=t, output=p, variants="CCE-UNNORMALISED")
    assert_rel(g, [[0, -1 / 0.4, 0], [-2.0, 0, 0]], rtol=1e-15)
    with pytest.raises(ValueError, match="variants"):
        oracle.evaluate("categorical_crossentropy", target=t, output=p, variants=("NO-SUCH",))
