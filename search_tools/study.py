"""The search study on disk and in Optuna: the study folder's ``study.json`` (the search definition), the Optuna
study behind it (a journal file in the folder by default, any database URL for many machines), the samplers, and
the lease / reaper that keeps a killed worker's trial from being lost.

SCRFD's search (Guo et al., "Sample and Computation Redistribution for Efficient Face Detection", ICLR 2022) is a
random search ranked by WIDER FACE Hard AP; here every trial of it is an Optuna trial.

A study folder::

    DIR/study.json          the search definition (space, step, budget, input, proxy schedule, sampler, seed, ...)
    DIR/template.py         the config every candidate is written from (dumped at ``sample`` time)
    DIR/candidates/         the sampled configs and their FLOPs table (``search_tools.candidates.write_candidates``)
    DIR/optuna.journal      the Optuna study (JournalStorage + JournalFileBackend), unless ``--storage URL``
    DIR/trials/<number>_<key>/   one trained trial: config.py, work/ (mmengine), train.log, result.json

Leases. Journal storage has no heartbeat, so a RUNNING trial whose worker was killed would stay RUNNING forever.
Every worker refreshes a ``lease`` user attribute (host, pid, Slurm job id, time of the last heartbeat) while it
trains; :func:`reap_stale_trials` marks a RUNNING trial FAIL when its lease is older than ``stale_after`` seconds,
when its worker's pid is gone on this host, or when its worker released it (pre-emption), and re-enqueues the
same parameters with the trial's folder, so that the next worker resumes the training from its last checkpoint.
The same lease is used with a database URL: Optuna's own heartbeat (``RDBStorage(heartbeat_interval=...)`` and
``RetryHeartbeatStaleTrialCallback``) only works inside ``Study.optimize`` and re-queues a trial without its folder.
"""
import json
import math
import os
import os.path as osp
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional

from search_tools.optuna_private import set_user_attr_of

STUDY_FILE = 'study.json'
JOURNAL_FILE = 'optuna.journal'
TEMPLATE_FILE = 'template.py'
TRIALS_DIR = 'trials'
RESULT_FILE = 'result.json'
SAMPLERS = ('random', 'qmc', 'tpe')
PRUNERS = ('none', 'median', 'hyperband')
STEPS = ('backbone', 'full')
SPEC_VERSION = 1
# spaces whose studies hold only queued candidates (search.py evolve --space damofd-<model>): their workers
# train the queue and draw nothing beyond it
DAMOFD_PREFIX = 'damofd-'
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# keys study.json must hold, and their types (checked when a study is opened: a hand-edited file fails here with
# the field named, not later inside a worker)
SPEC_FIELDS = {
    'name': str, 'space': str, 'step': str, 'gflops': (int, float), 'tolerance': (int, float),
    'input_shape': list, 'seed': int, 'sampler': str, 'num': int, 'proxy': dict, 'template_config': str,
}
PROXY_FIELDS = {'epochs': int, 'batch_size': int, 'lr': (int, float), 'checkpoint_interval': int}
# what a re-queued trial carries over from the failed one: its candidate and its folder
REQUEUED_ATTRS = ('key', 'arch', 'config', 'trial_dir', 'breakdown', 'source', 'has_params')
QUEUED_PARAMS = 'queued_params'  # user attribute of a queued trial: its parameters (see enqueue)


class StudyError(RuntimeError):
    """A study folder or its definition is missing or wrong (the message names the file and the field)."""


def is_damofd_space(space) -> bool:
    """Whether ``space`` names a DamoFD block space (``damofd-<model>``): its studies hold only queued candidates."""
    return str(space).startswith(DAMOFD_PREFIX)


# --------------------------------------------------------------------------------------------------------------
# study.json
# --------------------------------------------------------------------------------------------------------------

def spec_path(study_dir: str) -> str:
    return osp.join(study_dir, STUDY_FILE)


def write_json_atomic(path: str, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename
    (:func:`mmdet_face.utils.output_file.atomic_output`): a reader (another worker) never sees half a file, and
    a crash or an error leaves neither half a file nor a temporary one."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + '\n')


def write_text_atomic(path: str, text: str) -> None:
    """``text`` to ``path`` (replaced if it exists), atomically: see :func:`write_json_atomic`."""
    from mmdet_face.utils.output_file import atomic_output
    with atomic_output(path, overwrite=True) as tmp:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)


