#!/usr/bin/env bash
# One-command GPU check (under 8 minutes on one GPU, no network). Each step prints one PASS / FAIL / SKIP line
# (and its figures); on a machine without a GPU every GPU step is skipped with a line saying so.
#   bash tools/checks/gpu_check.sh              # PYTHON=... to pick the interpreter, SHARED=... for ../shared
#   GPU_CHECK_ON_CPU=1 bash tools/checks/gpu_check.sh   # run the GPU steps' plumbing on the CPU (fp32 only,
#                                                         # a few iterations): checks this script, not the GPU
# Steps:
#   1. mmcv's compiled ops (nms, roi_align) run on CUDA; if not, how to rebuild mmcv with CUDA ops
#   2. AMP training of SCRFD-2.5G at 640x640 (toy faces through the config's pipeline), 30 iterations, batch 8:
#      images/s, data-wait share, phase split, peak memory (tools/analysis/benchmark_train.py)
#   3. tools/dist_train.sh with every visible GPU (NCCL), one toy epoch; with more than one GPU also the 2.5G
#      AMP throughput under torchrun
#   4. FaceDetector fp16 vs fp32 on the real photos (SHARED/real/images, released weights converted on the fly):
#      faces found, largest box-corner difference of matched faces
#   5. ONNX export of SCRFD run by onnxruntime's CUDA provider vs its CPU provider (when onnxruntime-gpu is there)
#   6. the ONNX speed harness (tools/analysis/benchmark_inference.py --onnx) with onnxruntime's CUDA provider, fp32
#      and fp16: our export of the released SCRFD-500M-kps at 640x480, the released file, the official pipeline
# Exit status: 0 when no step failed (skips are not failures), else 1.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PYTHON=${PYTHON:-python}
SHARED=${SHARED:-$ROOT/../shared}
ON_CPU=${GPU_CHECK_ON_CPU:-0}
TMP=$(mktemp -d -t gpu_check_XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export PYTHONPATH="$ROOT:${PYTHONPATH:-}"
cd "$ROOT" || exit 1
FAILED=0
STEP_LOG="$TMP/step.log"

say() { echo "[gpu_check] $*"; }
# run_step NAME TIMEOUT CMD...: runs CMD, keeps its output in $STEP_LOG, prints PASS/FAIL with the elapsed time
run_step() {
    local name=$1 limit=$2; shift 2
    local start=$SECONDS
    timeout "$limit" "$@" >"$STEP_LOG" 2>&1
    local rc=$?
    if [ $rc -eq 0 ]; then
        say "PASS $name ($((SECONDS - start)) s)"
    else
        FAILED=1
        [ $rc -eq 124 ] && say "FAIL $name: over its ${limit} s limit" || say "FAIL $name (exit $rc); last lines:"
        tail -n 25 "$STEP_LOG" | sed 's/^/    /'
    fi
    return $rc
}

NGPU=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)' 2>/dev/null)
if [ -z "$NGPU" ]; then
    say "FAIL: $PYTHON cannot import torch"; exit 1
fi
"$PYTHON" - <<'EOF'
import mmcv, mmdet, mmengine, torch
gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
print(f'[gpu_check] torch {torch.__version__} (CUDA {torch.version.cuda}), mmcv {mmcv.__version__}, '
      f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}; GPUs: {", ".join(gpus) or "none"}')
EOF
DEVICE=cuda
if [ "$NGPU" -eq 0 ]; then
    if [ "$ON_CPU" = 1 ]; then
        DEVICE=cpu
        say "GPU_CHECK_ON_CPU=1: no GPU; steps 2-5 run on the CPU in fp32 with a few iterations (plumbing only)"
    fi
fi
NO_GPU="no CUDA GPU visible (torch.cuda.is_available() is False)"

# ---- 1. mmcv CUDA ops -------------------------------------------------------------------------------------
if [ "$NGPU" -eq 0 ]; then
    say "SKIP 1. mmcv CUDA ops: $NO_GPU"
else
    cat >"$TMP/mmcv_ops.py" <<'EOF'
import sys
import torch
try:
    from mmcv.ops import nms, roi_align
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32, device='cuda')
    scores = torch.tensor([0.9, 0.8, 0.7], device='cuda')
    _, keep = nms(boxes, scores, 0.5)
    assert keep.tolist() == [0, 2], keep
    feat = torch.arange(64, dtype=torch.float32, device='cuda').view(1, 1, 8, 8)
    rois = torch.tensor([[0, 0, 0, 4, 4]], dtype=torch.float32, device='cuda')
    out = roi_align(feat, rois, (2, 2), 1.0, 2, 'avg', True)
    assert out.is_cuda and torch.isfinite(out).all()
