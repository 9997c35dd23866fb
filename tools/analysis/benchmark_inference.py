"""CPU inference latency of a face detector: pre-processing, network and post-processing, timed separately.

    python tools/analysis/benchmark_inference.py configs/scrfd/scrfd_500m_bnkps_4xb16-640e_widerface.py \
        --checkpoint scrfd_500m_bnkps.pth --onnx scrfd_500m_bnkps.onnx [--image photo.jpg] [--repeat 20]

Any family works (SCRFD, RetinaFace, SRN, AInnoFace): the blob is normalised and padded as the config's
``data_preprocessor`` says, and the ``ours.onnx`` column is filled where an ONNX exporter exists (SCRFDHead,
RetinaFaceHead; otherwise it reads ``n/a`` with the reason printed above the table).

For each thread count (``--threads``, default 1 2) and input size (``--sizes``, default 640x640 640x480 = W x H) it
reports median milliseconds of
  pre   letterbox resize + normalisation of the image into a (1, 3, H, W) float blob (numpy / OpenCV),
  net   our PyTorch model as built (``torch``) and as FaceDetector runs it (``torch-opt``: BatchNorm folded,
        channels-last, see ``mmdet_face.apis.face_detector.optimize_for_inference``; both with glibc's allocator
        thresholds raised as FaceDetector(tune_allocator=True) does, unless ``--default-malloc``), our model exported to ONNX
        (onnxruntime) and, with ``--onnx``, the given file (a released model is fixed at 640x640: at 640x480 it runs
        on the blob padded to 640x640),
  post  FaceDetector's decoding + NMS (``bbox_head.predict_by_feat``) at ``--score-thr`` (0.02), rescaled;
        ``post/net`` is post divided by our ONNX network time and by torch-opt.
All of a row's columns are measured in rotating blocks of 5 calls, so drift on a shared machine hits them alike;
``opt/onnx`` = torch-opt / ours.onnx and ``ours/given`` = ours.onnx / given.onnx come from one run.
With a CUDA device it adds a GPU table: network in fp32 and under fp16 autocast, our ONNX file with onnxruntime's
CUDA provider when installed, decoding + NMS of the GPU outputs.
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


def interleaved_ms(jobs, repeat, block=5):
    """Median milliseconds of each job over ``repeat`` timed calls, run in rotating blocks (``block`` + 1 calls
    of one job, the first untimed, then the next job) so that a slow spell of a shared machine hits every column
    alike, while no job is timed right after another one's threads (onnxruntime's spin, OpenMP's) or cache use."""
    names = list(jobs)
    times = {name: [] for name in names}
    rounds = max(1, -(-repeat // block))
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            jobs[name]()
            for _ in range(block):
                start = time.perf_counter()
                jobs[name]()
                times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(ts) for name, ts in times.items()}


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
    parser.add_argument('--onnx', default=None, help='a released ONNX file to compare with (same run)')
    parser.add_argument('--image', default=None, help='photo to run on (default: a real one under ../shared, '
                        'else random noise)')
    parser.add_argument('--threads', type=positive_int, nargs='+', default=[1, 2])
    parser.add_argument('--sizes', type=parse_size, nargs='+', default=[parse_size(f'{w}x{h}') for h, w in SIZES],
                        metavar='WxH', help='input sizes (default: 640x640 640x480)')
    parser.add_argument('--repeat', type=positive_int, default=20)
    parser.add_argument('--score-thr', type=real_number, default=0.02)
    parser.add_argument('--no-cuda', action='store_true', help='skip the GPU table even when CUDA is available')
    parser.add_argument('--default-malloc', action='store_true',
                        help="keep glibc's allocator thresholds (by default the benchmark opts in to "
                        "cpu_runtime.tune_cpu_allocator, as FaceDetector(tune_allocator=True) does)")
    args = parser.parse_args(argv)
    if args.default_malloc:
        os.environ['MMDET_FACE_DEFAULT_MALLOC'] = '1'

    import cv2
    import onnxruntime as ort
    import mmdet_face  # noqa: F401
    from mmdet_face.apis.cpu_runtime import optimize_for_inference, tune_cpu_allocator
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
             f'{"given.onnx":>10} {"post":>6} {"opt/onnx":>8} {"ours/given":>10} {"post/net":>13} {"faces":>5}'
    print(header)
    for threads in args.threads:
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        sess_ours = ort.InferenceSession(ours, opts, providers=['CPUExecutionProvider']) if ours else None
        sess_given = ort.InferenceSession(args.onnx, opts, providers=['CPUExecutionProvider']) if args.onnx \
            else None
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
            if sess_given is not None:
                shape = sess_given.get_inputs()[0].shape
                given_blob = blob
                if all(isinstance(d, int) for d in shape[2:]) and tuple(shape[2:]) != blob.shape[2:]:
                    if any(g < b for g, b in zip(shape[2:], blob.shape[2:])):
                        sys.exit(f'error: {args.onnx}: fixed input {shape[2:]} is smaller than the {w}x{h} blob')
                    given_blob = np.zeros((1, 3, *shape[2:]), np.float32)
                    given_blob[:, :, :blob.shape[2], :blob.shape[3]] = blob
                name = sess_given.get_inputs()[0].name
                jobs['given'] = lambda: sess_given.run(None, {name: given_blob})
            with torch.no_grad():
                t = interleaved_ms(jobs, args.repeat)
            nan = float('nan')
            t_ours, t_given = t.get('ours', nan), t.get('given', nan)
            faces = len(head.predict_by_feat(*feats, batch_img_metas=meta, rescale=True)[0])
            post_net = (f'{100 * t["post"] / t_ours:.0f}%' if np.isfinite(t_ours) else 'n/a') + \
                f'/{100 * t["post"] / t["torch-opt"]:.0f}%'
            print(f'{threads:>7} {f"{w}x{h}":>9} {t["pre"]:6.2f} {t["torch"]:7.2f} {t["torch-opt"]:9.2f} '
                  f'{_fmt(t_ours, 9)} {_fmt(t_given, 10)} {t["post"]:6.2f} {_fmt(t["torch-opt"] / t_ours, 8)} '
                  f'{_fmt(t_ours / t_given, 10)} {post_net:>13} {faces:>5}')
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


if __name__ == '__main__':
    main()
