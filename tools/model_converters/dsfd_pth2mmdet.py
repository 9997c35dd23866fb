"""Convert the released DSFD-ResNet-152 weights (Tencent/FaceDetection-DSFD layout) to an mmdet-face checkpoint.

    python tools/model_converters/dsfd_pth2mmdet.py WIDERFace_DSFD_RES152.pth OUT.pth \
        [--config configs/dsfd/dsfd_r152_release_widerface.py] [--force]

The release's PyramidBox head/body outputs are dropped (a log line says how many channels); everything else is
copied. An existing OUT.pth is left alone unless ``--force`` is given; the output is written to a temporary file
and renamed into place, so an interrupted run never leaves a half-written checkpoint.
"""
import argparse
import logging
import sys

import mmdet_face  # noqa: F401  (registers modules, checkpoint-loading shims)
from mmdet_face.deployment.dsfd_pth_import import convert_dsfd_checkpoint


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='released .pth (plain state dict, `module.` prefix or state_dict wrapper ok)')
    parser.add_argument('dst', help='output mmengine checkpoint')
    parser.add_argument('--config', default=None, help='build this config and load the result strictly')
    parser.add_argument('--force', action='store_true', help='replace DST if it exists')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    try:
        ckpt = convert_dsfd_checkpoint(args.src, args.dst, args.config, overwrite=args.force)
    except (OSError, ValueError) as err:  # the messages name the file and what was expected
        sys.exit(f'error: {err}')
    print(f'wrote {len(ckpt["state_dict"])} tensors to {args.dst}')


if __name__ == '__main__':
    main()
