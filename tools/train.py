"""Train a face detector from a config: one process, or one process per GPU (NCCL) / per CPU worker (gloo) under
torchrun, Slurm or MPI.

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--resume [CKPT] | --resume-if-possible]
        [--partial-load] [--auto-scale-lr] [--sync-bn] [--cfg-options key=value ...]
    bash tools/dist_train.sh CONFIG NPROC [same options]          # torchrun; GPUs, or CPU processes without GPUs
    GPUS=16 bash tools/slurm_train.sh PARTITION JOB CONFIG WORK_DIR [same options]

Distributed runs start their process group before the runner (:mod:`mmdet_face.engine.dist`: NCCL on GPUs, gloo on
CPU-only machines); every rank takes rank 0's decision about the work dir, and rank 0 alone writes checkpoints and
logs. ``--amp`` and (distributed) ``--sync-bn`` need GPUs and are refused on a CPU-only machine. A rank ends when its
launcher (torchrun, srun, mpirun) dies.

A new run refuses a work dir that already holds another run's checkpoints; ``--resume`` refuses a work dir with
nothing to resume (``--resume-if-possible`` then starts a new run, saying so) and falls back to the newest intact
checkpoint when the latest one is corrupt. A run holds its work dir for its whole life (``run.lock``): a second run
into it is refused with a message naming the first. The checkpoint a run starts from (``load_from``) or resumes from
must fit the model, as in testing; ``--partial-load`` (``partial_load = True`` in the config) loads the weights that
fit on purpose and logs how many. Training stops at the first non-finite loss (``FiniteCheckHook``).
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.runner import Runner  # noqa: E402

import mmdet_face  # noqa: E402
from mmdet_face.engine.cli import ConfigOptionsAction, non_negative_int, tool_config  # noqa: E402
from mmdet_face.engine.train_config import fit_save_best  # noqa: E402
from mmdet_face.engine.dist import (LaunchError, check_device_options, end_distributed_process,  # noqa: E402
                                    exit_with, exit_with_launcher, finish_distributed, init_distributed,
                                    launch_rank, rank0_decides, record_errors)
from mmdet_face.engine.run_dir import (ResumeError, WorkDirLock, check_new_run, check_start_weights,  # noqa: E402
                                       resolve_resume)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a face detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default: work_dirs/<config name>)')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (CUDA)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest intact checkpoint in the work dir when no CKPT '
                        '(an error when there is none)')
    parser.add_argument('--resume-if-possible', action='store_true',
                        help='resume from the latest intact checkpoint in the work dir, or start a new run when there '
                        'is none (said in the log); for jobs that are re-queued')
    parser.add_argument('--partial-load', action='store_true',
                        help='start from a load_from checkpoint that fits the model only in part (fine-tuning from '
                        'another model, on purpose): load the weights whose name and shape match and log how many '
                        '(also: partial_load = True in the config). Without it such a checkpoint is refused')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by total batch / auto_scale_lr.base_batch_size')
    parser.add_argument('--sync-bn', action='store_true', help='convert BatchNorm to SyncBatchNorm (multi-GPU)')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction,
                        help='override config entries, e.g. train_cfg.max_epochs=12')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=non_negative_int, default=0)
    args = parser.parse_args(argv)
    if args.resume is not None and args.resume_if_possible:
        parser.error('give --resume [CKPT] or --resume-if-possible, not both')
    if args.partial_load and (args.resume is not None or args.resume_if_possible):
        parser.error('--partial-load applies to load_from (a new run); a resumed run loads its checkpoint whole')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args):
    cfg = tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    if args.amp:
        if cfg.optim_wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            if launch_rank(args.launcher) == 0:
                print('AMP is already enabled in the config')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError(f'{args.config}: --auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if args.sync_bn:
        cfg.sync_bn = 'torch'
    if args.partial_load:
        cfg.partial_load = True
    if args.resume == 'auto' or args.resume_if_possible:
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    ensure_hook(cfg, 'FiniteCheckHook')
    note = fit_save_best(cfg)
    if note and launch_rank(args.launcher) == 0:
        print(f'tools/train.py: {note}')
    return cfg


def ensure_hook(cfg, hook_type):
    """Add ``dict(type=hook_type)`` (an mmdet-face hook) to ``cfg.custom_hooks`` unless the config has it, and make
    the config import ``mmdet_face.all_modules`` (or its deprecated name ``mmdet_face.register``) so that its dumped
    copy builds the hook anywhere."""
    hooks = list(cfg.get('custom_hooks') or [])
    if any(str(h.get('type', '')).split('.')[-1] == hook_type for h in hooks):
        return
    cfg.custom_hooks = hooks + [dict(type=hook_type)]
    imports = dict(cfg.get('custom_imports') or dict(imports=[], allow_failed_imports=False))
    if not {'mmdet_face.all_modules', 'mmdet_face.register'} & set(imports['imports']):
        imports['imports'] = list(imports['imports']) + ['mmdet_face.all_modules']
    cfg.custom_imports = imports


def decide_start(cfg, args):
    """``(resume, load_from)``: which checkpoint a resumed run continues from; a new run in a work dir that holds
    another run's checkpoints is refused (:class:`ResumeError`), and so is ``--partial-load`` with nothing to load."""
    if args.partial_load and not cfg.load_from:
        raise ResumeError('--partial-load: there is no load_from to load (set load_from in the config or give '
                          '--cfg-options load_from=CKPT)')
    if cfg.resume:
        resume_from = resolve_resume(cfg.work_dir, None if args.resume in (None, 'auto') else args.resume,
                                     if_possible=args.resume_if_possible)
        if resume_from is None:  # --resume-if-possible with nothing to resume
            check_new_run(cfg.work_dir)
            return False, cfg.load_from
        return True, resume_from
    check_new_run(cfg.work_dir)
    return False, cfg.load_from


