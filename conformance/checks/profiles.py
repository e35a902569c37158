"""Hypothesis profiles of the suite, registered when the plugin module is imported.

Registration must precede Hypothesis' own ``pytest_configure``, which loads the profile
named by ``--hypothesis-profile``; so this module imports nothing heavier than Hypothesis.
"""

from __future__ import annotations

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
