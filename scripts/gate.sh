#!/usr/bin/env bash
# CI regression gate: compares a candidate result with a baseline and fails (exit 1) when a gated
# benchmark regressed. Usage: scripts/gate.sh BASE.json CAND.json [extra dsbench compare options]
#   DSBENCH            the dsbench executable (default: build/release/dsbench)
#   DSBENCH_GATE_MD    also write the Markdown verdict table here (for a CI comment)
#   DSBENCH_GATE_JSON  also write the JSON verdicts here
#   DSBENCH_GATE_STRICT=1  a gated benchmark missing from, or skipped in, the candidate fails too
#   DSBENCH_GATE_OVERRIDES  per-benchmark thresholds file (see docs/reports.md)
# Exit: 0 passed, 1 regression, 2 bad input (unreadable or malformed result file).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dsbench=${DSBENCH:-$root/build/release/dsbench}
[[ -x $dsbench || -n ${DSBENCH:-} ]] || dsbench=$root/build/dsbench
if [[ $# -lt 2 ]]; then
  echo "usage: scripts/gate.sh BASE.json CAND.json [dsbench compare options]" >&2
  exit 2
fi
base=$1 cand=$2
shift 2
if [[ ! -x $dsbench ]]; then
  echo "gate.sh: $dsbench not found; build first (scripts/test.sh) or set DSBENCH" >&2
  exit 2
fi
opts=("$@")
[[ ${DSBENCH_GATE_STRICT:-0} == 1 ]] && opts+=(--strict)
[[ -n ${DSBENCH_GATE_OVERRIDES:-} ]] && opts+=(--overrides "$DSBENCH_GATE_OVERRIDES")

# The extra formats first: their exit codes repeat the verdict, which the text run decides.
if [[ -n ${DSBENCH_GATE_MD:-} ]]; then
  "$dsbench" compare "$base" "$cand" "${opts[@]}" --format md -o "$DSBENCH_GATE_MD" 2>/dev/null || true
fi
if [[ -n ${DSBENCH_GATE_JSON:-} ]]; then
  "$dsbench" compare "$base" "$cand" "${opts[@]}" --format json -o "$DSBENCH_GATE_JSON" 2>/dev/null || true
fi
set +e
"$dsbench" compare "$base" "$cand" "${opts[@]}" --format text
rc=$?
set -e
case $rc in
  0) echo "gate.sh: passed" ;;
  1) echo "gate.sh: FAILED: a gated benchmark regressed" >&2 ;;
  *) echo "gate.sh: bad input (exit $rc)" >&2 ;;
esac
exit $rc
