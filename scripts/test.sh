#!/usr/bin/env bash
# Installs what is missing, builds everything (CUDA included when nvcc exists) and runs every
# test with ctest. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
cd build/release
# ctest runs two test programs at once on small machines; OpenMP's default busy-waiting would make
# each spin against the other's threads (orders of magnitude slower), so waiting threads sleep.
export OMP_WAIT_POLICY=passive
ctest --output-on-failure -j "${DSBENCH_TEST_JOBS:-2}" --timeout 900
