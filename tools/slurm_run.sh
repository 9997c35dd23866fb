#!/usr/bin/env bash
# srun for the Slurm tools (tools/slurm_train.sh, tools/slurm_test.sh): GPUS tasks of SCRIPT, GPUS_PER_NODE per node
# (default min(GPUS, 8)), each with --gres=GRES (default gpu:GPUS_PER_NODE; GRES= for a CPU partition) and
# CPUS_PER_TASK cores (default 5); --kill-on-bad-exit ends the job when one task fails. Each task reads SLURM_PROCID /
# SLURM_NTASKS / SLURM_LOCALID / SLURM_NODELIST (mmdet_face.engine.dist, --launcher slurm).
# A task ends when its parent, the Slurm step daemon, does (mmdet_face.engine.dist.exit_with_launcher); srun is not
# the tasks' parent, so a killed srun ends them only when Slurm ends the step.
#   bash tools/slurm_run.sh PARTITION JOB_NAME SCRIPT [SCRIPT's arguments]
# MASTER_PORT (default 29500) must be free on the job's first node. SRUN_ARGS adds srun options; PYTHON picks the
# interpreter.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: [GPUS=N] bash tools/slurm_run.sh PARTITION JOB_NAME SCRIPT [arguments]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
SCRIPT=$3
shift 3
GPUS=${GPUS:-8}
if ! [[ $GPUS =~ ^[1-9][0-9]*$ ]]; then
    echo "slurm_run.sh: GPUS must be a positive whole number (tasks), got '$GPUS'" >&2
    exit 2
fi
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
GRES=${GRES-gpu:$GPUS_PER_NODE}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
PYTHON=${PYTHON:-python}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export MASTER_PORT=${MASTER_PORT:-29500}
for name in GPUS_PER_NODE CPUS_PER_TASK; do
    if ! [[ ${!name} =~ ^[1-9][0-9]*$ ]]; then
        echo "slurm_run.sh: $name must be a positive whole number, got '${!name}'" >&2
        exit 2
    fi
done
if ! [[ $MASTER_PORT =~ ^[1-9][0-9]{0,4}$ ]] || (( MASTER_PORT > 65535 )); then
    echo "slurm_run.sh: MASTER_PORT must be a port number (1..65535), got '$MASTER_PORT'" >&2
    exit 2
fi
GRES_ARG=()
if [ -n "$GRES" ]; then GRES_ARG=(--gres="$GRES"); fi
# shellcheck disable=SC2086
PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec srun -p "$PARTITION" --job-name="$JOB_NAME" "${GRES_ARG[@]}" \
    --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 $SRUN_ARGS \
    "$PYTHON" -u "$SCRIPT" "$@"
