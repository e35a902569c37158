#!/usr/bin/env bash
# Runs the suite on a correct and on a broken implementation of a user-registered contract.
# Exits 0 only when the correct one passes and the broken one fails.
set -uo pipefail
cd "$(dirname "$0")"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TF_CPP_MIN_LOG_LEVEL=3
run() { python -m pytest --pyargs conformance -p varifocal_contract -p no:cacheprovider -q -k varifocal_loss \
        --impl="$1" "${@:2}"; }
run good_losses > good.log 2>&1; good=$?
run broken_losses > broken.log 2>&1; broken=$?
echo "correct implementation: exit $good (want 0); broken implementation: exit $broken (want 1)"
tail -n 12 broken.log
[ "$good" -eq 0 ] && [ "$broken" -eq 1 ] || { echo "run.sh: FAILED (see good.log, broken.log)"; exit 1; }
echo "run.sh: OK"
