#!/usr/bin/env bash
# torchrun for the distributed tools (tools/dist_train.sh, tools/dist_test.sh): NPROC processes of SCRIPT on this
# node, one per GPU (NCCL, device LOCAL_RANK) or NPROC CPU processes without GPUs (gloo).
#   bash tools/dist_run.sh NPROC SCRIPT [SCRIPT's arguments]
# Multi-node (once per node; PORT must be free on MASTER_ADDR): NNODES, NODE_RANK, MASTER_ADDR, PORT (default 29500).
# PYTHON picks the interpreter (default: python). Without OMP_NUM_THREADS each process gets nproc / NPROC threads.
# The processes end when torchrun does, even when it is killed (mmdet_face.engine.dist.exit_with_launcher).
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: bash tools/dist_run.sh NPROC SCRIPT [arguments]" >&2
    exit 2
fi
NPROC=$1
SCRIPT=$2
shift 2
if ! [[ $NPROC =~ ^[1-9][0-9]*$ ]]; then
    echo "dist_run.sh: NPROC must be a positive whole number, got '$NPROC'" >&2
    exit 2
fi
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
if ! [[ $NNODES =~ ^[1-9][0-9]*$ ]]; then
    echo "dist_run.sh: NNODES must be a positive whole number, got '$NNODES'" >&2
    exit 2
fi
if ! [[ $NODE_RANK =~ ^[0-9]+$ ]] || (( 10#$NODE_RANK >= NNODES )); then
    echo "dist_run.sh: NODE_RANK must be a whole number below NNODES ($NNODES), got '$NODE_RANK'" >&2
    exit 2
fi
if ! [[ $PORT =~ ^[1-9][0-9]{0,4}$ ]] || (( PORT > 65535 )); then
    echo "dist_run.sh: PORT must be a port number (1..65535), got '$PORT'" >&2
    exit 2
fi
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-python}
THREADS=$(( $(nproc) / NPROC ))
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( THREADS > 0 ? THREADS : 1 ))}
PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" --master_port="$PORT" \
    "$SCRIPT" "$@"
