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
import mmdet_face  # noqa: F401  (registers modules, checkpoint-loading shims)
from mmdet_face.deployment.retinaface_pth_import import (RELEASE_CONFIGS, RELEASE_NAMES,
                                                         convert_retinaface_checkpoint)
from mmdet_face.engine.cli import release_converter_parser, run_release_converter


def main(argv=None):
    args = release_converter_parser(__doc__.splitlines()[0]).parse_args(argv)
    ckpt = run_release_converter(convert_retinaface_checkpoint, args)
    release = ckpt['meta']['release']
    print(f'{args.src}: {RELEASE_NAMES[release]}')
    print(f'wrote {len(ckpt["state_dict"])} tensors to {args.dst}')
    if args.config is None:
        print(f'use it with {RELEASE_CONFIGS[release]}')


if __name__ == '__main__':
    main()
