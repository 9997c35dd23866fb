#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install the stack into it.
#   bash tools/setup_env.sh [--tests] [--optional] [--search]
# --search installs search_tools' requirements (optuna); --tests installs them too (the suite tests search_tools).
# Environment:
#   VENV             where the environment lives (default: .venv in the repository root)
#   MMCV_WHEEL_DIRS  extra folders searched for a prebuilt mmcv 2.1.0 wheel (default: ../shared/wheels)
# A source build of mmcv (about 14 minutes on 2 cores) is cached as a wheel in ~/.cache/mmdet-face/wheels,
# so a second install on the same machine takes seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
CACHE="${MMDET_FACE_CACHE:-$HOME/.cache/mmdet-face}/wheels"
EXTRAS=()
for arg in "$@"; do
  case "$arg" in
    --tests) EXTRAS+=(-r "$ROOT/requirements/tests.txt" -r "$ROOT/requirements/search.txt") ;;
    --search) EXTRAS+=(-r "$ROOT/requirements/search.txt") ;;
    --optional) EXTRAS+=(-r "$ROOT/requirements/optional.txt") ;;
    *) echo "setup_env.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check)
"${PIP[@]}" -q --upgrade "pip>=23" >/dev/null
# torch: keep whatever build is present (CUDA on a GPU box); otherwise the CPU build.
if "$PY" -c "import torch" 2>/dev/null; then
  say "torch $("$PY" -c 'import torch; print(torch.__version__)') already present, kept"
else
  say "installing torch 2.13.0 (CPU build)"
  # TORCH_INDEX_URL lets a user point pip at the CPU wheel index of their choice.
  "${PIP[@]}" -q "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi

# Build requirements after torch: torch's own dependencies may pull a setuptools without pkg_resources.
# mmengine goes in first because importing mmcv.ops needs it.
"${PIP[@]}" -q -r "$ROOT/requirements/build.txt" "mmengine>=0.10.3,<0.11" "numpy>=2"

# mmcv 2.1.0 with compiled ops: a matching prebuilt wheel if one is around, else a (cached) source build.
if "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  say "mmcv 2.1.0 with ops already present"
else
  mkdir -p "$CACHE"
  FIND=(--find-links "$CACHE")
  for d in ${MMCV_WHEEL_DIRS:-$ROOT/../shared/wheels}; do [ -d "$d" ] && FIND+=(--find-links "$d"); done
  ok=0
  if "${PIP[@]}" -q --no-index "${FIND[@]}" --no-deps "mmcv==2.1.0" >/dev/null 2>&1 \
     && "$PY" -c "import mmcv.ops" >/dev/null 2>&1; then
    say "mmcv 2.1.0 installed from a prebuilt wheel"
    ok=1
  fi
  if [ "$ok" = 0 ]; then
    "$PY" -m pip uninstall -y -q mmcv 2>/dev/null || true
    say "building mmcv 2.1.0 with compiled ops from source (about 14 minutes on 2 cores)..."
    export MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}"
    "$PY" -m pip wheel --no-build-isolation --no-deps -w "$CACHE" "mmcv==2.1.0" 2>&1 \
      | grep --line-buffered -E "Building|running|Created|error|Error" || true
    "${PIP[@]}" -q --no-index --find-links "$CACHE" --no-deps "mmcv==2.1.0"
    "$PY" -c "import mmcv.ops" || { echo "mmcv ops failed to import after the build" >&2; exit 1; }
  fi
fi

say "installing runtime requirements and mmdet-face (editable)"
"${PIP[@]}" -q -r "$ROOT/requirements/runtime.txt" "${EXTRAS[@]}"
"${PIP[@]}" -q --no-build-isolation --no-deps -e "$ROOT"
"$PY" - <<'PY'
import torch, mmcv, mmengine, mmdet, numpy
print(f"[setup] torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, "
      f"mmdet {mmdet.__version__}, numpy {numpy.__version__}")
PY
