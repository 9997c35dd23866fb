#!/usr/bin/env bash
# Distributed WIDER FACE test with torchrun: one process per GPU (NCCL), or NPROC CPU processes without GPUs (gloo).
# Each rank tests its share of the images; WiderFaceMetric gathers them and rank 0 scores and writes --out.
#   bash tools/dist_test.sh CONFIG CHECKPOINT NPROC [tools/test.py options, e.g. --mode vga --out DIR]
# Multi-node: NNODES=2 NODE_RANK=0|1 MASTER_ADDR=host0 PORT=29500 bash tools/dist_test.sh CONFIG CKPT 8 ...
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: bash tools/dist_test.sh CONFIG CHECKPOINT NPROC [tools/test.py options]" >&2
    exit 2
fi
TOOLS="$(cd "$(dirname "$0")" && pwd)"
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
shift 3
exec bash "$TOOLS/dist_run.sh" "$NPROC" "$TOOLS/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
