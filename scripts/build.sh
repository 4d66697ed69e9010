#!/usr/bin/env bash
# Configures and builds one CMake preset (default: release). CUDA is built whenever nvcc exists.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
if [[ ! -x "$(command -v nvcc || true)" && -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
cmake --preset "$preset" >/dev/null
jobs="${DSBENCH_JOBS:-$(nproc)}"
cmake --build --preset "$preset" -j "$jobs"