def validate_spec(spec: Dict[str, Any], source: str = STUDY_FILE) -> Dict[str, Any]:
    """Check the fields and values of a study definition; raise :class:`StudyError` naming ``source`` and the
    field. Returns ``spec``."""
    for key, kind in SPEC_FIELDS.items():
        if key not in spec:
            raise StudyError(f'{source}: missing field {key!r}')
        if not isinstance(spec[key], kind) or isinstance(spec[key], bool):
            raise StudyError(f'{source}: field {key!r} = {spec[key]!r} has the wrong type')
    if spec['step'] not in STEPS:
        raise StudyError(f'{source}: step {spec["step"]!r} is not one of {STEPS}')
    if spec['sampler'] not in SAMPLERS:
        raise StudyError(f'{source}: sampler {spec["sampler"]!r} is not one of {SAMPLERS}')
    if not 0 < spec['gflops'] < math.inf:  # json reads Infinity / NaN too
        raise StudyError(f'{source}: gflops must be > 0 and finite, got {spec["gflops"]}')
    if not 0 < spec['tolerance'] < 1:
        raise StudyError(f'{source}: tolerance must be in (0, 1), got {spec["tolerance"]}')
    if len(spec['input_shape']) != 2 or not all(isinstance(v, int) and v > 0 for v in spec['input_shape']):
        raise StudyError(f'{source}: input_shape must be [height, width] in pixels, got {spec["input_shape"]}')
    for key, kind in PROXY_FIELDS.items():
        value = spec['proxy'].get(key)
        if not isinstance(value, kind) or isinstance(value, bool) or not 0 < value < math.inf:
            raise StudyError(f'{source}: proxy.{key} must be a positive number, got {value!r}')
    interval = spec['proxy'].get('val_interval')  # absent: one validation, at the end (studies before pruning)
    if interval is not None and (not isinstance(interval, int) or isinstance(interval, bool) or interval < 1):
        raise StudyError(f'{source}: proxy.val_interval must be a positive integer (epochs between validations), '
                         f'got {interval!r}')
    return spec


def val_interval(proxy: Dict[str, Any]) -> int:
    """Epochs between the validations of a trial's training (the last epoch is always validated): the proxy's
    ``val_interval``, or its whole length for a study that records none."""
    return int(proxy.get('val_interval') or proxy['epochs'])


def intermediate_epochs(proxy: Dict[str, Any]) -> List[int]:
    """The epochs before the last at which a trial validates and reports its Hard AP to the study."""
    step = val_interval(proxy)
    return list(range(step, int(proxy['epochs']), step))


def load_spec(study_dir: str) -> Dict[str, Any]:
    """``DIR/study.json`` read and checked."""
    path = spec_path(study_dir)
    if not osp.isdir(study_dir):
        raise StudyError(f'{study_dir}: no such study folder (create one with: search.py sample ... --out DIR)')
    if not osp.isfile(path):
        raise StudyError(f'{path}: missing; {study_dir} is not a study folder made by search.py sample')
    try:
        with open(path, encoding='utf-8') as f:
            spec = json.load(f)
    except json.JSONDecodeError as exc:
        raise StudyError(f'{path}: not valid JSON ({exc})') from None
    if not isinstance(spec, dict):
        raise StudyError(f'{path}: expected a JSON object')
    return validate_spec(spec, path)


def read_result(path: str, log=print) -> Optional[Dict[str, Any]]:
    """A trial's ``result.json`` as a dict, or None when it is absent or unusable: not a JSON object, or marked
    COMPLETE without a Hard AP in [0, 1]. An unusable file is left in place and said through ``log`` (the trial is
    then trained again, and its new result replaces the file)."""
    if not osp.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            result = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log(f'[search] {path}: unreadable ({type(exc).__name__}: {exc}); ignored')
        return None
    if not isinstance(result, dict):
        log(f'[search] {path}: not a JSON object; ignored')
        return None
    hard = result.get('hard')
    if result.get('state') == 'COMPLETE' and not (isinstance(hard, (int, float)) and 0 <= hard <= 1):
        log(f'[search] {path}: COMPLETE without a Hard AP in [0, 1] (hard = {hard!r}); ignored')
        return None
    return result


