#!/usr/bin/env bash
# Training on a Slurm cluster: srun starts one task per GPU (or per CPU worker on a CPU partition); each task reads
# SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID / SLURM_NODELIST (mmdet_face.engine.dist, --launcher slurm).
#   GPUS=16 GPUS_PER_NODE=8 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# CPU partition (no --gres): GRES= GPUS=4 GPUS_PER_NODE=2 bash tools/slurm_train.sh ...   (GPUS = tasks)
# MASTER_PORT (default 29500) must be free on the job's first node. PYTHON picks the interpreter. The other
# variables (CPUS_PER_TASK, SRUN_ARGS) are tools/slurm_run.sh's.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: [GPUS=N] bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]" >&2
    exit 2
fi
TOOLS="$(cd "$(dirname "$0")" && pwd)"
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4
exec bash "$TOOLS/slurm_run.sh" "$PARTITION" "$JOB_NAME" "$TOOLS/train.py" "$CONFIG" --work-dir="$WORK_DIR" \
    --launcher slurm "$@"
