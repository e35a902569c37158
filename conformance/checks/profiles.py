"""Hypothesis profiles of the suite, registered when the plugin module is imported.

Registration must precede Hypothesis' own ``pytest_configure``, which loads the profile
named by ``--hypothesis-profile``; so this module imports nothing heavier than Hypothesis.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import HealthCheck, Phase, settings

HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
          HealthCheck.large_base_example]

PROFILES = {
    "conformance-gate": dict(max_examples=25, derandomize=True, database=None),
    "conformance-dev": dict(max_examples=60),
    "conformance-thorough": dict(max_examples=500),
}
DEFAULT_PROFILE = "conformance-gate"
# No Phase.explain: its "lines always run by failing test cases" lists the suite's own files, not the user's.
PHASES = tuple(p for p in Phase if p is not Phase.explain)


def register_profiles() -> None:
    """Register the gate (deterministic, default), dev and thorough profiles with Hypothesis."""
    for name, kw in PROFILES.items():
        settings.register_profile(name, deadline=None, suppress_health_check=HEALTH, print_blob=True,
                                  report_multiple_bugs=False, phases=PHASES, **kw)


@contextmanager
def without_local_constants() -> Iterator[None]:
    """Keep literals of the loaded local modules out of Hypothesis' draws (the checks and fixture generation).

    Hypothesis mixes constants found in the source of every *local* module in ``sys.modules``
    into its draws, so the stream would depend on which modules happen to be imported (the
    implementation under test included), on whether this package is installed editable (its
    own modules are then local) and on unrelated source edits: the derandomized gate would
    draw other examples on another machine.  This patches the
    internal hook (``hypothesis.internal.conjecture.providers._get_local_constants``) with an
    empty pool for the duration; where a Hypothesis version lacks it, nothing is patched.
    """
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants

        original = providers._get_local_constants
        cache = providers.CONSTANTS_CACHE.cache
    except (ImportError, AttributeError):  # pragma: no cover - other Hypothesis versions
        yield
        return
    empty = Constants()
    providers._get_local_constants = lambda: empty
    cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.clear()