def template_path(study_dir: str) -> str:
    return osp.join(study_dir, TEMPLATE_FILE)


# --------------------------------------------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------------------------------------------
def git_sha(repo: str = REPO_ROOT) -> str:
    """The repository's HEAD commit (``+dirty`` when tracked files differ), or ``'unknown'`` outside git."""
    try:
        sha = subprocess.run(['git', '-C', repo, 'rev-parse', 'HEAD'], capture_output=True, text=True,
                             timeout=20).stdout.strip()
        dirty = subprocess.run(['git', '-C', repo, 'status', '--porcelain', '--untracked-files=no'],
                               capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return (sha + ('+dirty' if dirty else '')) if sha else 'unknown'


def versions() -> Dict[str, str]:
    """Versions of the packages a trial's result depends on (those that import; absent ones are left out)."""
    found = {'python': sys.version.split()[0]}
    for name in ('torch', 'mmcv', 'mmengine', 'mmdet', 'mmdet_face', 'optuna', 'numpy'):
        try:
            module = __import__(name)
        except Exception:  # noqa: BLE001  (a broken optional package must not stop the record)
            continue
        found[name] = str(getattr(module, '__version__', 'unknown'))
    return found


# --------------------------------------------------------------------------------------------------------------
# Optuna storage, samplers, study
# --------------------------------------------------------------------------------------------------------------
def open_storage(study_dir: str, url: Optional[str] = None):
    """The Optuna storage of a study: ``url`` (any database URL Optuna takes, e.g. ``postgresql://...``;
    ``journal:PATH`` for another journal file) or, by default, the journal file inside the study folder.

    Raises:
        StudyError: ``url`` cannot be opened (unknown scheme, missing driver, unreachable server, a journal path
            in a folder that does not exist); the message names ``--storage`` and says why.
    """
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    if url is None:
        return JournalStorage(JournalFileBackend(osp.join(study_dir, JOURNAL_FILE)))
    try:
        if url.startswith('journal:'):
            return JournalStorage(JournalFileBackend(url[len('journal:'):]))
        return optuna.storages.get_storage(url)
    except Exception as exc:  # noqa: BLE001  (sqlalchemy / driver / OS errors: a user's URL, said as such)
        raise StudyError(f'--storage {storage_label(study_dir, url)}: cannot be opened ({type(exc).__name__}: '
                         f'{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r})') from None


def storage_label(study_dir: str, url: Optional[str] = None) -> str:
    """What :func:`open_storage` opens, for messages and records (a database URL without its password)."""
    if url is None:
        return osp.join(study_dir, JOURNAL_FILE)
    if '@' in url and '://' in url:
        scheme, rest = url.split('://', 1)
        return f'{scheme}://***@{rest.split("@", 1)[1]}'
    return url


def make_sampler(name: str, seed: int, trial_number: int = 0):
    """The Optuna sampler ``name`` (``random | qmc | tpe``).

    ``random`` and ``tpe`` are seeded per trial (``seed`` and the trial number), so that parallel workers do not
    draw the same candidate and a trial's draw does not depend on which worker took it; ``qmc`` (scrambled Sobol)
    is seeded once: its points are indexed by the study itself, which is what keeps it space-filling across
    workers."""
    import optuna
    if name not in SAMPLERS:
        raise StudyError(f'unknown sampler {name!r}: expected one of {SAMPLERS}')
    per_trial = (seed * 1_000_003 + trial_number) % (2 ** 32)
    if name == 'random':
        return optuna.samplers.RandomSampler(seed=per_trial)
    if name == 'qmc':
        return optuna.samplers.QMCSampler(qmc_type='sobol', scramble=True, seed=seed,
                                          warn_independent_sampling=False)
    # constant liar: running trials count as bad ones, so that parallel workers spread out
    return optuna.samplers.TPESampler(seed=per_trial, constant_liar=True)


def make_pruner(name: str, proxy: Dict[str, Any], warmup: int = 0, startup: int = 5):
    """The Optuna pruner ``name`` (``none | median | hyperband``) for trials on the ``proxy`` schedule, whose
    steps are epochs (a trial reports its Hard AP at every validation, :func:`intermediate_epochs`).

    ``median``: ``MedianPruner(n_startup_trials=startup, n_warmup_steps=warmup)``: a trial whose Hard AP at an
    epoch is below the median of the completed trials' at that epoch stops, once ``startup`` trials completed and
    after epoch ``warmup``. ``hyperband``: ``HyperbandPruner(min_resource=max(warmup, val_interval),
    max_resource=epochs, reduction_factor=3)``: successive halving brackets, a trial continues past a rung when its
    Hard AP is in the best third there.

    Raises:
        StudyError: an unknown name, or a pruner on a proxy that validates only at its end (nothing to compare
            before the training is over).
    """
    import optuna
    if name not in PRUNERS:
        raise StudyError(f'unknown pruner {name!r}: expected one of {PRUNERS}')
    if name == 'none':
        return optuna.pruners.NopPruner()
    if not intermediate_epochs(proxy):
        raise StudyError(f'--pruner {name}: the trials of this study validate only at the end of their '
                         f'{proxy["epochs"]}-epoch proxy (proxy.val_interval {val_interval(proxy)}), so they report '
                         'no intermediate Hard AP to prune on; create the study with search.py sample '
                         '--prune-every K (validate every K epochs) or run without --pruner. Nothing was written')
    if warmup >= int(proxy['epochs']):
        raise StudyError(f'--pruner-warmup {warmup}: the proxy has {proxy["epochs"]} epochs, so no trial could '
                         'ever be pruned; give fewer epochs')
    if name == 'median':
        return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=warmup, interval_steps=1)
    return optuna.pruners.HyperbandPruner(min_resource=max(warmup, val_interval(proxy)),
                                          max_resource=int(proxy['epochs']), reduction_factor=3)


