"""A module judged in-process as the pytest gate judges it, for the mutant and zoo tests.

:func:`conformance.checks.engine.run_check` is the code the gate runs; :data:`GATE` is the gate's Hypothesis
profile (derandomized, 25 examples) minus its shrink phase: the examples drawn, and so whether a bug is caught,
are the gate's; shrinking only minimises a failure already found and is left out to save time.
"""

from __future__ import annotations

import hypothesis
from hypothesis import Phase, settings

from conformance import runners
from conformance.checks import engine
from conformance.contracts import REGISTRY

engine.register_profiles()
GATE = settings(hypothesis.settings.get_profile(engine.DEFAULT_PROFILE),
                phases=(Phase.explicit, Phase.reuse, Phase.generate))


def failure(name: str, category: str, impl: object, impl_name: str, hypothesis_settings: settings = GATE,
            seed: int | None = None, dtype: str = "float32", mode: str = "eager",
            passing: tuple[str, ...] = ("passed",)) -> str | None:
    """The failure message of one check (with the failing inputs), or ``None`` when its status is ``passing``."""
    try:
        result = engine.run_check(REGISTRY[name], category, impl, impl_name, dtype, mode,
                                  hypothesis_settings=hypothesis_settings, seed=seed)
    except AssertionError as exc:  # ConformanceFailure is an AssertionError; its notes hold the inputs
        return "\n".join([str(exc), *getattr(exc, "__notes__", [])])
    assert result.status in passing, f"{impl_name}: {name} {category}: {result.status}: {result.message}"
    return None


def caught(module: object, label: str, framework: str, mode: str | None = None, dtype: str = "float32") -> list[str]:
    """The first line of each check of ``module.TARGETS`` x ``module.CATEGORIES`` that fails on ``framework``
    (``mode`` None: the framework's default)."""
    with runners.using(framework) as runner:
        mode = mode or runner.DEFAULT_MODE
        return [f"{name} {category}: {msg.splitlines()[0]}"
                for name in module.TARGETS for category in module.CATEGORIES
                if (msg := failure(name, category, module, label, dtype=dtype, mode=mode)) is not None]