except Exception as exc:  # noqa: BLE001
    print(f'mmcv ops on CUDA failed: {type(exc).__name__}: {exc}')
    print('mmcv was built without CUDA kernels (e.g. a CPU wheel such as ../shared/wheels/mmcv-*.whl) or for '
          f'another CUDA / torch. Rebuild it against this torch (CUDA {torch.version.cuda}, needs nvcc of that '
          'version and ~20 min):\n'
          '  pip uninstall -y mmcv\n'
          '  MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$(python -c \'import torch; '
          'print(".".join(map(str, torch.cuda.get_device_capability())))\')" \\\n'
          '      pip install --no-build-isolation --no-binary mmcv "mmcv==$(python -c \'import mmcv; '
          'print(mmcv.__version__)\')"')
    sys.exit(1)
print('nms and roi_align ran on CUDA')
EOF
    run_step "1. mmcv compiled ops (nms, roi_align) on CUDA" 120 "$PYTHON" "$TMP/mmcv_ops.py" \
        && sed 's/^/    /' "$STEP_LOG" || true
fi

# ---- 2. AMP training throughput of SCRFD-2.5G at 640 ------------------------------------------------------
SCRFD25=configs/scrfd/scrfd_2.5g_bnkps_4xb8-640e_widerface.py
if [ "$NGPU" -eq 0 ] && [ "$ON_CPU" != 1 ]; then
    say "SKIP 2. AMP training of SCRFD-2.5G at 640x640: $NO_GPU (CPU figures: python tools/analysis/benchmark_train.py $SCRFD25 --toy-data)"
else
    if [ "$DEVICE" = cuda ]; then BENCH=(--amp --batch 8 --iters 30 --warmup 5); else BENCH=(--batch 2 --iters 2 --warmup 1); fi
    run_step "2. SCRFD-2.5G 640x640 training ${BENCH[*]}" 300 \
        "$PYTHON" tools/analysis/benchmark_train.py "$SCRFD25" --toy-data "${BENCH[@]}" \
        && grep -E 'device|throughput|split|waiting|peak' "$STEP_LOG" | sed 's/^/    /'
fi

# ---- 3. dist_train.sh with every visible GPU --------------------------------------------------------------
if [ "$NGPU" -eq 0 ] && [ "$ON_CPU" != 1 ]; then
    say "SKIP 3. dist_train.sh on every GPU (NCCL): $NO_GPU (the CPU / gloo path is tested by pytest tests/distributed)"
else
    NPROC=$([ "$NGPU" -gt 0 ] && echo "$NGPU" || echo 2)
    "$PYTHON" -c "from mmdet_face.datasets.toy import make_toy_widerface as m; m('$TMP/toy', num_train=16, num_val=5, size=160, seed=0)"
    cat >"$TMP/toy_cfg.py" <<EOF
