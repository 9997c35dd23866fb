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
CONFIG=$1
NPROC=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-python}
THREADS=$(( $(nproc) / NPROC ))
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( THREADS > 0 ? THREADS : 1 ))}
PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" --master_port="$PORT" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "$@"
