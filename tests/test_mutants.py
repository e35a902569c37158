"""Every check must be able to fail: the gate catches each single-bug mutant of the reference.

The mutants (``tests/mutants/``) are judged in-process as the pytest gate judges them (``tests/judge.py``:
the gate's code and Hypothesis profile, minus its shrink phase).  Every mutant is
judged on TensorFlow eager in every dtype; the catalogue is written once for every framework, and
:func:`test_gate_catches_mutant_on_platform` judges it on the other platforms in float16 and bfloat16
(one of them in CI; all with ``CONFORMANCE_MUTANT_PLATFORMS=all``, the command in docs/tolerances.md).

The converse, that correct implementations pass, is checked on the reference target and on
``tensorflow.nn`` under several random Hypothesis seeds.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable

import hypothesis
import judge
import mutants
import numpy as np
import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st

from conformance.checks import engine
from conformance.contracts import NAMES, REGISTRY, Contract

CATEGORIES = ("value", "gradient")
SEEDS = (1, 2, 3)
CORRECT = ("conformance.targets.reference", "tensorflow.nn")
DTYPE, MODE = "float32", "eager"
# TensorFlow's weighted CE drops the softplus term of its gradient at logits == 0 (TF-WCE-GRAD-AT-ZERO).
KNOWN_FINDING = ("tensorflow.nn", "weighted_cross_entropy_with_logits")


def test_catalogue_is_well_formed() -> None:
    names = mutants.names()
    assert len(names) >= 25
    assert len(mutants.names("jax")) >= len(names) - 4  # written once: only framework mechanisms are TensorFlow's
    families = set()
    for n in names:
        m = mutants.load(n)
        assert m.TARGETS and set(m.TARGETS) <= set(REGISTRY), n
        assert m.CATEGORIES and set(m.CATEGORIES) <= set(CATEGORIES), n
        assert m.KIND in mutants.KINDS and m.DESCRIPTION, n
        assert mutants.frameworks(n) == ("tf",) or mutants.replacements(n), n
        for t in m.TARGETS:
            assert getattr(m, t) is not getattr(importlib.import_module("conformance.targets.reference"), t), n
        families.update(REGISTRY[t].family for t in m.TARGETS)
    assert families >= {"nn", "frcnn", "yolov3", "centernet"}


_CLIP = ("undetectable: 1 − ε_k = 1 − 1e-7 rounds to 1 in {}, so clip(p, ε_k, 1) and clip(p, ε_k, 1 − ε_k) are "
         "the same function of its inputs")
# (mutant, dtype) -> why the gate may not catch it there: undetectable in the dtype, or below its tolerance on the
# gate's draws (which change with the code's text: Hypothesis derives the derandomized seed from the test's source),
# with the figure measured; reported as xfail when not caught.
NOT_CAUGHT = {
    ("m08_bce_clip_upper_one", "float16"): _CLIP.format("float16"),
    ("m08_bce_clip_upper_one", "bfloat16"): _CLIP.format("bfloat16"),
    ("m30_reg_l1_float16_internals", "float16"): "undetectable: in float16 the casts to float16 are the identity",
    ("m30_reg_l1_float16_internals", "bfloat16"): (
        "undetectable at the value tier's magnitudes: float16 carries 3 more significant bits than bfloat16, so "
        "casting to it loses nothing at bfloat16's resolution within float16's range [6.1e-5, 65504]"),
    ("m02_sce_log_not_log1p", "float16"): (
        "undetectable: log(1 + e^{−|x|}) rounds 1 + e^{−|x|} with an absolute error ≤ u = 4.9e-4, below float16's "
        "absolute floor 16 · 2^-14 = 9.8e-4 (flush-to-zero), at every input"),
}
# (mutant, framework, mode) -> why it is not caught on that platform in any dtype, measured.
NOT_CAUGHT_ON = {
    ("m02_sce_log_not_log1p", "tf", "function"): (
        "undetectable: Grappler's arithmetic optimizer rewrites log(1 + x) as log1p(x), so the program "
        "tf.function runs has no mistake (log(1 + e^-20) in bfloat16: 0 eagerly, 2.07e-9 under tf.function)"),
}


def _assert_caught(mutant: str, framework: str, mode: str, dtype: str) -> None:
    """The gate fails ``mutant`` built for ``framework`` in some check, or it is a listed miss (xfail, with why)."""
    m = mutants.load(mutant, framework)
    caught = judge.caught(m, mutant, framework, mode, dtype)
    why = NOT_CAUGHT.get((mutant, dtype)) or NOT_CAUGHT_ON.get((mutant, framework, mode))
    if why and not caught:
        pytest.xfail(f"{mutant} in {dtype} on {framework} {mode}: {why}")
    assert caught, (f"{mutant} ({m.KIND}: {m.DESCRIPTION}) passed every check of {m.TARGETS} x {m.CATEGORIES} "
                    f"in {dtype} on {framework} {mode}")


@pytest.mark.parametrize("dtype", ("float32", "float16", "bfloat16"))
@pytest.mark.parametrize("mutant", mutants.names())
def test_gate_catches_mutant(mutant: str, dtype: str) -> None:
    """Every mutant is caught in every dtype, with the tolerance model of the platform's measured arithmetic, but
    for the few :data:`NOT_CAUGHT` in a low-precision dtype, each with its reason."""
    _assert_caught(mutant, "tf", MODE, dtype)


# Platforms beside TensorFlow eager: (framework, mode).  Keras 3 runs on the backend Keras was imported with
# (TensorFlow here: the Keras-on-JAX mutants run in a process of their own, tests/test_frameworks.py).
PLATFORMS = (("tf", "function"), ("tf", "xla"), ("jax", "jit"), ("keras", "eager"), ("torch", "eager"))
IN_CI = (("jax", "jit"), "bfloat16")  # the platform and dtype judged on every run; all with the variable below
ALL_PLATFORMS = os.environ.get("CONFORMANCE_MUTANT_PLATFORMS") == "all"


def _platform_cases() -> list:
    """(mutant, framework, mode, dtype): IN_CI's platform and dtype, or every one with ALL_PLATFORMS."""
    return [pytest.param(n, framework, mode, dtype, id=f"{n}-{framework}-{mode}-{dtype}")
            for framework, mode in PLATFORMS for dtype in ("float16", "bfloat16")
            if ALL_PLATFORMS or ((framework, mode), dtype) == IN_CI
            for n in mutants.names(framework)]


