"""CPU inference latency of a face detector: pre-processing, network and post-processing, timed separately; and a
side-by-side speed harness for ONNX files (``--onnx``).

    python tools/analysis/benchmark_inference.py configs/scrfd/scrfd_500m_bnkps_4xb16-640e_widerface.py \
        --checkpoint scrfd_500m_bnkps.pth [--image photo.jpg] [--repeat 20]

Any family works (SCRFD, RetinaFace, SRN, AInnoFace): the blob is normalised and padded as the config's
``data_preprocessor`` says, and the ``ours.onnx`` column is filled where an ONNX exporter exists (SCRFDHead,
RetinaFaceHead; otherwise it reads ``n/a`` with the reason printed above the table).

For each thread count (``--threads``, default 1 2) and input size (``--sizes``, default 640x640 640x480 = W x H) it
reports median milliseconds of
  pre   letterbox resize + normalisation of the image into a (1, 3, H, W) float blob (numpy / OpenCV),
  net   our PyTorch model as built (``torch``) and as FaceDetector runs it (``torch-opt``: BatchNorm folded,
        channels-last, see ``mmdet_face.apis.face_detector.optimize_for_inference``; both with glibc's allocator
        thresholds raised as FaceDetector(tune_allocator=True) does, unless ``--default-malloc``) and our model
        exported to ONNX (onnxruntime),
  post  FaceDetector's decoding + NMS (``bbox_head.predict_by_feat``) at ``--score-thr`` (0.02), rescaled;
        ``post/net`` is post divided by our ONNX network time and by torch-opt.
All of a row's columns are measured in rotating blocks of 5 calls, so drift on a shared machine hits them alike;
``opt/onnx`` = torch-opt / ours.onnx comes from one run.
With a CUDA device it adds a GPU table: network in fp32 and under fp16 autocast, our ONNX file with onnxruntime's
CUDA provider when installed, decoding + NMS of the GPU outputs.

The ONNX mode runs several ONNX files side by side on the same image, thresholds and threads:

    python tools/analysis/benchmark_inference.py CONFIG --onnx FILE[=CONFIG] [FILE[=CONFIG] ...] \
        [--checkpoint C] [--image PHOTO] [--size 640x480] [--score-thr 0.02] [--threads 1] [--repeat 20] \
        [--device cpu|cuda] [--fp16] [--clock wall|cpu]

Each FILE (ours, a released file, an INT8 one) runs through
:class:`~mmdet_face.deployment.onnx_runtime.OnnxFaceDetector` with its CONFIG (default the positional one): one row
of ``pre`` (``preprocess``: resize so the long side is max(W, H), normalise, pad), ``net`` (the onnxruntime session),
``decode`` (``decode_outputs``: outputs -> final detections, decoding and NMS) and ``e2e`` (the detector's own call
on the decoded image, not the sum), each as the median and the interquartile range. A graph with a fixed input size
runs at that size (insightface's released SCRFD files: 640 x 640 letterbox). A file of the SCRFD layout gets a second
row, the official insightface pipeline (:class:`InsightfaceScrfdPipeline`) on the same file, input size and session
options, and the agreement of its faces with ours. ``--checkpoint`` adds a PyTorch row (CONFIG + C through
FaceDetector). Under the table: end to end / network of each of our rows, ours / official end to end, and the network
speed-up of each INT8 file over each FP32 file of the same input size, with the targets they are held to.
``--device cuda`` runs onnxruntime's CUDAExecutionProvider (and PyTorch on CUDA); ``--fp16`` adds a float16 copy of
every FP32 file (onnxruntime's ``float16`` converter, float32 inputs and outputs) and a float16 PyTorch row; both are
refused with "not available here" where there is no CUDA provider. ``--clock cpu`` times every call by the calling
thread's CPU time instead of the wall clock (one thread on the CPU only: onnxruntime with one intra-op thread,
PyTorch and OpenCV with one thread compute on the calling thread), which leaves out the time other jobs of a shared
machine hold the core; the caches they share still count. The default image is the crowded real photo
``../shared/real/images/0_Parade_marchingband_1_765.jpg`` when present, else seeded noise of 1024 x 732. Every cell
of every row is timed in one rotation (blocks of 5 calls per cell). On the CPU the process opts in to
:func:`~mmdet_face.apis.cpu_runtime.tune_cpu_allocator` first, as the PyTorch table does (``--default-malloc`` keeps
glibc's thresholds): a call that does not run bound to preallocated arrays (``OnnxNetwork.run_bound``) allocates the
blob and the outputs anew, which glibc otherwise maps and faults in again each time.

Run it on an otherwise idle machine: other jobs on the same cores make every column meaningless.
"""
import argparse
import copy
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

from mmdet_face.engine.cli import positive_int, read_tool_config, real_number

