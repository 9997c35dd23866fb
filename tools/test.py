"""Evaluate a checkpoint with the config's test_evaluator (WIDER FACE Easy/Medium/Hard for face configs).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options ...]
    bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [same options]

The checkpoint must fit the config exactly (``--partial-load`` loads only the matching weights, on purpose).
For the published WIDER FACE test protocols (VGA, original size, multi-scale + flip) and for scoring an existing
submission folder, use tools/test_widerface.py.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmdet_face  # noqa: E402,F401
from mmdet_face.apis.checkpoint import CheckpointMismatchError, load_runner_checkpoint  # noqa: E402
from mmdet_face.engine.cli import ConfigOptionsAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a face detector')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--work-dir')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction, metavar='KEY=VALUE')
    parser.add_argument('--partial-load', action='store_true',
                        help='load only the checkpoint weights that fit the model (default: refuse a mismatch)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = None  # loaded strictly below, not by the runner (which loads whatever keys match)
    runner = Runner.from_cfg(cfg)
    try:
        load_runner_checkpoint(runner, args.checkpoint, strict=not args.partial_load, config_name=args.config)
    except (CheckpointMismatchError, FileNotFoundError) as exc:
        sys.exit(f'tools/test.py: {exc}')
    return runner.test()


if __name__ == '__main__':
    main()
