#!/usr/bin/env bash
# Multi-GPU WIDER FACE test with torchrun (one process per GPU); WiderFaceMetric gathers every rank's images.
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test_widerface.py options, e.g. --mode vga --out DIR]
# Multi-node: NNODES=2 NODE_RANK=0 MASTER_ADDR=host0 PORT=29500 bash tools/dist_test.sh CONFIG CKPT 8 ...
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-python}
PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$ROOT/tools/test_widerface.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