def decide_work_dir(cfg, args, held):
    """``(resume, load_from, notes)``, decided before anything is written: the work dir is locked for this run
    (:class:`WorkDirLock`, appended to ``held``: it lasts as long as the process), :func:`decide_start` picks the
    checkpoint, and that checkpoint must fit the model (``notes``: the partial-load lines for the log). Any refusal
    (:class:`ResumeError`) leaves the file system as it was."""
    lock = WorkDirLock(cfg.work_dir).acquire()
    try:
        resume, load_from = decide_start(cfg, args)
        notes = check_start_weights(cfg, load_from, resume, partial=bool(cfg.get('partial_load')),
                                    config_name=args.config) if load_from else []
    except BaseException:
        lock.release(undo=True)
        raise
    lock.record()
    held.append(lock)
    if lock.unsupported:
        print(f'tools/train.py: warning: {lock.unsupported}; a second run into this work dir would not be refused',
              file=sys.stderr)
    return resume, load_from, notes


def check_work_dir(cfg, args, held):
    """:func:`decide_work_dir` taken by rank 0 (which holds the lock) and applied on every rank (one look at the file
    system, one decision, one message). Returns the notes for the run's log."""
    cfg.resume, cfg.load_from, notes = rank0_decides(decide_work_dir, cfg, args, held)
    return notes


def main(argv=None):
    args = parse_args(argv)
    mmdet_face.register_all_modules(init_default_scope=False)
    cfg = build_config(args)
    try:
        check_device_options(cfg, args.launcher, sync_bn=args.sync_bn)
        exit_with_launcher(args.launcher)  # a rank ends when its launcher dies, even while it waits for its peers
        init_distributed(cfg, args.launcher)
    except LaunchError as exc:
        exit_with(f'tools/train.py: {exc}', rank=launch_rank(args.launcher))
    if args.launcher != 'none':
        ensure_hook(cfg, 'AverageBuffersHook')
    held = []  # the work-dir lock, held until the process ends
    try:
        notes = check_work_dir(cfg, args, held)
    except ResumeError as exc:
        exit_with(f'tools/train.py: {exc}')
    runner = Runner.from_cfg(cfg)
    for note in notes:
        runner.logger.warning(note)
    runner.train()
    finish_distributed()


if __name__ == '__main__':
    record_errors(main)()  # under torchrun: a failing rank's error is reported as the job's root cause
    end_distributed_process()  # a distributed run ends without the interpreter's teardown (see its docstring)
