"""Regression fixtures: the on-disk format (:mod:`.format`), generation (:mod:`.generate`), one case's
judgement (:mod:`.cases`) and replay (:mod:`.replay`).  The committed set lives in ``data/``."""

from conformance.regression.format import (
    COMMITTED,
    DEFAULT_PER_NAME,
    DEFAULT_SEED,
    MANIFEST,
    SCHEMA_VERSION,
    FixtureError,
    FixtureSet,
    digest,
    load,
    resolve,
    verify,
)
from conformance.regression.generate import draw_examples, generate, oracle_expected, targets
from conformance.regression.replay import pytest_replay, replay

__all__ = ["COMMITTED", "DEFAULT_PER_NAME", "DEFAULT_SEED", "MANIFEST", "SCHEMA_VERSION", "FixtureError", "FixtureSet",
           "digest", "draw_examples", "generate", "load", "oracle_expected", "replay", "resolve", "targets", "verify",
           "pytest_replay"]
