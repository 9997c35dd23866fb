"""Publish a DSFD training checkpoint for inference: drop the train-only first shot and the optimizer state.

    python tools/model_converters/dsfd_publish.py work_dirs/dsfd_r152/iter_60000.pth dsfd_r152.pth \
        [--config configs/dsfd/dsfd_r152_4xb4-60k_widerface.py] [--force]

The result loads strictly into the DSFD test configs (configs/dsfd/dsfd_r152_release_widerface.py, or any training
config with ``model.bbox_head.first_shot=None``), FaceDetector and the ONNX export. Only a checkpoint of the DSFD
model of ``--config`` (the config it was trained with; default: the release config, whose model the R152 training
config shares) is published: a checkpoint of another family or size is refused, naming what it is, and nothing is
written. An existing DST is left alone unless --force is given; the output is written under a temporary name and
renamed into place.
"""
import os.path as osp

import mmdet_face  # noqa: F401  (registers modules, checkpoint-loading shims)
from mmdet_face.deployment.dsfd_strip_first_shot import publish_dsfd_checkpoint
from mmdet_face.engine.cli import release_converter_parser, run_release_converter

RELEASE_CONFIG = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs', 'dsfd',
                          'dsfd_r152_release_widerface.py')


def main(argv=None):
    parser = release_converter_parser(
        __doc__.splitlines()[0], src_help='DSFD training checkpoint (mmengine checkpoint or bare state dict)',
        config_help='the DSFD config the checkpoint was trained with (its model without the first shot must fit; '
                    'default: configs/dsfd/dsfd_r152_release_widerface.py)')
    parser.set_defaults(config=RELEASE_CONFIG)
    args = parser.parse_args(argv)
    ckpt = run_release_converter(publish_dsfd_checkpoint, args)
    print(f'wrote {len(ckpt["state_dict"])} tensors to {args.dst} '
          f'({ckpt["meta"]["dsfd_publish"]["dropped_first_shot_tensors"]} first-shot tensors dropped)')


if __name__ == '__main__':
    main()
