#!/usr/bin/env bash
# Training on a Slurm cluster: srun starts one task per GPU (or per CPU worker on a CPU partition); each task reads
# SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID / SLURM_NODELIST (mmdet_face.engine.dist, --launcher slurm).
#   GPUS=16 GPUS_PER_NODE=8 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# CPU partition (no --gres): GRES= GPUS=4 GPUS_PER_NODE=2 bash tools/slurm_train.sh ...   (GPUS = tasks)
# MASTER_PORT (default 29500) must be free on the job's first node. PYTHON picks the interpreter.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: [GPUS=N] bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
GRES=${GRES-gpu:$GPUS_PER_NODE}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
PYTHON=${PYTHON:-python}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export MASTER_PORT=${MASTER_PORT:-29500}
GRES_ARG=()
if [ -n "$GRES" ]; then GRES_ARG=(--gres="$GRES"); fi
# shellcheck disable=SC2086
PYTHONPATH="$ROOT:${PYTHONPATH:-}" srun -p "$PARTITION" --job-name="$JOB_NAME" "${GRES_ARG[@]}" \
    --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 $SRUN_ARGS \
    "$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher slurm "$@"
