#!/usr/bin/env bash
# Search workers as a Slurm job array: each array task is one worker that pulls trials from the study until it is
# done (queued candidates first, then new draws), training each trial on the task's GPUS_PER_TRIAL GPUs.
#   WORKERS=16 PARALLEL=8 GPUS_PER_TRIAL=1 TIME=24:00:00 \
#       bash search_tools/slurm_search.sh PARTITION JOB_NAME STUDY_DIR [search.py run options]
# The study folder must be on a file system every node sees (the journal file, the trials' checkpoints), or give
# --storage postgresql://... and keep only the trial folders shared. Add workers later by submitting again.
# A task near its time limit gets SIGUSR1 (SIGNAL_BEFORE seconds before, default 600): the worker releases its
# trial, which the next worker resumes from its last checkpoint; --requeue puts the task back in the queue.
# A task that dies without a word is noticed by the lease (--stale-after, default 600 s) and its trial resumed.
# Environment: WORKERS (array size, default 8), PARALLEL (tasks at once, default WORKERS), GPUS_PER_TRIAL
# (default 1; > 1 trains under torchrun --standalone), CPUS_PER_TASK (default 5 per GPU), TIME, GRES
# (default gpu:GPUS_PER_TRIAL; empty for CPU partitions), SBATCH_ARGS, PYTHON.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: [WORKERS=N] bash search_tools/slurm_search.sh PARTITION JOB_NAME STUDY_DIR [search.py run options]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
STUDY=$3
shift 3
if [ ! -f "$STUDY/study.json" ]; then
    echo "slurm_search.sh: $STUDY/study.json not found (create the study with search.py sample ... --out $STUDY)" >&2
    exit 2
fi
positive_integers() {  # each named variable must hold a positive integer (checked before any arithmetic on it)
    local name
    for name in "$@"; do
        if ! [[ ${!name} =~ ^[1-9][0-9]*$ ]]; then
            echo "slurm_search.sh: $name must be a positive integer, got '${!name}'" >&2
            exit 2
        fi
    done
}
WORKERS=${WORKERS:-8}
PARALLEL=${PARALLEL:-$WORKERS}
GPUS_PER_TRIAL=${GPUS_PER_TRIAL:-1}
positive_integers WORKERS PARALLEL GPUS_PER_TRIAL
CPUS_PER_TASK=${CPUS_PER_TASK:-$(( 5 * GPUS_PER_TRIAL ))}
TIME=${TIME:-24:00:00}
SIGNAL_BEFORE=${SIGNAL_BEFORE:-600}
positive_integers CPUS_PER_TASK SIGNAL_BEFORE
GRES=${GRES-gpu:$GPUS_PER_TRIAL}
SBATCH_ARGS=${SBATCH_ARGS:-}
PYTHON=${PYTHON:-python}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STUDY_ABS="$(cd "$STUDY" && pwd)"
mkdir -p "$STUDY_ABS/workers"
GRES_ARG=()
if [ -n "$GRES" ]; then GRES_ARG=(--gres="$GRES"); fi
# exec: the worker itself receives the batch shell's signal (B:USR1)
COMMAND="export PYTHONPATH=$(printf '%q' "$ROOT"):\${PYTHONPATH:-}; exec $(printf '%q ' "$PYTHON" -u \
    "$ROOT/search_tools/search.py" run --study "$STUDY_ABS" --gpus "$GPUS_PER_TRIAL" "$@")"
# shellcheck disable=SC2086
sbatch -p "$PARTITION" --job-name="$JOB_NAME" --array="1-$WORKERS%$PARALLEL" "${GRES_ARG[@]}" \
    --ntasks=1 --cpus-per-task="$CPUS_PER_TASK" --time="$TIME" --signal="B:USR1@$SIGNAL_BEFORE" --requeue \
    --output="$STUDY_ABS/workers/slurm-%A_%a.log" $SBATCH_ARGS --wrap="$COMMAND"
