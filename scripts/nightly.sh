#!/usr/bin/env bash
# Nightly run: executes suites/plans/nightly.json, stores results/nightly/<date>-<sha>.json,
# compares it with results/baselines/<host>.json, and writes the report and the trend page.
# Usage: scripts/nightly.sh [--quick] [--update-baseline]
#   --quick            run the plan's quick variant (a smoke test of the pipeline)
#   --update-baseline  adopt this run as the host's baseline when the gate passed (or none existed)
#   DSBENCH, DSBENCH_NIGHTLY_PLAN, DSBENCH_NIGHTLY_DIR, DSBENCH_HOST, DSBENCH_BASELINE override
#   the executable, plan, output folder, host name and baseline file.
# Exit: 0 ok (or no baseline yet), 1 a gated benchmark regressed, 2/3 the run or inputs failed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dsbench=${DSBENCH:-$root/build/release/dsbench}
[[ -x $dsbench || -n ${DSBENCH:-} ]] || dsbench=$root/build/dsbench
plan=${DSBENCH_NIGHTLY_PLAN:-$root/suites/plans/nightly.json}
out_dir=${DSBENCH_NIGHTLY_DIR:-$root/results/nightly}
host=${DSBENCH_HOST:-$(hostname -s 2>/dev/null || hostname)}
baseline=${DSBENCH_BASELINE:-$root/results/baselines/$host.json}
quick=() update=0
for arg in "$@"; do
  case $arg in
    --quick) quick=(--quick) ;;
    --update-baseline) update=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "nightly.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
[[ -x $dsbench ]] || { echo "nightly.sh: $dsbench not found; build first or set DSBENCH" >&2; exit 2; }

stamp=$(date -u +%Y-%m-%d)
sha=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
name=$stamp-$sha
result=$out_dir/$name.json
mkdir -p "$out_dir"
echo "nightly: running $plan -> $result"
"$dsbench" run --plan "$plan" "${quick[@]}" --quiet --out "$result"

gate=0
if [[ -f $baseline ]]; then
  set +e
  "$dsbench" compare "$baseline" "$result" --format md -o "$out_dir/$name.compare.md"
  gate=$?
  set -e
  if [[ $gate -ge 2 ]]; then
    echo "nightly: compare failed (exit $gate)" >&2
    exit $gate
  fi
  "$dsbench" report "$result" --baseline "$baseline" -o "$out_dir/$name.html"
  echo "nightly: verdicts in $out_dir/$name.compare.md"
else
  "$dsbench" report "$result" -o "$out_dir/$name.html"
  echo "nightly: no baseline at $baseline (adopt this run with --update-baseline)"
fi
"$dsbench" history "$out_dir" -o "$out_dir/trend.html"
echo "nightly: report $out_dir/$name.html, trend $out_dir/trend.html"

if [[ $update == 1 && $gate == 0 ]]; then
  mkdir -p "$(dirname "$baseline")"
  cp "$result" "$baseline.tmp" && mv "$baseline.tmp" "$baseline"
  echo "nightly: baseline updated: $baseline"
fi
if [[ $gate == 1 ]]; then
  echo "nightly: FAILED: a gated benchmark regressed against $baseline" >&2
fi
exit $gate
