#!/usr/bin/env bash
# WIDER FACE test on a Slurm cluster: one task per GPU (or per CPU worker); rank 0 scores and writes --out.
#   GPUS=8 bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py options]
# CPU partition (no --gres): GRES= GPUS=4 GPUS_PER_NODE=2 bash tools/slurm_test.sh ...   (GPUS = tasks)
# The other variables (MASTER_PORT, CPUS_PER_TASK, SRUN_ARGS, PYTHON) are tools/slurm_run.sh's.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: [GPUS=N] bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py options]" >&2
    exit 2
fi
TOOLS="$(cd "$(dirname "$0")" && pwd)"
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
shift 4
exec bash "$TOOLS/slurm_run.sh" "$PARTITION" "$JOB_NAME" "$TOOLS/test.py" "$CONFIG" "$CHECKPOINT" --launcher slurm "$@"
