"""Convert released RetinaFace weights (biubug6 PyTorch layout: MobileNet-0.25 or ResNet-50) to an mmdet-face checkpoint.

    python tools/model_converters/retinaface_pth2mmdet.py mobilenet0.25_Final.pth retinaface_mnet025.pth \
        [--config configs/retinaface/retinaface_mnet025_1xb32-250e_widerface.py] [--force]
    python tools/model_converters/retinaface_pth2mmdet.py Resnet50_Final.pth retinaface_r50.pth \
        [--config configs/retinaface/retinaface_r50_4xb6-100e_widerface.py] [--force]

Which release IN.pth is, is read from its keys (``module.`` prefixes and ``state_dict`` wrappers are accepted, and
``num_batches_tracked`` may be present or not); a file that is neither, or misses some of its release's tensors, is
an error. With ``--config`` the converted weights are also loaded strictly into that config's model. An existing
OUT.pth is left alone unless ``--force`` is given; the output is written to a temporary file and renamed into place,
so an interrupted run never leaves a half-written checkpoint.
"""
import argparse
import sys

import mmdet_face  # noqa: F401  (registers modules, checkpoint-loading shims)
from mmdet_face.deployment.retinaface_pth_import import (RELEASE_CONFIGS, RELEASE_NAMES,
                                                         convert_retinaface_checkpoint)


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
    release = ckpt['meta']['release']
    print(f'{args.src}: {RELEASE_NAMES[release]}')
    print(f'wrote {len(ckpt["state_dict"])} tensors to {args.dst}')
    if args.config is None:
        print(f'use it with {RELEASE_CONFIGS[release]}')


if __name__ == '__main__':
    main()
