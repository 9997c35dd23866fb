#!/usr/bin/env bash
# Search workers on one machine, all pulling trials from the same study: one worker per GPU (each pinned with
# CUDA_VISIBLE_DEVICES), or one worker per GPUS_PER_TRIAL GPUs whose trials train under torchrun --standalone.
#   bash search_tools/dist_search.sh STUDY_DIR NGPUS [GPUS_PER_TRIAL] [search.py run options]
# Examples:
#   bash search_tools/dist_search.sh work_dirs/search/r2.5g 8            # 8 workers, 1 GPU per trial
#   bash search_tools/dist_search.sh work_dirs/search/r2.5g 8 4          # 2 workers, trials on 4 GPUs each
#   CPU_WORKERS=1 bash search_tools/dist_search.sh work_dirs/search_toy 2  # 2 CPU workers, no GPU pinning
# Workers on other machines join the same study with the same command (a shared folder; or --storage URL).
# Each worker logs to STUDY_DIR/workers/<host>-<i>.log. SIGTERM / SIGINT / SIGUSR1 are passed on: every worker
# releases its trial (resumed later from its last checkpoint) and exits. PYTHON picks the interpreter.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: bash search_tools/dist_search.sh STUDY_DIR NGPUS [GPUS_PER_TRIAL] [search.py run options]" >&2
    exit 2
fi
STUDY=$1
NGPUS=$2
shift 2
PER=1
if [ $# -gt 0 ] && [[ $1 =~ ^-?[0-9]+$ ]]; then  # a number here is GPUS_PER_TRIAL, checked below
    PER=$1
    shift
fi
if ! [[ $NGPUS =~ ^[1-9][0-9]*$ ]] || ! [[ $PER =~ ^[1-9][0-9]*$ ]] || (( NGPUS % PER != 0 )); then
    echo "dist_search.sh: NGPUS ($NGPUS) must be a positive multiple of GPUS_PER_TRIAL ($PER)" >&2
    exit 2
fi
if [ ! -f "$STUDY/study.json" ]; then
    echo "dist_search.sh: $STUDY/study.json not found (create the study with search.py sample ... --out $STUDY)" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-python}
WORKERS=$(( NGPUS / PER ))
# the GPUs to share out: the ones this job was given (CUDA_VISIBLE_DEVICES), else 0..NGPUS-1
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
    IFS=',' read -r -a DEVICES <<< "$CUDA_VISIBLE_DEVICES"
else
    DEVICES=()
    for (( g = 0; g < NGPUS; g++ )); do DEVICES+=("$g"); done
fi
if [ -z "${CPU_WORKERS:-}" ] && (( ${#DEVICES[@]} < NGPUS )); then
    echo "dist_search.sh: $NGPUS GPUs asked, CUDA_VISIBLE_DEVICES lists ${#DEVICES[@]}" >&2
    exit 2
fi
mkdir -p "$STUDY/workers"
HOST=$(hostname -s 2>/dev/null || hostname)
PIDS=()
stop() {
    echo "dist_search.sh: stopping ${#PIDS[@]} worker(s)" >&2
    kill -TERM "${PIDS[@]}" 2>/dev/null || true
}
trap stop TERM INT USR1
for (( i = 0; i < WORKERS; i++ )); do
    LOG="$STUDY/workers/$HOST-$i.log"
    if [ -n "${CPU_WORKERS:-}" ]; then
        # CPU workers: split the cores between them
        OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( $(nproc) / WORKERS > 0 ? $(nproc) / WORKERS : 1 ))} \
        PYTHONPATH="$ROOT:${PYTHONPATH:-}" "$PYTHON" -u "$ROOT/search_tools/search.py" run --study "$STUDY" \
            --gpus "$PER" "$@" >> "$LOG" 2>&1 &
    else
        SLICE=$(IFS=','; echo "${DEVICES[*]:$(( i * PER )):$PER}")
        CUDA_VISIBLE_DEVICES=$SLICE PYTHONPATH="$ROOT:${PYTHONPATH:-}" "$PYTHON" -u "$ROOT/search_tools/search.py" \
            run --study "$STUDY" --gpus "$PER" "$@" >> "$LOG" 2>&1 &
    fi
    PIDS+=($!)
    echo "worker $i (pid $!, ${SLICE:+GPUs $SLICE, }log $LOG)"
    sleep 1  # stagger the first journal writes
done
STATUS=0
for pid in "${PIDS[@]}"; do
    # wait returns early (> 128) when a trapped signal arrives: wait again until the worker has really exited
    while true; do
        wait "$pid" && RC=0 || RC=$?
        kill -0 "$pid" 2>/dev/null || break
    done
    if (( RC != 0 )); then STATUS=$RC; fi
done
exit $STATUS