@pytest.mark.slow
@pytest.mark.parametrize(("mutant", "framework", "mode", "dtype"), _platform_cases())
def test_gate_catches_mutant_on_platform(mutant: str, framework: str, mode: str, dtype: str) -> None:
    """The catalogue, built for each framework, is caught there in float16 and bfloat16 as on TensorFlow eager:
    the tolerances follow each platform's measured arithmetic, and none is so wide that the mistake passes."""
    pytest.importorskip({"tf": "tensorflow"}.get(framework, framework))
    _assert_caught(mutant, framework, mode, dtype)


def _first_float(c: Contract, ex: dict) -> tuple[int, ...]:
    return np.shape(ex[c.float_args[0]])


def _abs_extents(ex: dict) -> dict:
    return {**ex, **{k: np.concatenate([ex[k][..., :2], np.abs(ex[k][..., 2:])], -1) for k in ("boxes1", "boxes2")}}


def _normalised_output(ex: dict) -> dict:
    return {**ex, "output": ex["output"] / ex["output"].sum(axis=ex.get("axis", -1), keepdims=True)}


# Inputs on which a mutant of each kind must agree with the reference: (categories, strategy transform).
# Restricted runs skip the pinned examples (Phase.explicit), which the transform does not reach.
HONEST: dict[str, tuple[tuple[str, ...] | None, Callable[[Contract, st.SearchStrategy], st.SearchStrategy] | None]] = {
    "gradient-only": (("value",), None),
    "batch>1": (None, lambda c, s: s.filter(lambda ex: all(np.shape(ex[k])[0] == 1 for k in c.float_args))),
    "non-square": (None, lambda c, s: s.filter(lambda ex: _first_float(c, ex)[1] == _first_float(c, ex)[2])),
    "negative-extent": (None, lambda c, s: s.map(_abs_extents)),
    "unnormalised-probabilities": (("value",), lambda c, s: s.map(_normalised_output)),
}


@pytest.mark.parametrize("mutant", [n for n in mutants.names() if mutants.load(n).KIND in HONEST])
def test_mutant_kind_is_honest(mutant: str) -> None:
    """A mutant passes the gate where its KIND says the bug cannot show (B = 1, square maps, ...)."""
    m = mutants.load(mutant)
    categories, transform = HONEST[m.KIND]
    for name in m.TARGETS:
        c = REGISTRY[name]
        if transform is None:
            contract, profile = c, judge.GATE
        else:
            contract = dataclasses.replace(c, strategy=lambda c=c: transform(c, c.strategy()))
            profile = settings(judge.GATE, phases=(Phase.generate,))
        for category in categories or m.CATEGORIES:
            try:
                engine.run_check(contract, category, m, mutant, DTYPE, MODE, hypothesis_settings=profile)
            except AssertionError as exc:
                pytest.fail(f"{mutant} is declared {m.KIND!r}, but fails {name} {category} where the bug cannot "
                            f"show:\n{exc}")


def _provided() -> list[tuple[str, str]]:
    out = []
    for impl_name in CORRECT:
        module = importlib.import_module(impl_name)
        out += [(impl_name, n) for n in NAMES if getattr(module, n, None) is not None]
    return out


def test_reference_provides_every_name() -> None:
    assert {n for i, n in _provided() if i == CORRECT[0]} == set(NAMES)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("impl_name", "name"), _provided())
def test_correct_targets_pass_under_random_seeds(impl_name: str, name: str, seed: int) -> None:
    profile = settings(hypothesis.settings.get_profile(engine.DEFAULT_PROFILE), derandomize=False, database=None)
    module = importlib.import_module(impl_name)
    failures = [f"{category}: {msg}" for category in CATEGORIES
                if (msg := judge.failure(name, category, module, impl_name, profile, seed=seed)) is not None]
    if (impl_name, name) == KNOWN_FINDING:  # a true finding (docs/contracts.md): it must fail, and be named
        assert failures and all("TF-WCE-GRAD-AT-ZERO" in f for f in failures), failures
        return
    assert not failures, f"{impl_name} fails {name} with seed {seed}:\n" + "\n".join(failures)
