"""Evaluate a checkpoint with the config's test_evaluator (WIDER FACE Easy/Medium/Hard for face configs).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options ...]
    bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [same options]

For the published WIDER FACE test protocols (VGA, original size, multi-scale + flip) and for scoring an existing
submission folder, use tools/test_widerface.py.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmdet_face  # noqa: E402,F401


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a face detector')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--work-dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
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
    cfg.load_from = args.checkpoint
    runner = Runner.from_cfg(cfg)
    return runner.test()


if __name__ == '__main__':
    main()
