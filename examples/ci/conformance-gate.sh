#!/usr/bin/env bash
# The conformance gate for a TensorFlow loss package: exits non-zero on any regression.
#
#   GATE_IMPL=mypkg.losses GATE_GOLDEN=tests/conformance-golden bash conformance-gate.sh [pytest options]
#
#   GATE_IMPL        the implementation under test: a dotted module or a .py path (required)
#   GATE_GOLDEN      a golden fixture set recorded from the last accepted version (optional)
#   GATE_REPORT_DIR  where conformance.json and conformance.html go (default: conformance-report)
#   GATE_SHARD       K/N: run shard K of N (--shard=K/N) and write conformance-<tag>.json (optional)
#   GATE_DTYPE       dtype(s) under test, e.g. float32 or float16,bfloat16 (optional; default float32)
#   GATE_MODE        the mode (eager, function, xla; jit for JAX; compile for PyTorch) (optional)
#   PYTHON           the interpreter that has the package and loss-conformance installed (default: python)
#
# A matrix job (GATE_SHARD, GATE_DTYPE or GATE_MODE set) writes only its JSON, named after its cell and shard
# (conformance-float16-xla-2of3.json) and exits 0 whatever the verdicts unless the run itself broke (usage
# error, no JSON): the merge job judges the matrix as a whole,
#   python -m conformance report merge --json merged.json --html merged.html conformance-report/*.json
# and fails with the verdict of a single run of the whole matrix.  A part killed on the way (a crash, a time
# limit) leaves the results it reached in its JSON, which the merge reads.
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

matrix=()
[ -n "${GATE_SHARD:-}" ] && matrix+=("--shard=$GATE_SHARD")
[ -n "${GATE_DTYPE:-}" ] && matrix+=("--dtype=$GATE_DTYPE")
[ -n "${GATE_MODE:-}" ] && matrix+=("--mode=$GATE_MODE")

if [ ${#matrix[@]} -eq 0 ]; then
    exec "$python" -m pytest --pyargs conformance \
        --impl="$GATE_IMPL" \
        --hypothesis-profile=conformance-gate \
        -p no:cacheprovider \
        "${sets[@]}" \
        --report-json="$report_dir/conformance.json" \
        --report="$report_dir/conformance.html" \
        "$@"
fi

tag="${GATE_DTYPE:-float32}-${GATE_MODE:-default}${GATE_SHARD:+-${GATE_SHARD/\//of}}"
tag="${tag//,/+}"
status=0
"$python" -m pytest --pyargs conformance \
    --impl="$GATE_IMPL" \
    --hypothesis-profile=conformance-gate \
    -p no:cacheprovider \
    "${sets[@]}" \
    "${matrix[@]}" \
    --report-json="$report_dir/conformance-$tag.json" \
    "$@" || status=$?
# 0 passed, 1 a check failed: the merge judges; anything else (or no JSON at all) breaks the job
if [ ! -s "$report_dir/conformance-$tag.json" ] || [ "$status" -gt 1 ]; then
    echo "conformance gate: the run of $tag ended with status $status" >&2
    [ -s "$report_dir/conformance-$tag.json" ] || exit "$status"
fi
exit 0
