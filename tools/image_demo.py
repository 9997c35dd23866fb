"""Detect faces in an image, a folder of images or a video and write the same with boxes, scores and landmarks.

    python tools/image_demo.py CONFIG CHECKPOINT INPUT [--out OUT] [--score-thr 0.5] [--nms-thr 0.4] [--max-size N]
                         [--device cpu|cuda] [--show-fps] [--overwrite] [--partial-load] [--tune-allocator]
    python tools/image_demo.py CONFIG INPUT --backend onnxruntime --onnx MODEL.onnx [--ort-threads N] [same options]

INPUT: an image file, a folder (every .jpg/.jpeg/.png/.bmp/.webp inside, recursively) or a video
(.mp4/.avi/.mov/.mkv/.webm).
OUT: for an image, the output image, with an image extension (default: INPUT's name with _faces); for a folder, an
output folder mirroring INPUT (default: INPUT_faces); for a video, the output video, .mp4/.avi/.mov/.mkv (default:
INPUT's name with _faces.mp4). Existing files are never overwritten unless --overwrite is given; writing over
INPUT itself (OUT equal to INPUT, or an output image that is one of the input images) is refused whatever the flags.
Arguments, the input and the output are checked before the model is built. The checkpoint must fit the config
exactly unless --partial-load is given. Faces are drawn by mmdet_face's FaceLocalVisualizer (boxes, scores, the five
landmarks).
--backend onnxruntime runs MODEL.onnx (an export of CONFIG by tools/deployment/export_onnx.py, or a released SCRFD
file; a file with a fixed square input is letterboxed to its size) with the same pre-processing and decoding; a
file of another family than CONFIG's, or a damaged one, is an error before anything is written.
--tune-allocator raises glibc's malloc thresholds for this process (mmdet_face.apis.cpu_runtime.tune_cpu_allocator)
so activation buffers are reused between frames: SCRFD-500M at 640 x 640 on one CPU thread ran 1.3-1.8x faster.
"""
import argparse
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmdet_face.engine.cli import float_in, positive_int, real_number  # noqa: E402  (light: no torch)

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm')
VIDEO_OUT_EXTS = ('.mp4', '.avi', '.mov', '.mkv')  # containers that take the mp4v codec the demo writes


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', help='the weights (not with --backend onnxruntime)')
    parser.add_argument('input')
    parser.add_argument('--backend', choices=['pytorch', 'onnxruntime'], default='pytorch',
                        help='run CHECKPOINT with PyTorch (default) or --onnx FILE with onnxruntime')
    parser.add_argument('--onnx', help='with --backend onnxruntime: the ONNX file to run')
    parser.add_argument('--ort-threads', type=positive_int,
                        help='with --backend onnxruntime: intra-op threads (default: one per physical core)')
    parser.add_argument('--out')
    parser.add_argument('--score-thr', type=real_number, default=0.5, help='minimum score drawn')
    parser.add_argument('--nms-thr', type=float_in(0, 1, what='an IoU threshold'), default=0.4,
                        help='IoU threshold of the NMS, in [0, 1]')
    parser.add_argument('--max-size', type=positive_int,
                        help='resize so the long side is this many pixels (default: the config)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--show-fps', action='store_true', help='print and draw the detector\'s frames per second')
    parser.add_argument('--overwrite', action='store_true', help='replace existing output files')
    parser.add_argument('--partial-load', action='store_true',
                        help='load only the checkpoint weights that fit the model (logged); default: refuse a '
                             'checkpoint that does not fit the config exactly')
    parser.add_argument('--tune-allocator', action='store_true',
                        help="CPU: raise glibc's malloc thresholds so activation buffers are reused between frames "
                             '(1.3-1.8x faster network for SCRFD-500M at 640x640 on one thread; changes this '
                             'process\'s allocator; MMDET_FACE_DEFAULT_MALLOC=1 vetoes it)')
    args = parser.parse_args(argv)
    if args.backend == 'onnxruntime':
        if not args.onnx:
            parser.error('--backend onnxruntime needs --onnx FILE')
        if args.checkpoint:
            parser.error(f'--backend onnxruntime runs the weights of --onnx {args.onnx}; give CONFIG INPUT without '
                         f'a CHECKPOINT (got {args.checkpoint})')
        for dest in ('partial_load', 'tune_allocator'):
            if getattr(args, dest):
                parser.error(f'--{dest.replace("_", "-")} applies to the PyTorch backend')
        if args.device != 'cpu':
            parser.error(f'--device {args.device} applies to the PyTorch backend; --backend onnxruntime runs on the '
                         'CPU')
    else:
        if args.onnx or args.ort_threads:
            parser.error('--onnx and --ort-threads apply to --backend onnxruntime')
        if not args.checkpoint:
            parser.error('give CONFIG CHECKPOINT INPUT (or CONFIG INPUT --backend onnxruntime --onnx FILE)')
    return args


def _default_out(path, kind):
    stem, ext = osp.splitext(osp.normpath(path))
    return {'image': f'{stem}_faces{ext}', 'folder': f'{stem}_faces', 'video': f'{stem}_faces.mp4'}[kind]


def _check_writable(path, overwrite):
    if osp.isdir(path):
        raise IsADirectoryError(f'{path} is a folder; --out for an image or a video must be a file name')
    if osp.exists(path) and not overwrite:
        raise FileExistsError(f'{path} exists; pass --overwrite or choose another --out')


