"""A run's surroundings: the suite's cache folder, TensorFlow's start-up lines, Hypothesis' and
pytest-benchmark's folders (kept out of the user's current folder)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.parallel import is_controller


def cache_dir() -> Path:
    """Where the suite keeps Hypothesis' and pytest-benchmark's files and the default reproducers.

    ``$CONFORMANCE_CACHE_DIR``, else ``$XDG_CACHE_HOME/loss-conformance``, else ``~/.cache/loss-conformance``.
    """
    if os.environ.get("CONFORMANCE_CACHE_DIR"):
        return Path(os.environ["CONFORMANCE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "loss-conformance"


def tidy_environment(config: pytest.Config) -> None:
    """Quiet TensorFlow's start-up logging and keep ``.hypothesis/`` and ``.benchmarks/`` out of the current folder.

    Each applies only where the user chose nothing: ``TF_CPP_MIN_LOG_LEVEL`` (set to 2: warnings and errors are still
    shown; inherited by pytest-xdist's workers), ``HYPOTHESIS_STORAGE_DIRECTORY`` and ``--benchmark-storage``.
    """
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ or os.environ.get("CONFORMANCE_QUIET_TF") == "1":
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
        os.environ["CONFORMANCE_QUIET_TF"] = "1"  # so that pytest-xdist's workers, which inherit both, quiet it too
        config.stash[_QUIET_KEY] = True
    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY") and not is_controller(config):  # workers: their own
        from hypothesis.configuration import set_hypothesis_home_dir

        set_hypothesis_home_dir(cache_dir() / "hypothesis")
    if getattr(config.option, "benchmark_storage", None) == "file://./.benchmarks":
        config.option.benchmark_storage = f"file://{cache_dir() / 'benchmarks'}"


_QUIET_KEY = pytest.StashKey[bool]()  # TF_CPP_MIN_LOG_LEVEL was unset: filter TensorFlow's start-up lines too
# TensorFlow's start-up lines on stderr, printed while it is imported whatever TF_CPP_MIN_LOG_LEVEL says
STARTUP_NOISE = re.compile("|".join([r"All log messages before absl::InitializeLog\(\) is called",
                                       r"\] oneDNN custom operations are on", r"cpu_feature_guard\.cc:\d+\]",
                                       r"^To enable the following instructions: .*rebuild TensorFlow"]))


@contextlib.contextmanager
def quiet_startup(config: pytest.Config) -> Iterator[None]:
    """While importing the implementation (and so, usually, TensorFlow), drop TensorFlow's start-up lines from stderr.

    Only when the user did not set ``TF_CPP_MIN_LOG_LEVEL`` and TensorFlow is not imported yet; every other line
    written to stderr meanwhile is passed on.
    """
    if not config.stash.get(_QUIET_KEY, False) or "tensorflow" in sys.modules:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace")
            sys.stderr.write("".join(ln for ln in text.splitlines(keepends=True) if not STARTUP_NOISE.search(ln)))
            sys.stderr.flush()
