"""What a training run finds in its work dir: which checkpoint ``--resume`` continues from, whether the folder
already holds another run (finished, or still running: :class:`WorkDirLock`), and whether the checkpoint it starts
from fits its model (:func:`check_start_weights`).

mmengine resumes from the path written in ``<work_dir>/last_checkpoint`` (absolute: a copied work dir resumes from
the original folder), starts from scratch without a word when there is nothing to resume, fails with
``KeyError: 'epoch'`` on a weights-only checkpoint, and lets a second run write its checkpoints next to the first
one's. These helpers make each of those cases explicit.
"""
import datetime
import glob
import json
import os
import os.path as osp
import re
import shlex
import socket
import sys
from typing import List, Optional, Tuple

CHECKPOINT_PATTERN = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


LOCK_NAME = 'run.lock'


class ResumeError(RuntimeError):
    """``--resume`` cannot continue the run the user asked for."""


class WorkDirError(ResumeError):
    """The work dir cannot be used: it cannot be created or written, or another run holds it."""


class WorkDirInUseError(WorkDirError):
    """Another live process holds the work dir (:class:`WorkDirLock`)."""


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
    from mmdet_face.apis.checkpoint import CheckpointMismatchError, read_checkpoint
    try:
        checkpoint = read_checkpoint(path)
    except CheckpointMismatchError as exc:  # truncated zip, wrong format, objects the safe loader refuses, ...
        why = str(exc)
        return False, why[len(path) + 2:] if why.startswith(f'{path}: ') else why
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
            hint = (f'. To start a new run from its weights use --cfg-options load_from={requested}'
                    if why.startswith('holds weights only') else '')
            raise ResumeError(f'--resume {requested}: {why}{hint}')
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



class WorkDirLock:
    """A run's hold on its work dir for its whole life: an advisory lock (``fcntl.flock``) on ``<work_dir>/run.lock``,
    which records the holder (pid, host, start time, command) for the refusal a second run gets.

    The operating system releases the lock when the holding process ends in any way (SIGKILL included), so a killed
    run never leaves it stuck; the file itself stays behind, and the next run rewrites it. Forked children (data
    loader workers) share the lock until they end. On a network file system the lock is as good as the server's
    ``flock`` support (NFSv4 maps it to a byte-range lock). Where ``fcntl`` is missing (Windows) nothing is locked.
    """

    def __init__(self, work_dir: str):
        self.work_dir = work_dir
        self.path = osp.join(work_dir, LOCK_NAME)
        self._fd: Optional[int] = None
        self._created: List[str] = []  # what acquire() created, removed by release(undo=True)
        self.unsupported: Optional[str] = None  # why the work dir could not be locked, when it could not

    def acquire(self) -> 'WorkDirLock':
        """Take the lock (creating the work dir and the lock file when missing). On a file system without
        ``flock`` support the run goes on unlocked and :attr:`unsupported` says why (the tool warns).

        Raises:
            WorkDirInUseError: another live process holds it; the message names that run and nothing is changed.
            WorkDirError: the work dir cannot be created or written (a file in the way, no permission).
        """
        try:
            import fcntl
        except ImportError:
            self.unsupported = 'no fcntl on this system'
            return self
        missing = []
        parent = osp.abspath(self.work_dir)
        while parent != osp.dirname(parent) and not osp.exists(parent):
            missing.append(parent)
            parent = osp.dirname(parent)
        try:
            os.makedirs(self.work_dir, exist_ok=True)
            existed = osp.exists(self.path)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise WorkDirError(f'--work-dir {self.work_dir}: cannot be used as a work dir ({exc.strerror}: '
                               f'{exc.filename})') from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # held by a live process
            os.close(fd)
            raise WorkDirInUseError(
                f'{self.work_dir} is in use by another run ({self.holder()}; lock file {self.path}). Wait for it to '
                'end or stop it, or give this run its own --work-dir (nothing was changed).') from None
        except OSError as exc:  # ENOLCK, EOPNOTSUPP: a file system that cannot lock
            self.unsupported = f'{self.path} cannot be locked on this file system ({exc.strerror})'
        self._fd = fd
        self._created = ([] if existed else [self.path]) + missing
        return self

    def holder(self) -> str:
        """Who the lock file says holds the work dir, in words."""
        try:
            with open(self.path, encoding='utf-8') as f:
                info = json.load(f)
            return (f"pid {info['pid']} on {info['host']}, started {info['started']}: {info['command']}")
        except (OSError, ValueError, KeyError, TypeError):
            return 'its details are not recorded yet'

    def record(self, command: Optional[str] = None) -> None:
        """Write this process (pid, host, start time, ``command``, by default its command line) into the lock
        file."""
        if self._fd is None:
            return
        info = dict(pid=os.getpid(), host=socket.gethostname(),
                    started=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
                    command=command or shlex.join([sys.executable] + sys.argv))
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, (json.dumps(info) + '\n').encode(), 0)
        self._created = []  # the run now owns the work dir: release() keeps it

    def release(self, undo: bool = False) -> None:
        """Give the lock up; with ``undo``, also remove the lock file and folders that :meth:`acquire` created (a
        run refused before it wrote anything leaves the file system as it found it)."""
        if self._fd is None:
            return
        for path in self._created if undo else []:
            try:
                os.rmdir(path) if osp.isdir(path) else os.remove(path)
            except OSError:  # not empty after all, or gone: leave it
                pass
        os.close(self._fd)
        self._fd, self._created = None, []


def check_start_weights(cfg, filename: str, resume: bool, partial: bool = False,
                        config_name: Optional[str] = None) -> List[str]:
    """Check, before the runner loads it, that ``filename`` fits the model ``cfg.model`` builds — the same strict
    check as testing (:func:`mmdet_face.apis.checkpoint.fitting_weights`); mmengine's runner itself loads
    ``load_from`` with ``strict=False``, which starts from random weights wherever the checkpoint does not fit.

    Args:
        resume: ``filename`` is resumed from (``--resume``): it must fit exactly, whatever ``partial`` says, and
            is checked before mmengine loads the optimizer state (whose error would name parameter groups, not
            weights).
        partial: ``load_from`` may fit in part (``--partial-load`` / ``partial_load = True``): the matching
            weights are loaded, the rest start from initialisation.
        config_name: the config file, for the message.

    Returns:
        the lines for the run's log (``partial load: loaded N of M weights from FILE ...``), empty when it fits.

    Raises:
        ResumeError: naming the option, the file and what does not fit, or why the file cannot be read.
    """
    import torch

    from mmdet_face.apis.checkpoint import STRICT_HINT, CheckpointMismatchError, fitting_weights, read_checkpoint
    from mmdet_face.apis.inference import init_face_detector

    option = '--resume' if resume else 'load_from'
    with torch.device('meta'):  # names and shapes only: nothing is allocated for the weights
        model_state = init_face_detector(cfg, device='meta').state_dict()
    notes: List[str] = []
    try:
        fitting_weights(model_state, read_checkpoint(filename), filename, strict=resume or not partial,
                        target=f'the model of {config_name}' if config_name else 'the model',
                        logger=notes.append)
    except (CheckpointMismatchError, FileNotFoundError) as exc:
        message = str(exc)
        if message.endswith(STRICT_HINT):
            message = message[:-len(STRICT_HINT)] + (
                'A checkpoint is resumed by the config it was trained with.' if resume else
                'Use the config the checkpoint was trained for, or start from the weights that fit on purpose '
                '(--partial-load, or partial_load = True in the config).')
        raise ResumeError(f'{option} {message}') from None
    return notes
