#!/usr/bin/env bash
# The conformance gate for a TensorFlow loss package: exits non-zero on any regression.
#
#   GATE_IMPL=mypkg.losses GATE_GOLDEN=tests/conformance-golden bash conformance-gate.sh [pytest options]
#
#   GATE_IMPL        the implementation under test: a dotted module or a .py path (required)
#   GATE_GOLDEN      a golden fixture set recorded from the last accepted version (optional)
#   GATE_REPORT_DIR  where conformance.json and conformance.html go (default: conformance-report)
#   PYTHON           the interpreter that has the package and loss-conformance installed (default: python)
#
# It verifies the fixture sets (schema and sha256 only), then runs every check category with the
# deterministic conformance-gate Hypothesis profile and replays the committed set and the golden set.
# Exit status: pytest's (0 passed, 1 a check failed, 2 interrupted, 3 internal error, 4 usage error,
# 5 nothing collected), or 1 when a fixture set fails verification.
set -euo pipefail

: "${GATE_IMPL:?set GATE_IMPL to the module under test, e.g. GATE_IMPL=mypkg.losses}"
python="${PYTHON:-python}"
report_dir="${GATE_REPORT_DIR:-conformance-report}"
mkdir -p "$report_dir"

"$python" -m conformance fixtures verify committed
sets=(--fixtures-dir=committed)
if [ -n "${GATE_GOLDEN:-}" ]; then
    "$python" -m conformance fixtures verify "$GATE_GOLDEN"
    sets+=("--fixtures-dir=$GATE_GOLDEN")
fi

exec "$python" -m pytest --pyargs conformance \
    --impl="$GATE_IMPL" \
    --hypothesis-profile=conformance-gate \
    -p no:cacheprovider \
    "${sets[@]}" \
    --report-json="$report_dir/conformance.json" \
    --report="$report_dir/conformance.html" \
    "$@"
