#!/usr/bin/env bash
# The GPU check, one script: local throughput fp32 vs bf16 and the server under load, on CUDA.
# Run from the repository root on a machine with a CUDA GPU and torch; clipbridge is imported from
# this checkout (no install needed). Output: one log per benchmark under ${OUT:-benchmarks/out}.
set -uo pipefail
out=${OUT:-benchmarks/out}
mkdir -p "$out" /tmp/clipbridge-pkgs
ln -sfn "$PWD/core" /tmp/clipbridge-pkgs/clipbridge
export PYTHONPATH=/tmp/clipbridge-pkgs${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
timeout 240 python3 benchmarks/local_throughput.py --device cuda 2>&1 | tee "$out/local_throughput_cuda.log"
for dtype in bfloat16; do
  timeout 300 python3 benchmarks/serve_load.py --device cuda --dtype "$dtype" --rounds 2 2>&1 \
    | tee "$out/serve_load_cuda_$dtype.log"
done