def open_study(study_dir: str, storage_url: Optional[str] = None, sampler: Optional[str] = None,
               spec: Optional[Dict[str, Any]] = None, create: bool = False):
    """The Optuna study of ``study_dir`` (created when ``create``; otherwise it must exist in the storage)."""
    import optuna
    spec = spec or load_spec(study_dir)
    storage = open_storage(study_dir, storage_url)
    chosen = make_sampler(sampler or spec['sampler'], spec['seed'])
    if create:
        return optuna.create_study(study_name=spec['name'], storage=storage, sampler=chosen, direction='maximize',
                                   load_if_exists=False)
    try:
        return optuna.load_study(study_name=spec['name'], storage=storage, sampler=chosen)
    except KeyError:
        raise StudyError(f'{storage_label(study_dir, storage_url)}: holds no study named {spec["name"]!r} '
                         f'(the name in {spec_path(study_dir)}); was the study created in another storage? '
                         'Give the same --storage as at sample time') from None


def enqueue(study, params: Dict[str, Any], user_attrs: Dict[str, Any]) -> None:
    """Queue a candidate: ``params`` as the trial's fixed parameters, and also as the user attribute
    ``queued_params`` (Optuna keeps a queued trial's parameters to itself until they are drawn; a worker that
    gives a queued trial back untrained queues it again from this attribute)."""
    study.enqueue_trial(dict(params), user_attrs=dict(user_attrs, **{QUEUED_PARAMS: dict(params)}))


# --------------------------------------------------------------------------------------------------------------
# lease and reaper
# --------------------------------------------------------------------------------------------------------------
def worker_identity() -> Dict[str, Any]:
    """Who runs a trial: host, pid and, under Slurm, the job / array task ids."""
    ident = {'host': socket.gethostname(), 'pid': os.getpid()}
    for key, env in (('slurm_job_id', 'SLURM_JOB_ID'), ('slurm_array_job_id', 'SLURM_ARRAY_JOB_ID'),
                     ('slurm_array_task_id', 'SLURM_ARRAY_TASK_ID')):
        if os.environ.get(env):
            ident[key] = os.environ[env]
    if os.environ.get('CUDA_VISIBLE_DEVICES'):
        ident['cuda_visible_devices'] = os.environ['CUDA_VISIBLE_DEVICES']
    return ident


