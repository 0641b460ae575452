#!/usr/bin/env bash
# What a lent GPU is for, in one short run: the engine's checks on the device
# (bench/device_check.py), then bench/inference.py on a random-weight checkpoint with the shapes
# of LLaVA-1.5-7B, built there (never shipped). Results go to $OUT (default ./gpu-out).
#
#   OUT=/some/dir bench/gpu_session.sh
#   DEVICE=cpu SIZE=tiny PYTHON=.venv/bin/python bench/gpu_session.sh   # a rehearsal on a CPU
set -uo pipefail
OUT=${OUT:-gpu-out}
DEVICE=${DEVICE:-cuda}
SIZE=${SIZE:-7b}
ARCH=${ARCH:-llava}
PY=${PYTHON:-python3}
BENCH_ARGS=${BENCH_ARGS:---images 16 --batches 1,8,16 --sequential-images 8}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
mkdir -p "$OUT"
quiet() { grep --line-buffered -v "Loading weights\|Writing model shards"; }

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
    "$PY" -c "import torch, transformers; from importlib.metadata import version
print('torch', torch.__version__, 'transformers', transformers.__version__,
      'xgrammar', version('xgrammar'))"
    df -h /dev/shm /tmp
} 2>&1 | tee "$OUT/env.txt"

if [ "${CHECKS:-1}" = 1 ]; then
    timeout "${CHECK_S:-150}" "$PY" -m bench.device_check --device "$DEVICE" 2>&1 | quiet \
        | tee "$OUT/device_check.txt"
fi

# the checkpoint (13.5 GB for 7b) goes to memory when there is room for it
work=/dev/shm
avail=$(df --output=avail -k /dev/shm 2>/dev/null | tail -1)
if [ "${avail:-0}" -lt 30000000 ]; then work=${TMPDIR:-/tmp}; fi
# shellcheck disable=SC2086 # BENCH_ARGS is a list of options
timeout "${BENCH_S:-330}" "$PY" bench/inference.py --arch "$ARCH" --sizes "$SIZE" \
    --device "$DEVICE" --workdir "$work" $BENCH_ARGS 2>&1 | quiet | tee "$OUT/inference.txt"
