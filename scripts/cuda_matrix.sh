#!/usr/bin/env bash
# The CUDA half of the device matrix, run on a machine with a GPU (results land under results/cuda/).
#
# Usage: scripts/cuda_matrix.sh OUTPUT_DIR [SECONDS_PER_STEP]
# It expects torch with CUDA already installed (a GPU machine's own build) and installs prunebench
# without dependencies, so nothing is fetched: a GPU box often has no registry to fetch from.
set -uo pipefail
out=${1:?usage: scripts/cuda_matrix.sh OUTPUT_DIR [SECONDS_PER_STEP]}
limit=${2:-240}
mkdir -p "$out"
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . ./examples/my_pruner ./examples/own_pruners
python3 - <<'PY' | tee "$out/machine.txt"
import os, platform, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(0), "cores", os.cpu_count(), "python", platform.python_version())
PY
export PYTHONUNBUFFERED=1
timeout "$limit" prunebench run --backend=reference,torch --device=cuda --dtype=float32,float16,bfloat16 \
    -n 8 --report="$out/conformance" 2>&1 | tail -n 40
echo "conformance rc ${PIPESTATUS[0]}"
timeout "$limit" prunebench run --backend=reference,torch --suite=perf --device=cuda --perf-sizes=1024,4096,8192 \
    --baseline=torch --report="$out/perf" 2>&1 | tail -n 40
echo "perf rc ${PIPESTATUS[0]}"
