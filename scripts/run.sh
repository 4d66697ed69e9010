#!/usr/bin/env bash
# One command from a fresh clone: install what is missing, build, run the default plan on the
# embedded engine (CPU unless a GPU is present) and write results/latest.json plus its report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
./build/release/dsbench run --plan suites/plans/default.json --out results/latest.json "$@"
if ./build/release/dsbench report --help >/dev/null 2>&1; then
  ./build/release/dsbench report results/latest.json -o results/latest.html
  echo "report: results/latest.html"
fi
