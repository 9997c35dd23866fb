"""A trial's training run, as a worker drives it: its config on the study's proxy schedule (:func:`apply_proxy`),
the ``tools/train.py`` subprocess (:func:`train_command`, started with :func:`die_with_parent`) and what it leaves
(the last validation in mmengine's scalar log, the tail of its output, the epoch of a checkpoint). The training
code knows nothing of Optuna: the metrics are read from mmengine's scalar log.
"""
import ctypes
import glob
import json
import os.path as osp
import signal
import sys
from typing import Any, Dict, List, Optional

from search_tools.study import REPO_ROOT, val_interval

__all__ = ['apply_proxy', 'train_command', 'die_with_parent', 'read_metrics', 'read_validations', 'tail_lines',
           'checkpoint_epoch', 'TRAIN_SCRIPT', 'ERROR_TAIL_LINES']

TRAIN_SCRIPT = osp.join(REPO_ROOT, 'tools', 'train.py')
ERROR_TAIL_LINES = 40


# --------------------------------------------------------------------------------------------------------------
# config on the proxy schedule
# --------------------------------------------------------------------------------------------------------------
def apply_proxy(cfg, proxy: Dict[str, Any], seed: int):
    """Put ``cfg`` (an mmengine Config, changed in place and returned) on the proxy schedule: ``proxy['epochs']``
    epochs validated every ``val_interval`` epochs and at the end (without ``val_interval``: at the end only; each
    validation costs one pass over the validation set), ``batch_size`` images per GPU, base ``lr``, a checkpoint every
    ``checkpoint_interval`` epochs (what a resumed trial continues from) and the study's seed.

    Epoch-based schedulers are rescaled: one that ended at the template's last epoch ends at the proxy's, and
    multi-step milestones keep their fraction of the schedule (SCRFD's 440/544 of 640 become 55/68 of 80)."""
    old_epochs = int(cfg.train_cfg.max_epochs)
    epochs = int(proxy['epochs'])
    schedulers = cfg.get('param_scheduler') or []
    for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
        if not scheduler.get('by_epoch', True):
            continue
        if scheduler.get('end') == old_epochs:
            scheduler['end'] = epochs
        if 'milestones' in scheduler:
            scheduler['milestones'] = sorted({max(1, round(m * epochs / old_epochs)) for m in scheduler['milestones']})
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = val_interval(proxy)
    cfg.train_dataloader.batch_size = int(proxy['batch_size'])
    cfg.optim_wrapper.optimizer.lr = float(proxy['lr'])
    checkpoint = cfg.default_hooks.get('checkpoint', {})
    checkpoint.update(interval=int(proxy['checkpoint_interval']), max_keep_ckpts=2, save_best=None)
    cfg.default_hooks.checkpoint = checkpoint
    if 'visualization' in cfg.default_hooks:
        cfg.default_hooks.visualization.draw = False
    cfg.randomness = dict(seed=seed)
    return cfg


def train_command(config: str, work_dir: str, gpus: int = 1, python: str = sys.executable,
                  train_script: str = TRAIN_SCRIPT) -> List[str]:
    """The training subprocess: one process, or ``torchrun --standalone`` (a free rendezvous port per trial) with
    ``gpus`` processes. ``--resume-if-possible`` continues from the work dir's last checkpoint when there is one."""
    tail = [config, '--work-dir', work_dir, '--resume-if-possible']
    if gpus > 1:
        return [python, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={gpus}', train_script,
                *tail, '--launcher', 'pytorch']
    return [python, train_script, *tail]


def die_with_parent():
    """preexec_fn: the training gets SIGTERM when its worker dies (Linux), so a killed worker leaves no orphan
    writing checkpoints into a folder another worker is about to resume."""
    try:
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# --------------------------------------------------------------------------------------------------------------
# reading mmengine's logs
# --------------------------------------------------------------------------------------------------------------
def read_validations(work_dir: str) -> Dict[int, Dict[str, float]]:
    """Every validation of a training run, by epoch: ``{epoch: {'widerface/hard': ..., ..., 'step': epoch}}`` from
    all of ``work_dir``'s runs (``<work_dir>/<timestamp>/vis_data/scalars.json``, one per attempt: a resumed run
    logs its epochs in a new folder); an epoch logged by two attempts keeps the later one's (the folders' names
    are their start times)."""
    found = {}
    for path in sorted(glob.glob(osp.join(glob.escape(work_dir), '*', 'vis_data', 'scalars.json'))):
        with open(path, encoding='utf-8', errors='replace') as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a kill, or being written
                if isinstance(record, dict) and 'widerface/hard' in record:
                    epoch = int(record.get('step', 0))
                    found[epoch] = {k: float(v) for k, v in record.items()
                                    if k.startswith('widerface/') or k == 'step'}
    return found


def read_metrics(work_dir: str) -> Optional[Dict[str, float]]:
    """The last validation of a training run: the ``widerface/*`` scalars of the highest epoch logged in any of
    ``work_dir``'s runs (:func:`read_validations`), with ``step`` (the epoch); None when no validation was
    logged."""
    found = read_validations(work_dir)
    return found[max(found)] if found else None


def tail_lines(path: str, start: int = 0, lines: int = ERROR_TAIL_LINES) -> str:
    """The last ``lines`` lines of ``path`` after byte offset ``start``."""
    if not osp.isfile(path):
        return ''
    with open(path, 'rb') as f:
        f.seek(start)
        text = f.read().decode('utf-8', errors='replace')
    return '\n'.join(text.rstrip().splitlines()[-lines:])


def checkpoint_epoch(path: Optional[str]) -> Optional[int]:
    """N of an ``epoch_N.pth`` checkpoint path (the names :mod:`mmdet_face.engine.run_dir` resumes from), else
    None."""
    from mmdet_face.engine.run_dir import CHECKPOINT_PATTERN
    match = CHECKPOINT_PATTERN.match(osp.basename(path or ''))
    return int(match.group(2)) if match and match.group(1) == 'epoch' else None
