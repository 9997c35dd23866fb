"""Convert released RetinaFace MobileNet-0.25 weights (biubug6 layout) to an mmdet-face checkpoint.

    python tools/model_converters/retinaface_pth2mmdet.py IN.pth OUT.pth \
        [--config configs/retinaface/retinaface_mnet025_1xb32-250e_widerface.py] [--force]

An existing OUT.pth is left alone unless ``--force`` is given; the output is written to a temporary file and renamed
into place, so an interrupted run never leaves a half-written checkpoint.
"""
import argparse
import sys

import mmdet_face  # noqa: F401  (registers modules, checkpoint-loading shims)
from mmdet_face.deployment.retinaface_pth_import import convert_retinaface_checkpoint


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='released .pth (plain state dict, `module.` prefix or state_dict wrapper ok)')
    parser.add_argument('dst', help='output mmengine checkpoint')
    parser.add_argument('--config', default=None, help='build this config and load the result strictly')
    parser.add_argument('--force', action='store_true', help='replace DST if it exists')
    args = parser.parse_args(argv)
    try:
        ckpt = convert_retinaface_checkpoint(args.src, args.dst, args.config, overwrite=args.force)
    except (OSError, ValueError) as err:  # the messages name the file and what was expected
        sys.exit(f'error: {err}')
    print(f'wrote {len(ckpt["state_dict"])} tensors to {args.dst}')


if __name__ == '__main__':
    main()