def _check_out(kind, out, overwrite, given=True):
    """Refuse an output that could not be written, before the model is built and any frame is run."""
    import cv2
    ext = osp.splitext(out)[1].lower()
    label = '--out' if given else 'output (the default from INPUT; give --out)'
    if kind == 'image':
        if not ext or not cv2.haveImageWriter(out):
            raise ValueError(f'{label} {out}: expected an image file name OpenCV can write '
                             f'({", ".join(IMAGE_EXTS)}), got {"no extension" if not ext else repr(ext)}')
        _check_writable(out, overwrite)
    elif kind == 'video':
        if ext not in VIDEO_OUT_EXTS:
            raise ValueError(f'{label} {out}: expected a video file name ending in {", ".join(VIDEO_OUT_EXTS)}, got '
                             f'{"no extension" if not ext else repr(ext)}')
        _check_writable(out, overwrite)
    elif osp.exists(out) and not osp.isdir(out):
        raise NotADirectoryError(f'--out {out}: exists and is not a folder; a folder INPUT needs an output folder')


def _check_not_input(inp, out, pairs=()):
    """Writing over one's own input is refused whatever the flags (real paths compared, so a link or ``./`` does
    not hide it): ``out`` must not be INPUT, and no output file of a folder run may be one of its input images."""
    from mmdet_face.utils.output_file import OutputIsInputError, check_not_input, real_path
    try:
        check_not_input(out, [inp])
    except OutputIsInputError as err:
        raise OutputIsInputError(f'--out {err}') from None
    inputs = {real_path(src): src for src, _ in pairs}
    for src, dst in pairs:
        clash = inputs.get(real_path(dst))
        if clash is not None:
            raise OutputIsInputError(f'--out {out}: writing {dst} would replace the input image {clash} (--out lies '
                                     f'inside INPUT {inp}, so the images already there are inputs too); refused '
                                     'whatever the flags. Choose an output folder outside INPUT.')


def _fps_label(canvas, fps):
    import cv2
    cv2.putText(canvas, f'{fps:.1f} FPS', (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 255), 2)


def run(args):
    import cv2
    from mmengine.utils import ProgressBar

    from mmdet_face.apis import FaceDetector
    from mmdet_face.apis.face_detector import read_image
    from mmdet_face.visualization import FaceLocalVisualizer

    if not osp.exists(args.input):
        raise FileNotFoundError(f'{args.input}: no such file or folder')
    kind = ('folder' if osp.isdir(args.input) else
            'video' if args.input.lower().endswith(VIDEO_EXTS) else 'image')
    out = args.out or _default_out(args.input, kind)
    _check_not_input(args.input, out)
    _check_out(kind, out, args.overwrite, given=bool(args.out))
    first = None
    if kind == 'image':
        first = read_image(args.input)  # an unreadable or truncated image fails before the model is built
        pairs = [(args.input, out)]
    elif kind == 'folder':
        pairs = []
        for root, dirs, files in os.walk(args.input):
            dirs.sort()
            for name in sorted(files):
                if name.lower().endswith(IMAGE_EXTS):
                    src = osp.join(root, name)
                    pairs.append((src, osp.join(out, osp.relpath(src, args.input))))
        if not pairs:
            raise ValueError(f'{args.input}: no images ({", ".join(IMAGE_EXTS)}) in this folder or below')
        _check_not_input(args.input, out, pairs)
        for _, dst in pairs:
            _check_writable(dst, args.overwrite)
    else:
        capture = cv2.VideoCapture(args.input)
        if not capture.isOpened():
            raise ValueError(f'{args.input}: cannot be opened as a video')
    try:
        if args.backend == 'onnxruntime':
            from mmdet_face.deployment.onnx_runtime import OnnxFaceDetector
            detector = OnnxFaceDetector(args.config, args.onnx, ort_threads=args.ort_threads)
        else:
            detector = FaceDetector(args.config, args.checkpoint, device=args.device, strict=not args.partial_load,
                                    tune_allocator=args.tune_allocator)
    except BaseException:
        if kind == 'video':
            capture.release()
        raise
    call = dict(score_thr=args.score_thr, nms_thr=args.nms_thr, max_size=args.max_size)
    visualizer = FaceLocalVisualizer(name='image_demo')
    seconds, frames = 0.0, 0

    def detect(image):
        nonlocal seconds, frames
        start = time.perf_counter()
        faces = detector(image, **call)
        seconds += time.perf_counter() - start
        frames += 1
        canvas = visualizer.draw_detections(image, faces)
        if args.show_fps:
            _fps_label(canvas, frames / seconds)
        return canvas, faces

    if kind == 'video':
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        writer = None
        bar = ProgressBar(total) if total > 0 else None
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                canvas, _ = detect(frame)
                if writer is None:
                    writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*'mp4v'), fps, canvas.shape[1::-1])
                    if not writer.isOpened():  # else every write would silently do nothing
                        raise OSError(f'{out}: OpenCV cannot write this video (mp4v codec)')
                writer.write(canvas)
                if bar:
                    bar.update()
        finally:
            capture.release()
            if writer is not None:
                writer.release()
        if frames == 0:
            raise ValueError(f'{args.input}: no frame could be read from this video')
    else:
        bar = ProgressBar(len(pairs))
        for src, dst in pairs:
            image = first if first is not None else read_image(src)
            first = None
            canvas, faces = detect(image)
            os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
            if not cv2.imwrite(dst, canvas):
                raise OSError(f'{dst}: could not be written')
            bar.update()
    print(f'\n{frames} frame(s) -> {out}')
    if args.show_fps and frames:
        print(f'detector: {frames / seconds:.2f} FPS ({1000 * seconds / frames:.1f} ms per frame, '
              f'{args.device})')
    return out


def main(argv=None):
    return run(parse_args(argv))


if __name__ == '__main__':
    main()
