#!/usr/bin/env bash
# Installs what is missing, builds everything (CUDA included when nvcc exists) and runs every
# test with ctest, then builds and tests again without -march=native (the portable preset). This
# is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
# ctest runs two test programs at once on small machines; OpenMP's default busy-waiting would make
# each spin against the other's threads (orders of magnitude slower), so waiting threads sleep.
export OMP_WAIT_POLICY=passive
(cd build/release && ctest --output-on-failure -j "${DSBENCH_TEST_JOBS:-2}" --timeout 900)
# The same tests on a CPU-only build without -march=native: the kernels' paths for CPUs without
# AVX-512, which the release build on an AVX-512 host never compiles. DSBENCH_TEST_PORTABLE=0
# skips this pass.
if [[ "${DSBENCH_TEST_PORTABLE:-1}" != 0 ]]; then
  echo "== portable build (no -march=native, CPU only) ==" >&2
  scripts/build.sh portable
  (cd build/portable && ctest --output-on-failure -j "${DSBENCH_TEST_JOBS:-2}" --timeout 900)
fi
