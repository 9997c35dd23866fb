"""Convert a released SCRFD ONNX file (BN folded into convs, GN heads, per-level scales) into an mmengine checkpoint.

    python tools/model_converters/scrfd_onnx2mmdet.py scrfd_500m_bnkps.onnx \
        configs/scrfd/scrfd_500m_bnkps_4xb16-640e_widerface.py scrfd_500m_bnkps.pth

Both insightface's ``scrfd2onnx.py`` files (``score_8``... outputs with a batch dimension) and the older model-pack
exports (numeric output names, dynamic input, no batch dimension) are accepted. If the graph does not fit the
config, the error names the config in configs/scrfd whose conv shapes match.
"""
import argparse
import sys

import mmdet_face  # noqa: F401  (registers modules)
from mmdet_face.deployment import SCRFDOnnxMismatch, convert_scrfd_onnx


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='released SCRFD .onnx')
    parser.add_argument('config', help='our matching SCRFD config')
    parser.add_argument('dst', help='output .pth (mmengine checkpoint with state_dict)')
    args = parser.parse_args()
    try:
        ckpt = convert_scrfd_onnx(args.src, args.config, args.dst)
    except SCRFDOnnxMismatch as err:
        sys.exit(f'{args.src}: {err}')
    print(f'wrote {len(ckpt["state_dict"])} tensors to {args.dst}')


if __name__ == '__main__':
    main()
