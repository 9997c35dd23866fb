"""Detect faces in an image, a folder of images or a video and write the same with boxes, scores and landmarks.

    python tools/demo.py CONFIG CHECKPOINT INPUT [--out OUT] [--score-thr 0.5] [--nms-thr 0.4] [--max-size N]
                         [--device cpu|cuda] [--show-fps]

INPUT: an image file, a folder (every .jpg/.jpeg/.png/.bmp inside, recursively) or a video (.mp4/.avi/.mov/.mkv).
OUT: for an image, the output image (default: INPUT's name with _faces); for a folder, an output folder mirroring
INPUT (default: INPUT_faces); for a video, the output video (default: INPUT's name with _faces.mp4). Existing
files are never overwritten unless --overwrite is given.
"""
import argparse
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('input')
    parser.add_argument('--out')
    parser.add_argument('--score-thr', type=float, default=0.5)
    parser.add_argument('--nms-thr', type=float, default=0.4)
    parser.add_argument('--max-size', type=int, help='resize so the long side is this (default: the config)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--show-fps', action='store_true', help='print and draw the detector\'s frames per second')
    parser.add_argument('--overwrite', action='store_true')
    return parser.parse_args(argv)


def _default_out(path, kind):
    stem, ext = osp.splitext(osp.normpath(path))
    return {'image': f'{stem}_faces{ext}', 'folder': f'{stem}_faces', 'video': f'{stem}_faces.mp4'}[kind]


def _check_writable(path, overwrite):
    if osp.exists(path) and not overwrite:
        raise FileExistsError(f'{path} exists; pass --overwrite or choose another --out')


def _fps_label(canvas, fps):
    import cv2
    cv2.putText(canvas, f'{fps:.1f} FPS', (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 255), 2)


def run(args):
    import cv2
    from mmengine.utils import ProgressBar

    from mmdet_face.apis import FaceDetector
    from mmdet_face.visualization import draw_faces

    if not osp.exists(args.input):
        raise FileNotFoundError(f'{args.input}: no such file or folder')
    kind = ('folder' if osp.isdir(args.input) else
            'video' if args.input.lower().endswith(VIDEO_EXTS) else 'image')
    out = args.out or _default_out(args.input, kind)
    detector = FaceDetector(args.config, args.checkpoint, device=args.device)
    call = dict(score_thr=args.score_thr, nms_thr=args.nms_thr, max_size=args.max_size)
    seconds, frames = 0.0, 0

    def detect(image):
        nonlocal seconds, frames
        start = time.perf_counter()
        faces = detector(image, **call)
        seconds += time.perf_counter() - start
        frames += 1
        canvas = draw_faces(image, faces.bboxes, faces.scores, faces.keypoints)
        if args.show_fps:
            _fps_label(canvas, frames / seconds)
        return canvas, faces

    if kind == 'video':
        _check_writable(out, args.overwrite)
        capture = cv2.VideoCapture(args.input)
        if not capture.isOpened():
            raise ValueError(f'{args.input}: cannot be opened as a video')
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        writer = None
        bar = ProgressBar(total) if total > 0 else None
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            canvas, _ = detect(frame)
            if writer is None:
                writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*'mp4v'), fps, canvas.shape[1::-1])
            writer.write(canvas)
            if bar:
                bar.update()
        capture.release()
        if writer is not None:
            writer.release()
    else:
        if kind == 'image':
            pairs = [(args.input, out)]
            _check_writable(out, args.overwrite)
        else:
            pairs = []
            for root, _, files in os.walk(args.input):
                for name in sorted(files):
                    if name.lower().endswith(IMAGE_EXTS):
                        src = osp.join(root, name)
                        pairs.append((src, osp.join(out, osp.relpath(src, args.input))))
            for _, dst in pairs:
                _check_writable(dst, args.overwrite)
        bar = ProgressBar(len(pairs))
        for src, dst in pairs:
            image = cv2.imread(src, cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f'{src}: not a readable image')
            canvas, faces = detect(image)
            os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
            cv2.imwrite(dst, canvas)
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
