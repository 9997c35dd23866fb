"""Convert a released SCRFD ONNX file (BN folded into convs, GN heads, per-level scales) into an mmengine checkpoint.

    python tools/model_converters/scrfd_onnx2mmdet.py scrfd_500m_bnkps.onnx \
        configs/scrfd/scrfd_500m_bnkps_4xb16-640e_widerface.py scrfd_500m_bnkps.pth

Both insightface's ``scrfd2onnx.py`` files (``score_8``... outputs with a batch dimension) and the older model-pack
exports (numeric output names, dynamic input, no batch dimension) are accepted. If the graph does not fit the
config, the error names the configs whose conv shapes match among those in ``--candidates`` (a folder; default: this
repository's configs/scrfd). An existing output is left alone unless
``--force`` is given; the output is written to a temporary file and renamed into place, so an interrupted run never
leaves a half-written checkpoint.
"""
import argparse
import glob
import os.path as osp
import sys

import mmdet_face  # noqa: F401  (registers modules)
from mmdet_face.deployment import SCRFDOnnxMismatch, convert_scrfd_onnx

CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs', 'scrfd')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='released SCRFD .onnx')
    parser.add_argument('config', help='our matching SCRFD config')
    parser.add_argument('dst', help='output .pth (mmengine checkpoint with state_dict)')
    parser.add_argument('--force', action='store_true', help='replace DST if it exists')
    parser.add_argument('--candidates', default=CONFIG_DIR, metavar='DIR',
                        help='folder of configs to name when the graph does not fit CONFIG (default: configs/scrfd)')
    args = parser.parse_args(argv)
    candidates = sorted(glob.glob(osp.join(args.candidates, '*.py')))
    try:
        ckpt = convert_scrfd_onnx(args.src, args.config, args.dst, overwrite=args.force,
                                  candidate_configs=candidates)
    except SCRFDOnnxMismatch as err:
        sys.exit(f'error: {args.src}: {err}')
    except (OSError, ValueError) as err:  # these messages already name the file and what was expected
        sys.exit(f'error: {err}')
    print(f'wrote {len(ckpt["state_dict"])} tensors to {args.dst}')


if __name__ == '__main__':
    main()
