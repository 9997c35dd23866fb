"""Convert the released DSFD-ResNet-152 weights (Tencent/FaceDetection-DSFD layout) to an mmdet-face checkpoint.

    python tools/model_converters/dsfd_pth2mmdet.py WIDERFace_DSFD_RES152.pth OUT.pth [--config CONFIG] [--force]

The converted weights must fit the model of ``--config`` exactly (every key, every shape), by default the release's
own model, ``configs/dsfd/dsfd_r152_release_widerface.py``; a truncated or foreign file is refused, naming what
differs, and nothing is written.

The release's PyramidBox head/body outputs are dropped (a log line says how many channels); everything else is
copied. An existing OUT.pth is left alone unless ``--force`` is given; the output is written to a temporary file
and renamed into place, so an interrupted run never leaves a half-written checkpoint.
"""
import logging
import os.path as osp

import mmdet_face  # noqa: F401  (registers modules, checkpoint-loading shims)
from mmdet_face.deployment.dsfd_pth_import import convert_dsfd_checkpoint
from mmdet_face.engine.cli import release_converter_parser, run_release_converter


RELEASE_CONFIG = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs', 'dsfd',
                          'dsfd_r152_release_widerface.py')


def main(argv=None):
    parser = release_converter_parser(__doc__.splitlines()[0])
    parser.set_defaults(config=RELEASE_CONFIG)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    ckpt = run_release_converter(convert_dsfd_checkpoint, args)
    print(f'wrote {len(ckpt["state_dict"])} tensors to {args.dst}')


if __name__ == '__main__':
    main()