_base_ = ['$ROOT/configs/toy/scrfd_toy_kps.py']
data_root = '$TMP/toy/'
train_dataloader = dict(batch_size=2, num_workers=1, dataset=dict(data_root=data_root))
val_dataloader = dict(batch_size=1, num_workers=1, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = [dict(type='WiderFaceMetric', gt_dir=data_root + 'val/gt/'), dict(type='FaceKeypointMetric')]
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(checkpoint=dict(interval=1, save_best=None), visualization=dict(draw=False))
EOF
    PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if run_step "3. tools/dist_train.sh on $NPROC process(es), backend $([ "$DEVICE" = cuda ] && echo nccl || echo gloo)" 240 \
        env PYTHON="$PYTHON" PORT="$PORT" bash tools/dist_train.sh "$TMP/toy_cfg.py" "$NPROC" --work-dir "$TMP/ddp"; then
        grep -E 'widerface/' "$STEP_LOG" | tail -n 1 | sed 's/^.*Epoch(val)/    val/'
        [ -f "$TMP/ddp/epoch_1.pth" ] || { FAILED=1; say "FAIL 3.: no epoch_1.pth written"; }
    fi
    if [ "$NGPU" -gt 1 ]; then
        PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        run_step "3b. SCRFD-2.5G AMP throughput on $NGPU GPUs (torchrun)" 240 \
            "$PYTHON" -m torch.distributed.run --nproc_per_node "$NGPU" --master_port "$PORT" \
            tools/analysis/benchmark_train.py "$SCRFD25" --toy-data --amp --batch 8 --iters 20 --warmup 5 \
            --launcher pytorch && grep -E 'processes|throughput|peak' "$STEP_LOG" | sed 's/^/    /'
    fi
fi

# ---- 4 and 5: real weights --------------------------------------------------------------------------------
if [ "$NGPU" -eq 0 ] && [ "$ON_CPU" != 1 ]; then
    say "SKIP 4. FaceDetector fp16 vs fp32 on the real photos: $NO_GPU"
    say "SKIP 5. ONNX export run by onnxruntime's CUDA provider: $NO_GPU"
elif [ ! -d "$SHARED/real/images" ] || [ ! -d "$SHARED/real/weights" ]; then
    say "SKIP 4. FaceDetector fp16 vs fp32: $SHARED/real/images or /weights not there (set SHARED=...)"
    say "SKIP 5. ONNX export on onnxruntime CUDA: no released SCRFD weights ($SHARED/real/weights)"
else
    cat >"$TMP/real.py" <<'EOF'
"""Steps 4 and 5 on the released weights (converted here) and the real photos."""
import glob
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np
import torch

device, shared, tmp, step = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
py = sys.executable
models = []


def tool(*args):
    """Run a repository tool; on failure show its output and stop."""
    done = subprocess.run([py, *args], capture_output=True, text=True)
    if done.returncode:
        print(f'{" ".join(args[:1])} failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}')
        sys.exit(1)

scrfd_onnx = osp.join(shared, 'real/weights/scrfd_500m_bnkps.onnx')
retina_pth = osp.join(shared, 'real/weights/retinaface_mobilenet025.pth')
if osp.isfile(scrfd_onnx):
    cfg = 'configs/scrfd/scrfd_500m_bnkps_4xb16-640e_widerface.py'
    if not osp.isfile(f'{tmp}/scrfd.pth'):  # converted by step 4 already
        tool('tools/model_converters/scrfd_onnx2mmdet.py', scrfd_onnx, cfg, f'{tmp}/scrfd.pth')
    models.append(('SCRFD-500M-bnkps', cfg, f'{tmp}/scrfd.pth'))
if osp.isfile(retina_pth):
    cfg = 'configs/retinaface/retinaface_mnet025_1xb32-250e_widerface.py'
    if not osp.isfile(f'{tmp}/retina.pth'):
        tool('tools/model_converters/retinaface_pth2mmdet.py', retina_pth, f'{tmp}/retina.pth', '--config', cfg)
    models.append(('RetinaFace-mnet0.25', cfg, f'{tmp}/retina.pth'))
if not models:
    print('SKIP: no released weights found')
    sys.exit(0)
# clean photos only (two of the files have detections drawn on them)
photos = [p for p in sorted(glob.glob(osp.join(shared, 'real/images/*.jpg')))
          if osp.basename(p) not in ('example_det.jpg', '1.jpg')]


def box_iou(a, b):
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter + 1e-9)


if step == "fp16":
    from mmdet_face.apis import FaceDetector
    half = device == 'cuda'  # on the CPU (plumbing check) fp32 is compared with itself
    for name, cfg, ckpt in models:
        full = FaceDetector(cfg, ckpt, device=device, fp16=False)
        low = FaceDetector(cfg, ckpt, device=device, fp16=half)
        worst, unmatched, found = 0.0, 0, [0, 0]
        for photo in photos:
            a, b = full(photo, score_thr=0.5), low(photo, score_thr=0.5)
            found[0] += len(a)
            found[1] += len(b)
            if len(a) and len(b):
                iou = box_iou(a.bboxes, b.bboxes)
                j = iou.argmax(1)
                ok = iou[np.arange(len(a)), j] > 0.5
                unmatched += int((~ok).sum()) + max(0, len(b) - int(ok.sum()))
                if ok.any():
                    worst = max(worst, float(np.abs(a.bboxes[ok] - b.bboxes[j[ok]]).max()))
            else:
                unmatched += abs(len(a) - len(b))
        dtype = 'fp16' if half else 'fp32 (CPU)'
        print(f'{name}: {len(photos)} photos, faces fp32 {found[0]} / {dtype} {found[1]}, '
              f'unmatched {unmatched}, max box-corner difference {worst:.3f} px')
        if found[0] == 0 or unmatched > max(2, 0.02 * found[0]) or worst > 2.0:
            print(f'{name}: fp16 differs from fp32 more than expected')
            sys.exit(1)
