"""Convert released RetinaFace MobileNet-0.25 weights (biubug6 layout) to an mmdet-face checkpoint.

    python tools/model_converters/retinaface_pth2mmdet.py IN.pth OUT.pth \
        [--config configs/retinaface/retinaface_mnet025_1xb32-250e_widerface.py]
"""
import argparse

import mmdet_face  # noqa: F401  (registers modules, checkpoint-loading shims)
from mmdet_face.deployment.retinaface_convert import convert_retinaface_checkpoint


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='released .pth (plain state dict, `module.` prefix or state_dict wrapper ok)')
    parser.add_argument('dst', help='output mmengine checkpoint')
    parser.add_argument('--config', default=None, help='build this config and load the result strictly')
    args = parser.parse_args()
    ckpt = convert_retinaface_checkpoint(args.src, args.dst, args.config)
    print(f'wrote {len(ckpt["state_dict"])} tensors to {args.dst}')


if __name__ == '__main__':
    main()
