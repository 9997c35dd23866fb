"""Export an SCRFD, RetinaFace, DSFD, SRN or AInnoFace config + checkpoint to ONNX (the releases' output layouts).

    python tools/deployment/export_onnx.py CONFIG [CHECKPOINT] OUT.onnx [--shape H W | --dynamic] [--simplify]
        [--opset N] [--batch 1] [--force]

The head type of CONFIG picks the exporter; the batch dimension is always dynamic, ``--dynamic`` makes height and
width symbolic too.

SCRFD (``SCRFDHead``; insightface's ``scrfd2onnx.py`` layout): input ``input.1``, normalised RGB
((x - 127.5) / 128); outputs ``score_8/16/32`` (B, N, 1) sigmoid scores, ``bbox_8/16/32`` (B, N, 4) distances in
stride units and, with keypoints, ``kps_8/16/32`` (B, N, 10). GroupNorm is exported as one GroupNormalization node
at opset >= 21 (its default opset); ``--opset 18`` (for runtimes that stop at opset 20, e.g. TensorRT 10.0) writes
one GroupNormalization-18 node with unit per-group scale followed by the per-channel Mul + Add; below 18, torch's
InstanceNormalization decomposition.

RetinaFace (``RetinaFaceHead``; the PyTorch release's ``convert_to_onnx.py`` layout, test phase): input ``input``,
BGR minus the mean (104, 117, 123), no scaling; outputs ``loc`` (B, N, 4) variance-encoded box deltas, ``conf``
(B, N, 2) softmax [background, face], ``landms`` (B, N, 10) encoded landmark deltas, all levels concatenated in the
release's prior order (strides 8, 16, 32; rows, columns, 2 anchors per location). Default opset 17.

DSFD (``DSFDHead``; the second shot, what the Tencent release's ``SSD`` computes before ``Detect``; the first shot
of training configs is never exported): input ``input``, BGR minus the mean (104, 117, 123), no scaling; outputs
``loc`` (B, N, 4) variance-encoded box deltas and ``conf`` (B, N, 2) softmax [background, face] after max-in-out,
levels at strides 4..128 concatenated, one prior per location (decoding: mmdet_face/deployment/dsfd_onnx_export.py).
Default opset 17.

SRN and AInnoFace (``SRNHead``; no release ships an export, the layout is this package's): input ``input``, the
config's normalisation (RGB, ImageNet mean / std); both steps, all levels concatenated (strides 4..128, rows,
columns, the anchors of a location consecutive): ``score_first`` (B, N, 1) first-step sigmoid scores (read on the STC
levels), ``bbox_first`` (B, N, 4) first-step deltas (read on the STR levels, where they refine the anchors),
``score_second`` (B, N, 1) second-step sigmoid scores, ``bbox_second`` (B, N, 4) second-step deltas
(mmdet_face/deployment/srn_onnx_export.py documents the decoding). Default opset 17.

Every exporter traces a dynamic batch; ``--dynamic`` adds a dynamic height and width (any input size, e.g. a padded
batch of images of different sizes). Run the file with the package's onnxruntime backend, which decodes it with the
config's head exactly as PyTorch does: ``mmdet_face.deployment.onnx_runtime.OnnxFaceDetector(CONFIG, OUT.onnx)``,
``tools/image_demo.py CONFIG INPUT --backend onnxruntime --onnx OUT.onnx``, ``tools/test.py CONFIG --onnx OUT.onnx``.

``--simplify``: onnxsim when it is installed, otherwise onnxruntime's basic offline graph optimisation (constant
folding, redundant-node removal; standard ONNX ops only); the log says which one ran. Input / output names are kept,
and a result larger than the export (onnxruntime expands opset-21 GroupNormalization) is not used.

The written file is run with onnxruntime and compared with the PyTorch model before it is kept (an export that
computes something else is an error, not a file). An existing OUT.onnx is left alone unless ``--force`` is given (checked before the model is built); the file is
written under a temporary name and renamed into place, so a failed export or simplification leaves no half file.
"""
import argparse
import sys

import mmdet_face  # noqa: F401
from mmdet_face.engine.cli import positive_int, read_tool_config



def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', default=None, help='omit for random weights')
    parser.add_argument('out')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--shape', type=positive_int, nargs=2, metavar=('H', 'W'), default=(640, 640))
    group.add_argument('--dynamic', action='store_true', help='symbolic batch, height and width')
    parser.add_argument('--simplify', action='store_true',
                        help='simplify the graph (onnxsim if installed, else onnxruntime basic optimisation)')
    parser.add_argument('--opset', type=positive_int, default=None,
                        help='ONNX opset (default: 21 for SCRFD, 17 for RetinaFace, DSFD, SRN and AInnoFace)')
    parser.add_argument('--batch', type=positive_int, default=1, help='batch size of the trace input')
    parser.add_argument('--force', action='store_true', help='replace OUT if it exists')
    args = parser.parse_args(argv)
    from mmdet_face.utils.output_file import check_output_path
    try:  # fail before the (slow) build and export
        check_output_path(args.out, overwrite=args.force, inputs=(args.config, args.checkpoint))
    except (OSError, ValueError) as err:
        sys.exit(f'error: {err}')

    from mmdet_face.apis.checkpoint import CheckpointMismatchError
    from mmdet_face.apis.inference import init_face_detector
    try:  # strict load: a checkpoint of another family or size is refused, naming what does not fit
        model = init_face_detector(read_tool_config(args.config), args.checkpoint)
    except (FileNotFoundError, CheckpointMismatchError) as err:
        sys.exit(f'error: {err}')
    from mmdet_face.deployment.onnx_layouts import OnnxLayoutError, export_function
    try:
        export, default_opset = export_function(getattr(model, 'bbox_head', None))
    except OnnxLayoutError as err:
        sys.exit(f'error: {args.config}: {err}')
    names = export(model, args.out, shape=tuple(args.shape), dynamic=args.dynamic,
                   opset=default_opset if args.opset is None else args.opset, simplify=args.simplify,
                   batch_size=args.batch, overwrite=args.force)
    print(f'wrote {args.out}: outputs {", ".join(names)}')


if __name__ == '__main__':
    main()