else:  # onnx
    import onnxruntime as ort
    import cv2
    name, cfg, ckpt = next(m for m in models if m[0].startswith('SCRFD'))
    out = f'{tmp}/scrfd.onnx'
    tool('tools/deployment/export_onnx.py', cfg, ckpt, out, '--shape', '640', '640', '--force')
    img = cv2.resize(cv2.imread(photos[0]), (640, 640))
    blob = ((img[:, :, ::-1].astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None].copy()
    cpu = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    gpu_provider = 'CUDAExecutionProvider' if device == 'cuda' else 'CPUExecutionProvider'
    gpu = ort.InferenceSession(out, providers=[gpu_provider])
    feed = {cpu.get_inputs()[0].name: blob}
    ref, got = cpu.run(None, feed), gpu.run(None, feed)
    for _ in range(3):
        gpu.run(None, feed)
    start = time.perf_counter()
    for _ in range(20):
        gpu.run(None, feed)
    ms = (time.perf_counter() - start) / 20 * 1000
    diff = max(float(np.abs(a - b).max()) for a, b in zip(ref, got))
    print(f'{name} ONNX on {gpu.get_providers()[0]}: {ms:.2f} ms per 640x640 image, max output difference vs '
          f'CPUExecutionProvider {diff:.2e}')
    if diff > 1e-2:
        sys.exit(1)
EOF
    if [ "$DEVICE" = cuda ] || [ "$ON_CPU" = 1 ]; then
        run_step "4. FaceDetector fp16 vs fp32 on the real photos ($DEVICE)" 240 \
            "$PYTHON" "$TMP/real.py" "$DEVICE" "$SHARED" "$TMP" fp16 && grep -v '^Loads checkpoint' "$STEP_LOG" | sed 's/^/    /'
    fi
    HAS_ORT_CUDA=$("$PYTHON" -c 'import onnxruntime as o; print(int("CUDAExecutionProvider" in o.get_available_providers()))' 2>/dev/null || echo none)
    if [ "$HAS_ORT_CUDA" = none ]; then
        say "SKIP 5. ONNX on onnxruntime CUDA: onnxruntime is not installed (pip install onnxruntime-gpu)"
    elif [ "$HAS_ORT_CUDA" = 0 ] && [ "$ON_CPU" != 1 ]; then
        say "SKIP 5. ONNX on onnxruntime CUDA: this onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu)"
    elif [ "$NGPU" -eq 0 ] && [ "$ON_CPU" != 1 ]; then
        say "SKIP 5. ONNX on onnxruntime CUDA: $NO_GPU"
    else
        ORT_DEVICE=$([ "$HAS_ORT_CUDA" = 1 ] && [ "$NGPU" -gt 0 ] && echo cuda || echo cpu)
        run_step "5. SCRFD ONNX export run by onnxruntime ($ORT_DEVICE provider)" 180 \
            "$PYTHON" "$TMP/real.py" "$ORT_DEVICE" "$SHARED" "$TMP" onnx && grep -v '^Loads checkpoint' "$STEP_LOG" | sed 's/^/    /'
    fi
fi

# ---- 6. the ONNX speed harness on onnxruntime's CUDA provider, fp32 and fp16 -------------------------------
SCRFD500=configs/scrfd/scrfd_500m_bnkps_4xb16-640e_widerface.py
RELEASED=$SHARED/real/weights/scrfd_500m_bnkps.onnx
ORT_CUDA=$("$PYTHON" -c 'import onnxruntime as o; print(int("CUDAExecutionProvider" in o.get_available_providers()))' 2>/dev/null || echo none)
if [ "$ON_CPU" != 1 ] && [ "$NGPU" -eq 0 ]; then
    say "SKIP 6. ONNX speed harness on onnxruntime CUDA: $NO_GPU"
elif [ "$ON_CPU" != 1 ] && [ "$ORT_CUDA" != 1 ]; then
    say "SKIP 6. ONNX speed harness on onnxruntime CUDA: no CUDAExecutionProvider in this onnxruntime (pip install onnxruntime-gpu)"
elif [ ! -f "$RELEASED" ]; then
    say "SKIP 6. ONNX speed harness: no released SCRFD file ($RELEASED; set SHARED=...)"
else
    if [ "$NGPU" -gt 0 ] && [ "$ORT_CUDA" = 1 ]; then HARNESS=(--device cuda --fp16 --repeat 50); else HARNESS=(--device cpu --repeat 2); fi
    if run_step "6a. released SCRFD-500M-kps -> checkpoint -> our ONNX export at 640x480" 180 bash -c "
        '$PYTHON' tools/model_converters/scrfd_onnx2mmdet.py '$RELEASED' $SCRFD500 '$TMP/scrfd500.pth' --force &&
        '$PYTHON' tools/deployment/export_onnx.py $SCRFD500 '$TMP/scrfd500.pth' '$TMP/scrfd500_640x480.onnx' \
            --shape 480 640 --force"; then
        run_step "6b. tools/analysis/benchmark_inference.py --onnx ${HARNESS[*]} (ours, official, PyTorch)" 300 \
            "$PYTHON" tools/analysis/benchmark_inference.py $SCRFD500 --onnx "$TMP/scrfd500_640x480.onnx" "$RELEASED" \
            --checkpoint "$TMP/scrfd500.pth" --size 640x480 --score-thr 0.02 --threads 1 "${HARNESS[@]}" \
            && grep -vE '^Loads checkpoint' "$STEP_LOG" | sed 's/^/    /'
    fi
fi

if [ $FAILED -eq 0 ]; then say "done: no step failed"; else say "done: some step FAILED (see above)"; fi
exit $FAILED
