"""Publish a DSFD training checkpoint for inference: drop the train-only first shot and the optimizer state.

    python tools/model_converters/dsfd_publish.py work_dirs/dsfd_r152/iter_60000.pth dsfd_r152.pth [--force]

The result loads strictly into the DSFD test configs (configs/dsfd/dsfd_r152_release_widerface.py, or any training
config with ``model.bbox_head.first_shot=None``), FaceDetector and the ONNX export. An existing DST is left alone
unless --force is given; the output is written under a temporary name and renamed into place.
"""
import argparse
import sys

import mmdet_face  # noqa: F401  (registers modules, checkpoint-loading shims)
from mmdet_face.deployment.dsfd_publish import publish_dsfd_checkpoint


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='DSFD training checkpoint (mmengine checkpoint or bare state dict)')
    parser.add_argument('dst', help='output inference checkpoint')
    parser.add_argument('--force', action='store_true', help='replace DST if it exists')
    args = parser.parse_args(argv)
    try:
        ckpt = publish_dsfd_checkpoint(args.src, args.dst, overwrite=args.force)
    except (OSError, ValueError) as err:  # the messages name the file and what was expected
        sys.exit(f'error: {err}')
    print(f'wrote {len(ckpt["state_dict"])} tensors to {args.dst} '
          f'({ckpt["meta"]["dsfd_publish"]["dropped_first_shot_tensors"]} first-shot tensors dropped)')


if __name__ == '__main__':
    main()
