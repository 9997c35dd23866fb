"""Export an SCRFD config + checkpoint to ONNX in the released models' output layout.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT OUT.onnx [--shape H W | --dynamic] [--simplify]
        [--opset 21] [--batch 1]

Outputs ``score_8/16/32`` (B, N, 1) sigmoid scores, ``bbox_8/16/32`` (B, N, 4) distances in stride units and, with
keypoints, ``kps_8/16/32`` (B, N, 10); the batch dimension is always dynamic. Input ``input.1``: normalised RGB
((x - 127.5) / 128). GroupNorm is exported as one GroupNormalization node at opset >= 21 (the default).
"""
import argparse

import mmdet_face  # noqa: F401
from mmdet_face.deployment.scrfd_onnx import DEFAULT_OPSET, export_scrfd_onnx


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', default=None, help='omit for random weights')
    parser.add_argument('out')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), default=(640, 640))
    group.add_argument('--dynamic', action='store_true', help='symbolic batch, height and width')
    parser.add_argument('--simplify', action='store_true', help='run onnxsim on the result')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET)
    parser.add_argument('--batch', type=int, default=1, help='batch size of the trace input')
    args = parser.parse_args()

    from mmengine.runner import load_checkpoint

    from mmdet_face.models.utils.complexity import build_detector_from_config
    model = build_detector_from_config(args.config).eval()
    if model.bbox_head.__class__.__name__ != 'SCRFDHead':
        raise NotImplementedError(f'{args.config}: ONNX export is implemented for SCRFD heads only')
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    names = export_scrfd_onnx(model, args.out, shape=tuple(args.shape), dynamic=args.dynamic, opset=args.opset,
                              simplify=args.simplify, batch_size=args.batch)
    print(f'wrote {args.out}: outputs {", ".join(names)}')


if __name__ == '__main__':
    main()
