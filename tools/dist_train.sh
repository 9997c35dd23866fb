#!/usr/bin/env bash
# Distributed training with torchrun: one process per GPU (NCCL, device LOCAL_RANK), or NPROC CPU processes on a
# machine without GPUs (gloo). mmdet_face.engine.dist starts the process group before mmengine's runner.
#   bash tools/dist_train.sh CONFIG NPROC [train.py options]
# Multi-node (run once per node; PORT must be free on MASTER_ADDR):
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=host0 PORT=29500 bash tools/dist_train.sh CONFIG 8 ...   # on host0
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=host0 PORT=29500 bash tools/dist_train.sh CONFIG 8 ...   # on host1
# PYTHON picks the interpreter (default: python). Without OMP_NUM_THREADS each process gets nproc / NPROC threads.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: bash tools/dist_train.sh CONFIG NPROC [train.py options]" >&2
    exit 2
fi
TOOLS="$(cd "$(dirname "$0")" && pwd)"
CONFIG=$1
NPROC=$2
shift 2
exec bash "$TOOLS/dist_run.sh" "$NPROC" "$TOOLS/train.py" "$CONFIG" --launcher pytorch "$@"
