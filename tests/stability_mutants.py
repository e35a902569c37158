"""Broken implementations the stability, bad-input and diagnosis checks must catch (test helpers).

Each is a module-like namespace exposing one contract name, passed to ``run_check`` in-process.
"""

from __future__ import annotations

from types import SimpleNamespace

import tensorflow as tf

from conformance.targets import reference


def _naive_sigmoid_ce(labels, logits):
    """−z log σ(x) − (1 − z) log(1 − σ(x)) as written: log(0) = −inf once σ(x) rounds to 0 or 1 (SCE-NAIVE)."""
    s = tf.sigmoid(logits)
    z = tf.cast(labels, s.dtype)
    return -z * tf.math.log(s) - (1 - z) * tf.math.log(1 - s)


def _naive_softmax_ce(labels, logits, axis=-1):
    """−Σ y log softmax(x): log(0) = −inf for a logit far below the maximum, and 0·(−inf) = NaN."""
    return -tf.reduce_sum(labels * tf.math.log(tf.nn.softmax(logits, axis=axis)), axis=axis)


def _where_trap_sigmoid_ce(labels, logits):
    """Right value (tf.where picks the stable branch for |x| > 15), NaN gradient from the unselected naive branch."""
    z = tf.cast(labels, logits.dtype)
    stable = tf.nn.relu(logits) - logits * z + tf.math.log1p(tf.exp(-tf.abs(logits)))
    return tf.where(tf.abs(logits) > 15, stable, _naive_sigmoid_ce(z, logits))


def _clamped_sparse_ce(labels, logits):
    """Labels clamped into [0, C) before the sparse op: an out-of-range label gives a silent finite value."""
    c = tf.shape(logits)[-1]
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.clip_by_value(labels, 0, c - 1), logits=logits)


def _wrapped_reg_l1(y_pred, y_true, indices, mask):
    """Gather indices wrapped with % (H*W): an out-of-range index reads another cell silently."""
    shape = tf.shape(y_pred)
    hw = shape[1] * shape[2]
    idx = tf.math.floormod(tf.cast(indices, tf.int32), hw)
    flat = tf.reshape(y_pred, (shape[0], -1, 2))
    g = tf.gather(flat, idx, batch_dims=1)
    m = tf.tile(tf.cast(mask, y_pred.dtype)[..., None], (1, 1, 2))
    return tf.reduce_sum(tf.abs(y_true * m - g * m)) / (tf.reduce_sum(m) + 1e-4)


def _eps_once_rpn_loss_regr(num_anchors):
    """Σ m·smooth_l1 / (Σm + ε): the oracle variant EPS-ONCE, not the spec's Σ(ε + m)."""
    a = int(num_anchors)

    def fn(y_true, y_pred):
        m, t = y_true[..., :4 * a], y_true[..., 4 * a:]
        x = tf.abs(t - y_pred)
        k = tf.where(x <= 1, 0.5 * x * x, x - 0.5)
        return tf.reduce_sum(m * k) / (tf.reduce_sum(m) + tf.constant(1e-4, y_pred.dtype))

    return fn


NAIVE_SIGMOID_CE = SimpleNamespace(sigmoid_cross_entropy_with_logits=_naive_sigmoid_ce)
NAIVE_SOFTMAX_CE = SimpleNamespace(softmax_cross_entropy_with_logits=_naive_softmax_ce)
WHERE_TRAP_SIGMOID_CE = SimpleNamespace(sigmoid_cross_entropy_with_logits=_where_trap_sigmoid_ce)
def _kl_reducing_q(p, q, axis=-1):
    """KL that aligns q with p by averaging q over the axes where p has size 1 (reduces where it should broadcast):
    right on equal shapes, the wrong shape for p (1, 3) against q (2, 3)."""
    p = tf.convert_to_tensor(p)
    q = tf.cast(tf.convert_to_tensor(q), p.dtype)
    axes = [i for i, (a, b) in enumerate(zip(p.shape, q.shape, strict=False)) if a == 1 and b != 1]
    if axes:
        q = tf.reduce_mean(q, axis=axes, keepdims=True)
    return reference.kl_divergence(p, q, axis)


REDUCING_KL = SimpleNamespace(kl_divergence=_kl_reducing_q)
CLAMPED_SPARSE_CE = SimpleNamespace(sparse_softmax_cross_entropy_with_logits=_clamped_sparse_ce)
WRAPPED_REG_L1 = SimpleNamespace(reg_l1_loss=_wrapped_reg_l1,
                                 loss=lambda args: reference.loss(args))  # the total delegates to the reference
EPS_ONCE = SimpleNamespace(rpn_loss_regr=_eps_once_rpn_loss_regr)