SIZES = [(640, 640), (480, 640)]  # (H, W)


def median_ms(fn, repeat, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def interleaved_times(jobs, repeat, block=5, clock=time.perf_counter):
    """Milliseconds of each job's ``repeat`` (rounded up to whole blocks) timed calls, run in rotating blocks
    (``block`` + 1 calls of one job, the first untimed, then the next job) so that a slow spell of a shared machine
    hits every column alike, while no job is timed right after another one's threads (onnxruntime's spin, OpenMP's)
    or cache use. ``clock``: seconds, the wall clock by default (``time.thread_time``: the calling thread's CPU
    time). Returns ``{name: [ms, ...]}``."""
    names = list(jobs)
    times = {name: [] for name in names}
    block = max(1, min(block, repeat))
    rounds = max(1, -(-repeat // block))
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            jobs[name]()
            for _ in range(block):
                start = clock()
                jobs[name]()
                times[name].append(1000 * (clock() - start))
    return times


def interleaved_ms(jobs, repeat, block=5):
    """Median milliseconds of each job (:func:`interleaved_times`)."""
    return {name: statistics.median(ts) for name, ts in interleaved_times(jobs, repeat, block).items()}


class Preprocess:
    """The model's own input normalisation (its ``data_preprocessor``): every family is timed and run on the input
    it was trained on (SCRFD: RGB, (x - 127.5) / 128; RetinaFace: BGR minus (104, 117, 123); SRN / AInnoFace:
    RGB, ImageNet mean / std, sizes padded to a multiple of 128)."""

    def __init__(self, model):
        prep = model.data_preprocessor
        self.mean = np.asarray(prep.mean, np.float32).reshape(3) if getattr(prep, '_enable_normalize', True) \
            else np.zeros(3, np.float32)
        self.std = np.asarray(prep.std, np.float32).reshape(3) if getattr(prep, '_enable_normalize', True) \
            else np.ones(3, np.float32)
        self.bgr_to_rgb = bool(getattr(prep, '_channel_conversion', False))
        self.divisor = int(getattr(prep, 'pad_size_divisor', 1) or 1)

    def canvas_size(self, h, w):
        d = self.divisor
        return -(-h // d) * d, -(-w // d) * d


def letterbox_blob(img, h, w, prep):
    """Aspect-preserving resize into the top-left of a black canvas of (h, w) (rounded up to the model's
    ``pad_size_divisor``), normalised as the model's data preprocessor (``prep``: :class:`Preprocess`) does; NCHW
    float32. Returns ``(blob, scale, (new_h, new_w))``."""
    import cv2
    mean, std, to_rgb, (ch, cw) = prep.mean, prep.std, prep.bgr_to_rgb, prep.canvas_size(h, w)
    scale = min(h / img.shape[0], w / img.shape[1])
    new_w, new_h = int(img.shape[1] * scale), int(img.shape[0] * scale)
    canvas = np.zeros((ch, cw, 3), np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(img, (new_w, new_h))
    if to_rgb:
        canvas = canvas[..., ::-1]
    blob = ((canvas.astype(np.float32) - mean) / std).transpose(2, 0, 1)[None]
    return np.ascontiguousarray(blob, dtype=np.float32), scale, (new_h, new_w)


def onnx_exporter(model):
    """``(export function, None)`` for a family with an ONNX exporter, else ``(None, reason)``."""
    head = type(getattr(model, 'bbox_head', None)).__name__
    if head == 'SCRFDHead':
        from mmdet_face.deployment.scrfd_onnx_export import export_scrfd_onnx
        return export_scrfd_onnx, None
    if head == 'RetinaFaceHead':
        from mmdet_face.deployment.retinaface_onnx_export import export_retinaface_onnx
        return export_retinaface_onnx, None
    return None, f'n/a (no ONNX export for {head})'


def parse_size(text):
    """'640x480' (W x H, as printed) -> (480, 640) (H, W)."""
    try:
        w, h = (int(v) for v in text.lower().split('x'))
        if w <= 0 or h <= 0:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a size WxH such as 640x480, got {text!r}')
    return h, w


def _fmt(value, width, digits=2):
    return f'{"n/a":>{width}}' if value is None or not np.isfinite(value) else f'{value:{width}.{digits}f}'


def _head_outputs(model, x):
    """``model._forward`` as lists that ``predict_by_feat`` takes (a missing branch, e.g. no keypoints, as None)."""
    return [list(f) if f is not None and f[0] is not None else None for f in model._forward(x)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--checkpoint', default=None)
    parser.add_argument('--onnx', type=parse_onnx_spec, nargs='+', default=None, metavar='FILE[=CONFIG]',
                        help='the ONNX mode: these files side by side (each decoded with its CONFIG, default the '
                        'positional config), with the insightface pipeline on SCRFD files and, with --checkpoint, '
                        'a PyTorch row')
    parser.add_argument('--image', default=None, help='photo to run on (default: a real one under ../shared, '
                        'else random noise)')
    parser.add_argument('--threads', type=positive_int, nargs='+', default=None,
                        help='thread counts (default 1 2; the ONNX mode takes one, default 1)')
    parser.add_argument('--sizes', '--size', type=parse_size, nargs='+', default=None, metavar='WxH',
                        help='input sizes (default: 640x640 640x480; the ONNX mode takes one, default 640x480)')
    parser.add_argument('--repeat', type=positive_int, default=20)
    parser.add_argument('--score-thr', type=real_number, default=0.02)
    parser.add_argument('--no-cuda', action='store_true', help='skip the GPU table even when CUDA is available')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu',
                        help='the ONNX mode: onnxruntime provider and PyTorch device (cuda: CUDAExecutionProvider)')
    parser.add_argument('--fp16', action='store_true',
                        help='the ONNX mode with --device cuda: also a float16 copy of each FP32 file and the PyTorch '
                        'row in float16')
    parser.add_argument('--clock', choices=('wall', 'cpu'), default='wall',
                        help='the ONNX mode: time calls by the wall clock (default) or by the calling thread\'s CPU '
                        'time (cpu: leaves out the time other jobs of a shared machine hold the core; --threads 1 '
                        'on the CPU only, where onnxruntime, PyTorch and OpenCV compute on the calling thread)')
    parser.add_argument('--default-malloc', action='store_true',
                        help="keep glibc's allocator thresholds (by default the benchmark opts in to "
                        "cpu_runtime.tune_cpu_allocator, as FaceDetector(tune_allocator=True) does)")
    args = parser.parse_args(argv)
    if args.default_malloc:
        os.environ['MMDET_FACE_DEFAULT_MALLOC'] = '1'
    if args.onnx:
        args.sizes = args.sizes or [parse_size('640x480')]
        args.threads = args.threads or [1]
        if len(args.threads) != 1:
            parser.error('--onnx takes one --threads value')
        try:
            return benchmark_onnx(args)
        except OnnxModeError as err:
            print(f'error: {err}', file=sys.stderr)
            sys.exit(2)
    if args.clock != 'wall':
        parser.error('--clock belongs to the ONNX mode (--onnx FILE ...)')
    if args.device != 'cpu' or args.fp16:
        parser.error('--device and --fp16 belong to the ONNX mode (--onnx FILE ...); the PyTorch table adds a GPU '
                     'table by itself when CUDA is available')
    args.sizes = args.sizes or [parse_size(f'{w}x{h}') for h, w in SIZES]
    args.threads = args.threads or [1, 2]

    import cv2
    import onnxruntime as ort
    import mmdet_face  # noqa: F401
    from mmdet_face.apis.cpu_runtime import cpu_description, optimize_for_inference, tune_cpu_allocator
    from mmdet_face.apis.inference import init_face_detector

    model = init_face_detector(read_tool_config(args.config), args.checkpoint)  # strict load
    head = model.bbox_head
    head.test_cfg.score_thr = args.score_thr
    prep = Preprocess(model)
    image = args.image or osp.join(osp.dirname(__file__), '..', '..', '..', 'shared', 'real', 'images', 'test.jpg')
    if args.image and not osp.isfile(args.image):
        sys.exit(f'error: {args.image}: image not found')
    img = cv2.imread(image) if osp.isfile(image) else \
        np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    if img is None:
        sys.exit(f'error: {image}: not an image OpenCV can read')
    print(f'config {args.config} ({type(head).__name__}{", random weights" if not args.checkpoint else ""})\n'
          f'image {image if osp.isfile(image) else "random 1024x768"}; median of {args.repeat} runs, milliseconds')
    # FaceDetector does this on the CPU; done first so every column (onnxruntime has its own arena) runs alike
    print('allocator: ' + ('glibc thresholds raised (tune_cpu_allocator)' if tune_cpu_allocator()
                           else 'default'))
    print(f'cpu: {cpu_description()}')

    fast = optimize_for_inference(copy.deepcopy(model), torch.device('cpu'))
    export, no_onnx = onnx_exporter(model)
    tmp = tempfile.TemporaryDirectory()
    ours = None
    if export is not None:
        ours = osp.join(tmp.name, 'ours.onnx')
        # dynamic H, W: trace at the smallest size asked for (the trace cost grows with it, the graph does not)
        trace_hw = prep.canvas_size(*min(args.sizes, key=lambda hw: hw[0] * hw[1]))
        export(model, ours, shape=trace_hw, dynamic=True)
    else:
        print(f'ours.onnx: {no_onnx}')

    header = f'{"threads":>7} {"size WxH":>9} {"pre":>6} {"torch":>7} {"torch-opt":>9} {"ours.onnx":>9} ' \
             f'{"post":>6} {"opt/onnx":>8} {"post/net":>13} {"faces":>5}'
    print(header)
    for threads in args.threads:
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        sess_ours = ort.InferenceSession(ours, opts, providers=['CPUExecutionProvider']) if ours else None
        for h, w in args.sizes:
            blob, scale, resized = letterbox_blob(img, h, w, prep)
            x = torch.from_numpy(blob)
            x_cl = x.contiguous(memory_format=torch.channels_last)
            with torch.no_grad():
                feats = _head_outputs(model, x)
            meta = [dict(img_shape=resized, ori_shape=img.shape[:2], scale_factor=(scale, scale),
                         pad_shape=tuple(blob.shape[2:]))]
            jobs = {
                'pre': lambda: letterbox_blob(img, h, w, prep),
                'torch': lambda: model._forward(x),
                'torch-opt': lambda: fast._forward(x_cl),
                'post': lambda: head.predict_by_feat(*feats, batch_img_metas=meta, rescale=True),
            }
            if sess_ours is not None:
                ours_input = sess_ours.get_inputs()[0].name
                jobs['ours'] = lambda: sess_ours.run(None, {ours_input: blob})
            with torch.no_grad():
                t = interleaved_ms(jobs, args.repeat)
            nan = float('nan')
            t_ours = t.get('ours', nan)
            faces = len(head.predict_by_feat(*feats, batch_img_metas=meta, rescale=True)[0])
            post_net = (f'{100 * t["post"] / t_ours:.0f}%' if np.isfinite(t_ours) else 'n/a') + \
                f'/{100 * t["post"] / t["torch-opt"]:.0f}%'
            print(f'{threads:>7} {f"{w}x{h}":>9} {t["pre"]:6.2f} {t["torch"]:7.2f} {t["torch-opt"]:9.2f} '
                  f'{_fmt(t_ours, 9)} {t["post"]:6.2f} {_fmt(t["torch-opt"] / t_ours, 8)} {post_net:>13} {faces:>5}')
    if torch.cuda.is_available() and not args.no_cuda:
        benchmark_cuda(model, img, ours, args, prep)
    tmp.cleanup()


def cuda_ms(fn, repeat, warmup=5):
    """Median milliseconds of a CUDA call, synchronised around each run."""
    import torch

    def synced():
        fn()
        torch.cuda.synchronize()
    return median_ms(synced, repeat, warmup)


def benchmark_cuda(model, img, onnx_file, args, prep):
    """Network (fp32, fp16 autocast) and decoding + NMS on the GPU; our ONNX with the CUDA provider if present."""
    import onnxruntime as ort
    import torch

    from mmdet_face.apis.cpu_runtime import optimize_for_inference
    device = torch.device('cuda')
    gpu = optimize_for_inference(copy.deepcopy(model).to(device), device)
    head = gpu.bbox_head
    sess = None
    if onnx_file and 'CUDAExecutionProvider' in ort.get_available_providers():
        sess = ort.InferenceSession(onnx_file, providers=['CUDAExecutionProvider'])
    print(f'\nCUDA {torch.cuda.get_device_name(0)}')
    print(f'{"size WxH":>9} {"fp32":>7} {"fp16":>7} {"ours.onnx":>9} {"post":>6} {"faces":>5}')
    for h, w in args.sizes:
        blob, scale, resized = letterbox_blob(img, h, w, prep)
        x = torch.from_numpy(blob).to(device)
        with torch.no_grad():
            t32 = cuda_ms(lambda: gpu._forward(x), args.repeat)
            with torch.autocast('cuda', dtype=torch.float16):
                t16 = cuda_ms(lambda: gpu._forward(x), args.repeat)
            feats = _head_outputs(gpu, x)
        t_onnx = median_ms(lambda: sess.run(None, {sess.get_inputs()[0].name: blob}), args.repeat) if sess \
            else float('nan')
        meta = [dict(img_shape=resized, ori_shape=img.shape[:2], scale_factor=(scale, scale),
                     pad_shape=tuple(blob.shape[2:]))]
        t_post = cuda_ms(lambda: head.predict_by_feat(*feats, batch_img_metas=meta, rescale=True), args.repeat)
        faces = len(head.predict_by_feat(*feats, batch_img_metas=meta, rescale=True)[0])
        print(f'{f"{w}x{h}":>9} {t32:7.2f} {t16:7.2f} {_fmt(t_onnx, 9)} {t_post:6.2f} {faces:>5}')


# ---------------------------------------------------------------------------------------------------------------
# ONNX mode (--onnx FILE [FILE ...]): several ONNX files side by side, stage by stage


class InsightfaceScrfdPipeline:
    """insightface's released SCRFD inference (``python-package/insightface/model_zoo/scrfd.py``, class ``SCRFD``:
    ``detect`` -> ``forward`` -> ``nms``), written from its documented behaviour for the speed comparison:

    * letterbox: the image resized keeping its aspect ratio into the ``(W, H)`` input size (one side filled, the
      other ``int``-truncated), top-left on a black canvas, ``det_scale`` = new height / image height;
    * ``cv2.dnn.blobFromImage(canvas, 1 / 128, (W, H), (127.5,) * 3, swapRB=True)``: RGB, ``(x - 127.5) / 128``;
    * per stride s in (8, 16, 32), outputs ``score, bbox, kps`` at positions ``i, i + 3, i + 6`` of the session's
      outputs (batch axis dropped), distances multiplied by s; anchor centres ``(x * s, y * s)`` of an
      ``(H / s) x (W / s)`` grid, each repeated for the 2 anchors of a location; rows with ``score >= threshold``;
      ``distance2bbox`` (centre minus left / top, plus right / bottom) and ``distance2kps`` (centre plus offsets),
      no clipping;
    * all strides stacked, sorted by score (descending), boxes and points divided by ``det_scale``, then its greedy
      NMS in numpy at IoU 0.4 with the ``+1`` pixel area convention. No top-k before the NMS, no clipping.

    ``__call__(img)`` -> ``(dets (N, 5) x1 y1 x2 y2 score, kpss (N, 5, 2) or None)`` in image pixels, as ``detect``
    returns them; the stages :meth:`preprocess`, :meth:`run_network` and :meth:`decode` are timed on their own.
    """
    strides = (8, 16, 32)
    num_anchors = 2

    def __init__(self, session, input_hw, score_thr, nms_thr=0.4):
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_names = [o.name for o in session.get_outputs()]
        if len(self.output_names) not in (6, 9):
            raise ValueError(f'the insightface SCRFD pipeline reads 6 or 9 outputs (score, bbox[, kps] per stride), '
                             f'got {len(self.output_names)}')
        self.use_kps = len(self.output_names) == 9
        self.input_hw = tuple(input_hw)
        self.score_thr, self.nms_thr = score_thr, nms_thr
        self._centres = {}

    def preprocess(self, img):
        """BGR image -> ``((1, 3, H, W) float32 blob, det_scale)``."""
        import cv2
        height, width = self.input_hw
        im_ratio = img.shape[0] / img.shape[1]
        if im_ratio > height / width:
            new_h = height
            new_w = int(new_h / im_ratio)
        else:
            new_w = width
            new_h = int(new_w * im_ratio)
        canvas = np.zeros((height, width, 3), np.uint8)
        canvas[:new_h, :new_w] = cv2.resize(img, (new_w, new_h))
        blob = cv2.dnn.blobFromImage(canvas, 1.0 / 128.0, (width, height), (127.5, 127.5, 127.5), swapRB=True)
        return blob, new_h / img.shape[0]

    def run_network(self, blob):
        return self.session.run(self.output_names, {self.input_name: blob})

    def anchor_centres(self, height, width, stride):
        key = (height, width, stride)
        if key not in self._centres:
            grid = np.stack(np.mgrid[:height, :width][::-1], axis=-1).astype(np.float32)
            centres = (grid * stride).reshape(-1, 2)
            self._centres[key] = np.stack([centres] * self.num_anchors, axis=1).reshape(-1, 2)
        return self._centres[key]

    def decode(self, outs, det_scale):
        """The network outputs -> ``(dets, kpss)`` in image pixels (threshold, decoding, sort, NMS)."""
        height, width = self.input_hw
        scores, boxes, points = [], [], []
        for i, stride in enumerate(self.strides):
            score = outs[i][0] if outs[i].ndim == 3 else outs[i]
            dist = (outs[i + 3][0] if outs[i + 3].ndim == 3 else outs[i + 3]) * stride
            centres = self.anchor_centres(height // stride, width // stride, stride)
            keep = np.where(score[:, 0] >= self.score_thr)[0]
            c, d = centres[keep], dist[keep]
            boxes.append(np.stack([c[:, 0] - d[:, 0], c[:, 1] - d[:, 1], c[:, 0] + d[:, 2], c[:, 1] + d[:, 3]], -1))
            scores.append(score[keep])
            if self.use_kps:
                offsets = (outs[i + 6][0] if outs[i + 6].ndim == 3 else outs[i + 6])[keep] * stride
                points.append((np.tile(c, 5) + offsets).reshape(-1, 5, 2))
        score = np.vstack(scores).ravel()
        order = score.argsort()[::-1]
        dets = np.hstack([np.vstack(boxes) / det_scale, score[:, None]]).astype(np.float32, copy=False)[order]
        keep = self.nms(dets)
        kpss = (np.vstack(points) / det_scale)[order][keep] if self.use_kps else None
        return dets[keep], kpss

    def nms(self, dets):
        """Greedy NMS of score-sorted ``(N, 5)`` dets, areas and overlaps with the ``+1`` pixel convention."""
        x1, y1, x2, y2 = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3]
        areas = (x2 - x1 + 1) * (y2 - y1 + 1)
        order = np.arange(len(dets))
        keep = []
        while order.size:
            i = order[0]
            keep.append(i)
            w = np.maximum(0.0, np.minimum(x2[i], x2[order[1:]]) - np.maximum(x1[i], x1[order[1:]]) + 1)
            h = np.maximum(0.0, np.minimum(y2[i], y2[order[1:]]) - np.maximum(y1[i], y1[order[1:]]) + 1)
            inter = w * h
            overlap = inter / (areas[i] + areas[order[1:]] - inter)
            order = order[np.where(overlap <= self.nms_thr)[0] + 1]
        return np.asarray(keep, dtype=np.int64)

    def __call__(self, img):
        blob, det_scale = self.preprocess(img)
        return self.decode(self.run_network(blob), det_scale)


AGREEMENT_SCORE = 0.5  # besides the benchmark's threshold, the faces are compared at this one (the confident ones)


def _dets(faces):
    """FaceDetections -> (N, 5) x1 y1 x2 y2 score."""
    return np.hstack([faces.bboxes, faces.scores[:, None]]).astype(np.float32)


def detection_agreement(ours, boxes):
    """How far the faces of two pipelines apart: ``(count ours, count other, matched, largest box-corner difference
    of the matched pairs in pixels)``, pairs by an optimal assignment on the largest corner difference, a pair
    counting as matched when its boxes overlap with IoU > 0.5. ``ours``: (N, 4), ``boxes``: (M, 4), x1y1x2y2."""
    from scipy.optimize import linear_sum_assignment
    if not len(ours) or not len(boxes):
        return len(ours), len(boxes), 0, 0.0
    diff = np.abs(ours[:, None, :].astype(np.float64) - boxes[None, :, :4]).max(-1)
    rows, cols = linear_sum_assignment(diff)
    a, b = ours[rows], boxes[cols, :4]
    lt, rb = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    iou = inter / ((a[:, 2:] - a[:, :2]).prod(-1) + (b[:, 2:] - b[:, :2]).prod(-1) - inter + 1e-9)
    ok = iou > 0.5
    return len(ours), len(boxes), int(ok.sum()), float(diff[rows[ok], cols[ok]].max()) if ok.any() else 0.0


QUANTIZED_OPS = {'QuantizeLinear', 'DequantizeLinear', 'QLinearConv', 'ConvInteger', 'DynamicQuantizeLinear',
                 'MatMulInteger', 'QLinearMatMul'}


def onnx_precision(path):
    """'int8' for a quantised graph (quantise / dequantise or integer ops), 'fp16' for float16 weights, else
    'fp32'."""
    import onnx
    model = onnx.load(path, load_external_data=False)
    if any(node.op_type in QUANTIZED_OPS for node in model.graph.node):
        return 'int8'
    if any(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer):
        return 'fp16'
    return 'fp32'


def parse_onnx_spec(text):
    """'FILE' or 'FILE=CONFIG' -> (file, config or None)."""
    path, sep, config = text.partition('=')
    if not path or (sep and not config):
        raise argparse.ArgumentTypeError(f'expected FILE or FILE=CONFIG, got {text!r}')
    return path, config or None


def spread(times):
    """``(median, interquartile range)`` of a list of milliseconds."""
    q1, q2, q3 = np.percentile(times, [25, 50, 75])
    return float(q2), float(q3 - q1)


class OnnxModeError(Exception):
    """A user mistake in the ONNX mode: printed as ``error: ...`` with exit status 2, no traceback."""


def _fp16_copy(path, folder):
    """A float16 copy of an ONNX file (onnxruntime's converter; inputs and outputs stay float32), in ``folder``."""
    import onnx
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as err:
        raise OnnxModeError(f'--fp16 needs onnxruntime.transformers.float16 (onnxruntime >= 1.10): {err}')
    model = convert_float_to_float16(onnx.load(path), keep_io_types=True)
    out = osp.join(folder, osp.splitext(osp.basename(path))[0] + '.fp16.onnx')
    onnx.save(model, out)
    return out


def _row_jobs(detector, img, max_size, score_thr, sync):
    """The four timed stages of a FaceDetector / OnnxFaceDetector on ``img``; returns (jobs, input (H, W), faces)."""
    cfg = detector._call_cfg(score_thr, 0.4)
    inputs, metas = detector.preprocess([img], max_size)
    onnx_net = getattr(detector, 'network', None)
    if onnx_net is not None:
        blob = inputs.numpy()
        outputs = onnx_net.run(blob)
        net = lambda: onnx_net.run(blob)  # noqa: E731
        decode = lambda: detector.decode_outputs(outputs, blob.shape[2:], metas, cfg)  # noqa: E731
    else:
        inputs = inputs.to(detector.device)
        feats = detector.run_network(inputs)
        net = lambda: sync(detector.run_network(inputs))  # noqa: E731
        decode = lambda: sync(detector.decode(feats, metas, cfg))  # noqa: E731
    jobs = dict(pre=lambda: detector.preprocess([img], max_size), net=net, decode=decode,
                e2e=lambda: sync(detector(img, score_thr=score_thr, nms_thr=0.4, max_size=max_size)))
    faces = detector(img, score_thr=score_thr, nms_thr=0.4, max_size=max_size)
    return jobs, tuple(inputs.shape[2:]), faces


def benchmark_onnx(args):
    """The ONNX mode: see the module docstring."""
    import warnings

    import cv2
    import onnxruntime as ort

    import mmdet_face  # noqa: F401
    from mmdet_face.apis.face_detector import FaceDetector, RandomWeightsWarning, read_image
    from mmdet_face.deployment.onnx_runtime import OnnxFaceDetector

    if args.device == 'cuda':
        if 'CUDAExecutionProvider' not in ort.get_available_providers():
            raise OnnxModeError('--device cuda: onnxruntime\'s CUDAExecutionProvider is not available here (providers: '
                                f'{", ".join(ort.get_available_providers())}; install onnxruntime-gpu on a CUDA '
                                'machine)')
        if args.checkpoint and not torch.cuda.is_available():
            raise OnnxModeError('--device cuda: PyTorch has no CUDA device here')
    elif args.fp16:
        raise OnnxModeError('--fp16 runs with --device cuda only (onnxruntime has no fast float16 CPU kernels): '
                            'not available here on the CPU')
    if len(args.sizes) != 1:
        raise OnnxModeError('--onnx takes one --size WxH')
    if args.clock == 'cpu' and (args.device != 'cpu' or args.threads[0] != 1):
        raise OnnxModeError('--clock cpu measures the calling thread: it needs --threads 1 and --device cpu (other '
                            'threads and the GPU would not be counted)')
    height, width = args.sizes[0]
    files = []
    for path, config in args.onnx:
        if not osp.isfile(path):
            raise OnnxModeError(f'--onnx {path}: no such file')
        config = config or args.config
        if not osp.isfile(config):
            raise OnnxModeError(f'--onnx {path}={config}: no such config file')
        files.append((path, config))
    default_image = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', '..', 'shared', 'real', 'images',
                             '0_Parade_marchingband_1_765.jpg')
    if args.image is not None and not osp.isfile(args.image):
        raise OnnxModeError(f'--image {args.image}: no such file')
    image = args.image or (default_image if osp.isfile(default_image) else None)
    try:
        img = read_image(image) if image else \
            np.random.default_rng(0).integers(0, 256, (732, 1024, 3), dtype=np.uint8)
    except (ValueError, TypeError) as err:
        raise OnnxModeError(f'--image: {err}')
    threads = args.threads[0] if args.threads else 1
    from mmdet_face.apis.cpu_runtime import cpu_description, tune_cpu_allocator
    # as in the PyTorch table: FaceDetector(tune_allocator=True)'s opt-in, for every row alike
    allocator = 'glibc thresholds raised (tune_cpu_allocator)' if args.device == 'cpu' and tune_cpu_allocator() \
        else 'default'
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    providers = ['CUDAExecutionProvider'] if args.device == 'cuda' else ['CPUExecutionProvider']
    max_size = max(height, width)
    sync = (lambda out: (torch.cuda.synchronize(), out)[1]) if args.device == 'cuda' else (lambda out: out)
    tmp = tempfile.TemporaryDirectory()
    rows = []  # (pipeline, label, precision, jobs, input hw, faces as (N, 4) boxes, onnx file or None)
    variants = [(path, config, onnx_precision(path)) for path, config in files]
    if args.fp16:
        variants += [(_fp16_copy(path, tmp.name), config, 'fp16') for path, config, precision in variants
                     if precision == 'fp32']
    for path, config, precision in variants:
        try:
            detector = OnnxFaceDetector(config, path, ort_threads=threads, ort_inter_op_threads=1,
                                        ort_providers=providers)
            fixed = detector.network.fixed_hw  # a static graph runs at its own size: letterbox, else its long side
            size = max_size if fixed is None else (None if detector.letterbox else max(fixed))
            jobs, hw, faces = _row_jobs(detector, img, size, args.score_thr, sync)
        except (ValueError, FileNotFoundError) as err:
            raise OnnxModeError(str(err))
        label = osp.basename(path)
        rows.append(('ours', label, precision, jobs, hw, _dets(faces), path))
        if type(detector.head).__name__ == 'SCRFDHead':
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            official = InsightfaceScrfdPipeline(ort.InferenceSession(path, options, providers=providers), hw,
                                                args.score_thr)

            def official_jobs(pipe=official):
                blob, det_scale = pipe.preprocess(img)
                outs = pipe.run_network(blob)
                return dict(pre=lambda: pipe.preprocess(img), net=lambda: pipe.run_network(blob),
                            decode=lambda: pipe.decode(outs, det_scale), e2e=lambda: pipe(img))
            rows.append(('official', label, precision, official_jobs(), hw, official(img)[0], path))
    if args.checkpoint:
        fp16_torch = [False, True] if args.fp16 else [False]
        for half in fp16_torch:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', RandomWeightsWarning)
                detector = FaceDetector(args.config, args.checkpoint, device=args.device, fp16=half)
            jobs, hw, faces = _row_jobs(detector, img, max_size, args.score_thr, sync)
            rows.append(('pytorch', osp.basename(args.checkpoint), 'fp16' if half else 'fp32', jobs, hw, _dets(faces),
                         None))
    all_jobs = {(i, stage): fn for i, row in enumerate(rows) for stage, fn in row[3].items()}
    with torch.no_grad():
        times = interleaved_times(all_jobs, args.repeat,
                                  clock=time.thread_time if args.clock == 'cpu' else time.perf_counter)
    stats = {key: spread(value) for key, value in times.items()}

    clock = 'CPU time of the calling thread' if args.clock == 'cpu' else 'wall clock'
    print(f'image {image or "generated 1024x732 noise"}; size {width}x{height} (long side {max_size}; a fixed-size '
          f'graph runs at its own size), score >= {args.score_thr}, NMS IoU 0.4, {threads} thread(s), device '
          f'{args.device}; {len(next(iter(times.values())))} timed runs per cell, interleaved; milliseconds ({clock}): '
          f'median and interquartile range (iqr); allocator: {allocator}')
    print(f'cpu: {cpu_description()}')
    header = (f'{"row":>3} {"pipeline":<8} {"model":<32} {"prec":<4} {"input":>7} {"faces":>5} '
              + ' '.join(f'{stage:>7} {"iqr":>5}' for stage in ('pre', 'net', 'decode', 'e2e')))
    print(header)
    for i, (pipeline, label, precision, _, hw, boxes, _) in enumerate(rows):
        cells = ' '.join(f'{stats[i, stage][0]:7.2f} {stats[i, stage][1]:5.2f}'
                         for stage in ('pre', 'net', 'decode', 'e2e'))
        print(f'{i + 1:>3} {pipeline:<8} {label[-32:]:<32} {precision:<4} {f"{hw[1]}x{hw[0]}":>7} {len(boxes):>5} '
              f'{cells}')
    print('ratios (medians):')
    median = lambda i, stage: stats[i, stage][0]  # noqa: E731
    for i, (pipeline, label, precision, _, hw, boxes, path) in enumerate(rows):
        if pipeline != 'ours':
            continue
        ratio = median(i, 'e2e') / median(i, 'net')
        print(f'  row {i + 1} ours {label} {precision}: end to end / network {ratio:.3f} '
              f'(target <= 1.15: {"met" if ratio <= 1.15 else "NOT met"})')
        for j, other in enumerate(rows):
            if other[0] == 'official' and other[6] == path and other[2] == precision:
                ratio = median(i, 'e2e') / median(j, 'e2e')
                print(f'  row {i + 1} ours / row {j + 1} official pipeline, end to end: {ratio:.3f} (target <= 1.00: '
                      f'{"met" if ratio <= 1.0 else "NOT met"})')
                for thr in sorted({args.score_thr, max(args.score_thr, AGREEMENT_SCORE)}):
                    count_a, count_b, matched, worst = detection_agreement(boxes[boxes[:, 4] >= thr, :4],
                                                                           other[5][other[5][:, 4] >= thr, :4])
                    print(f'    agreement at score >= {thr:g}: faces {count_a} ours, {count_b} official, {matched} '
                          f'matched (IoU > 0.5), largest box-corner difference {worst:.3f} px')
    for i, (pipeline, label, precision, _, hw, _, _) in enumerate(rows):
        if pipeline != 'ours' or precision != 'int8':
            continue
        for j, other in enumerate(rows):
            if other[0] == 'ours' and other[2] == 'fp32' and other[4] == hw:
                speedup = median(j, 'net') / median(i, 'net')
                print(f'  row {i + 1} INT8 {label} vs row {j + 1} FP32 {other[1]}: network {speedup:.2f}x faster '
                      f'(target >= 1.5: {"met" if speedup >= 1.5 else "NOT met"})')
    tmp.cleanup()


if __name__ == '__main__':
    main()