class Lease:
    """A worker's claim on its RUNNING ``trial`` (the ``optuna.Trial`` it asked for): the ``lease`` user attribute
    (identity + ``heartbeat``, a Unix time) refreshed every ``interval`` seconds by a daemon thread from
    :meth:`start` until :meth:`stop` / :meth:`release`."""

    def __init__(self, trial, interval: float = 60.0):
        self.trial = trial
        self.trial_number = trial.number
        self.interval = interval
        self.identity = worker_identity()
        self._stop = threading.Event()
        self._thread = None

    def beat(self, released: bool = False) -> None:
        lease = dict(self.identity, heartbeat=time.time(), interval=self.interval)
        if released:
            lease['released'] = True
        try:
            self.trial.set_user_attr('lease', lease)
        except Exception as exc:  # noqa: BLE001  (finished meanwhile: reaped, or told by this worker)
            if 'finished' not in str(exc).lower():
                print(f'[search] lease of trial {self.trial_number}: heartbeat not written ({exc})', flush=True)

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.beat()

    def start(self) -> 'Lease':
        self.beat()
        self._thread = threading.Thread(target=self._loop, name=f'lease-{self.trial_number}', daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def release(self) -> None:
        """Stop and mark the lease released: the next reaper takes the trial over at once (pre-emption)."""
        self.stop()
        self.beat(released=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def lease_expired(trial, stale_after: float, now: Optional[float] = None,
                  host: Optional[str] = None) -> Optional[str]:
    """Why the RUNNING ``trial`` is stale (a sentence), or None while its worker is alive.

    Stale when: its lease was released; its worker ran on this host (``host``) under a pid that no longer exists;
    its last heartbeat (or, without a lease, its start) is more than ``stale_after`` seconds old."""
    now = time.time() if now is None else now
    host = socket.gethostname() if host is None else host
    lease = trial.user_attrs.get('lease')
    if not isinstance(lease, dict):
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        age = now - started
        return f'no lease and started {age:.0f} s ago' if age > stale_after else None
    if lease.get('released'):
        return f'released by its worker (pid {lease.get("pid")} on {lease.get("host")})'
    if lease.get('host') == host and isinstance(lease.get('pid'), int) and not pid_alive(lease['pid']):
        return f'its worker (pid {lease["pid"]} on {host}) is gone'
    age = now - float(lease.get('heartbeat', 0))
    if age > stale_after:
        return (f'no heartbeat for {age:.0f} s (worker pid {lease.get("pid")} on {lease.get("host")}'
                + (f', Slurm job {lease["slurm_job_id"]}' if lease.get('slurm_job_id') else '') + ')')
    return None


def reap_stale_trials(study, stale_after: float = 600.0, max_attempts: int = 3, now: Optional[float] = None,
                      log=print) -> List[int]:
    """Fail every stale RUNNING trial of ``study`` (see :func:`lease_expired`) and re-enqueue its parameters with
    its folder (``trial_dir``), so that the next worker resumes its training; after ``max_attempts`` attempts the
    trial stays failed. Several reapers may run at once: the FAIL written first wins, the others skip the trial.

    Returns the numbers of the trials reaped by this call."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState
    reaped = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        why = lease_expired(trial, stale_after, now)
        if why is None:
            continue
        try:
            set_user_attr_of(study, trial, 'reaped', why)
            study.tell(trial.number, state=TrialState.FAIL)
        except (UpdateFinishedTrialError, ValueError):  # tell: ValueError "Cannot tell a COMPLETE trial."
            continue  # another reaper (or the worker itself) finished it first
        reaped.append(trial.number)
        requeue(study, trial, max_attempts, f'stale ({why})', log)
    return reaped


def requeue(study, trial, max_attempts: int, why: str, log=print) -> bool:
    """Queue the candidate of the failed ``trial`` (an Optuna ``Trial`` or ``FrozenTrial``) again: its parameters
    and its attributes (key, arch, config, folder), with ``attempt`` + 1, so that the next worker takes it over in
    its folder (resuming from its last checkpoint); not after ``max_attempts`` attempts. ``why`` (e.g. ``stale
    (...)``) goes into the log line. Returns whether it was queued."""
    attempt = int(trial.user_attrs.get('attempt', 1))
    if attempt >= max_attempts:
        log(f'[search] trial {trial.number} {why}; {attempt} attempts made, not re-enqueued')
        return False
    carried = {k: v for k, v in trial.user_attrs.items() if k in REQUEUED_ATTRS}
    carried.update(attempt=attempt + 1, resumes_trial=trial.number)
    enqueue(study, trial.params, carried)
    log(f'[search] trial {trial.number} {why}: failed and re-enqueued (attempt {attempt + 1}, '
        f'resumes in {carried.get("trial_dir", "a new folder")})')
    return True
