#!/usr/bin/env bash
# Configures and builds FitNN into build/ (Release; CUDA when nvcc is found).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# nvcc, when the CUDA toolkit is installed, compiles the CUDA backend (no GPU needed to build).
if [ -x /usr/local/cuda/bin/nvcc ]; then export PATH="/usr/local/cuda/bin:$PATH"; fi
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j"$(nproc)"
