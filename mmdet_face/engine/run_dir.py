"""What a training run finds in its work dir: which checkpoint ``--resume`` continues from, and whether the folder
already holds another run.

mmengine resumes from the path written in ``<work_dir>/last_checkpoint`` (absolute: a copied work dir resumes from
the original folder), starts from scratch without a word when there is nothing to resume, fails with
``KeyError: 'epoch'`` on a weights-only checkpoint, and lets a second run write its checkpoints next to the first
one's. These helpers make each of those cases explicit.
"""
import glob
import os.path as osp
import re
from typing import List, Optional, Tuple

CHECKPOINT_PATTERN = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


class ResumeError(RuntimeError):
    """``--resume`` cannot continue the run the user asked for."""


def run_checkpoints(work_dir: str) -> List[str]:
    """The ``epoch_N.pth`` / ``iter_N.pth`` files of ``work_dir``, newest (highest N) first."""
    found = []
    for path in glob.glob(osp.join(glob.escape(work_dir), '*.pth')):
        match = CHECKPOINT_PATTERN.match(osp.basename(path))
        if match:
            found.append((int(match.group(2)), osp.getmtime(path), path))
    return [path for _, _, path in sorted(found, reverse=True)]


def recorded_last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint named in ``<work_dir>/last_checkpoint``, resolved against ``work_dir``: a relative path is
    relative to the work dir, and an absolute one that is not there (the work dir was copied or moved) is looked
    up by its file name in ``work_dir``. None when the file is absent or empty."""
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record, encoding='utf-8', errors='replace') as f:
        saved = f.read().strip()
    if not saved:
        return None
    if not osp.isabs(saved):
        return osp.join(work_dir, saved)
    local = osp.join(work_dir, osp.basename(saved))
    if osp.isfile(local) and (not osp.isfile(saved) or osp.realpath(osp.dirname(saved)) != osp.realpath(work_dir)):
        return local
    return saved


def inspect_checkpoint(path: str) -> Tuple[bool, str]:
    """``(True, '')`` when ``path`` loads (safely) as a full training checkpoint — weights, optimizer state and the
    epoch / iteration in ``meta`` — else ``(False, why)``."""
    import torch

    from mmdet_face import compat  # noqa: F401  (mmengine checkpoints load with weights_only=True)
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # truncated zip, wrong format, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ''
        return False, f'unreadable ({type(exc).__name__}: {first[:200]})'
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        return False, 'not an mmengine checkpoint (no state_dict)'
    meta = checkpoint.get('meta') or {}
    if 'optimizer' not in checkpoint or 'epoch' not in meta or 'iter' not in meta:
        return False, ('holds weights only (no optimizer state or epoch/iteration): it can start a new run '
                       '(load_from) but cannot be resumed')
    return True, ''


def resolve_resume(work_dir: str, requested: Optional[str] = None, if_possible: bool = False,
                   log=print) -> Optional[str]:
    """The checkpoint a ``--resume`` run continues from.

    Args:
        work_dir: the run's work dir.
        requested: an explicit checkpoint (``--resume CKPT``); None or ``'auto'`` takes the latest one of the
            work dir: the one ``last_checkpoint`` records, or, when that one is corrupt or missing, the newest
            intact ``epoch_N`` / ``iter_N`` checkpoint (said through ``log``).
        if_possible: with nothing to resume, return None (a new run, said through ``log``) instead of raising.

    Raises:
        ResumeError: an explicit checkpoint that is missing or not resumable (e.g. a converted, weights-only file);
            or nothing resumable in ``work_dir`` and not ``if_possible``.
    """
    if requested not in (None, 'auto'):
        if not osp.isfile(requested):
            raise ResumeError(f'--resume {requested}: no such checkpoint file')
        ok, why = inspect_checkpoint(requested)
        if not ok:
            raise ResumeError(f'--resume {requested}: {why}. To start a new run from its weights use '
                              f'--cfg-options load_from={requested}')
        return requested

    candidates, skipped = [], []
    recorded = recorded_last_checkpoint(work_dir)
    if recorded is not None:
        candidates.append(recorded)
    candidates += [p for p in run_checkpoints(work_dir) if p not in candidates]
    for path in candidates:
        if not osp.isfile(path):
            skipped.append(f'{path} (recorded in last_checkpoint, missing)')
            continue
        ok, why = inspect_checkpoint(path)
        if ok:
            if skipped:
                log('--resume: skipped ' + '; '.join(skipped) + f'; resuming from {path}, the newest intact '
                    'checkpoint')
            return path
        skipped.append(f'{path} ({why})')
    what = ('no checkpoint' if not osp.isdir(work_dir) or not candidates
            else 'no intact checkpoint (' + '; '.join(skipped) + ')')
    if if_possible:
        log(f'--resume: {what} in {work_dir}: starting a NEW run from scratch')
        return None
    raise ResumeError(f'--resume: {what} in {work_dir} (is the work dir mistyped?). Give the work dir of the run to '
                      'continue, drop --resume to start a new run, or use --resume-if-possible to start one when '
                      'there is nothing to resume.')


def check_new_run(work_dir: str) -> None:
    """Refuse to start a new run (no ``--resume``) in a work dir that already holds another run's checkpoints:
    its ``epoch_N.pth`` would be overwritten one by one and ``last_checkpoint`` / ``best_*.pth`` would mix the runs."""
    if not osp.isdir(work_dir):
        return
    existing = run_checkpoints(work_dir)
    existing += sorted(glob.glob(osp.join(glob.escape(work_dir), 'best_*.pth')))
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        existing.append(osp.join(work_dir, 'last_checkpoint'))
    if existing:
        names = ', '.join(osp.basename(p) for p in existing[:4]) + (' ...' if len(existing) > 4 else '')
        raise ResumeError(f'{work_dir} already holds the checkpoints of another run ({names}). Continue it with '
                          '--resume, or give this run its own --work-dir (nothing was changed).')

