"""Process groups for the train and test tools, on GPUs (NCCL) and on CPU-only machines (gloo).

mmengine's ``Runner`` initialises the process group itself (``init_dist``), but its launchers call
``torch.cuda.set_device`` unconditionally, so a CPU-only machine (CI, laptops, CPU clusters) cannot run
``tools/dist_train.sh`` through them. :func:`init_distributed` therefore starts the group *before* the runner is
built — mmengine's own ``init_dist`` where CUDA is present, ``torch.distributed.init_process_group('gloo')`` with the
same environment variables otherwise — and ``Runner.setup_env`` then skips its own initialisation (it only calls
``init_dist`` when no group exists). mmengine is not patched.

Launchers (``--launcher``), and where each rank learns its place:
    pytorch  torchrun (``tools/dist_train.sh``): RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
    slurm    srun (``tools/slurm_train.sh``): SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, and the first host of
             SLURM_NODELIST (``scontrol show hostname``) as master unless MASTER_ADDR is set; MASTER_PORT or 29500
    mpi      mpirun (Open MPI): OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK, MASTER_ADDR, MASTER_PORT or 29500

A rank started by a launcher ends when that launcher dies (:func:`exit_with_launcher`: a SIGKILLed ``torchrun``, a
lost SSH session), instead of training on, unsupervised, into the work dir.

A collective that waits for a rank that died fails after ``env_cfg.dist_cfg.timeout`` seconds (default 1800, as
mmengine's); torchrun and ``srun --kill-on-bad-exit`` end the other ranks of a failed job long before that.
"""
import atexit
import datetime
import os
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.distributed as torch_dist

DEFAULT_TIMEOUT_S = 1800
DEFAULT_MASTER_PORT = '29500'


class LaunchError(RuntimeError):
    """The launch cannot work as asked (missing launcher variables, an option this machine cannot run)."""


def cuda_device_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _first_host(node_list: str) -> str:
    """The first host name of a Slurm node list (``node[01-04]`` -> ``node01``), through ``scontrol``."""
    try:
        out = subprocess.run(['scontrol', 'show', 'hostname', node_list], capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LaunchError(f'--launcher slurm: cannot run "scontrol show hostname {node_list}" ({exc}); set '
                          'MASTER_ADDR to the first node of the job') from exc
    hosts = out.stdout.split()
    if out.returncode != 0 or not hosts:
        raise LaunchError(f'--launcher slurm: "scontrol show hostname {node_list}" gave no host '
                          f'(exit {out.returncode}: {out.stderr.strip()[:200]}); set MASTER_ADDR')
    return hosts[0]


def _require(environ, names, launcher, hint):
    missing = [name for name in names if not environ.get(name)]
    if missing:
        raise LaunchError(f'--launcher {launcher}: {", ".join(missing)} not set; {hint}')


def launch_env(launcher: str, environ: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The torch.distributed variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) of this process
    under ``launcher`` ('pytorch', 'slurm' or 'mpi'), read from ``environ`` (default ``os.environ``)."""
    environ = os.environ if environ is None else environ
    if launcher == 'pytorch':
        names = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')
        _require(environ, names, launcher, 'start the tool with torchrun (tools/dist_train.sh, tools/dist_test.sh)')
        return {name: environ[name] for name in names}
    if launcher == 'slurm':
        _require(environ, ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'), launcher,
                 'start the tool with srun (tools/slurm_train.sh, tools/slurm_test.sh)')
        rank = environ['SLURM_PROCID']
        tasks_per_node = int(environ.get('SLURM_NTASKS_PER_NODE', '0').split('(')[0] or 0)
        local_rank = environ.get('SLURM_LOCALID') or str(int(rank) % max(tasks_per_node, cuda_device_count(), 1))
        return dict(RANK=rank, WORLD_SIZE=environ['SLURM_NTASKS'], LOCAL_RANK=local_rank,
                    MASTER_ADDR=environ.get('MASTER_ADDR') or _first_host(environ['SLURM_NODELIST']),
                    MASTER_PORT=environ.get('MASTER_PORT') or DEFAULT_MASTER_PORT)
    if launcher == 'mpi':
        _require(environ, ('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'MASTER_ADDR'), launcher,
                 'start the tool with Open MPI\'s mpirun and export MASTER_ADDR (-x MASTER_ADDR=host)')
        return dict(RANK=environ['OMPI_COMM_WORLD_RANK'], WORLD_SIZE=environ['OMPI_COMM_WORLD_SIZE'],
                    LOCAL_RANK=environ.get('OMPI_COMM_WORLD_LOCAL_RANK', '0'), MASTER_ADDR=environ['MASTER_ADDR'],
                    MASTER_PORT=environ.get('MASTER_PORT') or DEFAULT_MASTER_PORT)
    raise LaunchError(f'unknown launcher {launcher!r} (expected none, pytorch, slurm or mpi)')


def launch_rank(launcher: str, environ: Optional[Dict[str, str]] = None) -> int:
    """This process's global rank as the launcher tells it, before any process group exists (0 if unknown)."""
    environ = os.environ if environ is None else environ
    name = {'pytorch': 'RANK', 'slurm': 'SLURM_PROCID', 'mpi': 'OMPI_COMM_WORLD_RANK'}.get(launcher)
    try:
        return int(environ.get(name, 0)) if name else 0
    except ValueError:
        return 0


def exit_with_launcher(launcher: str, poll_s: float = 0.5) -> Optional[threading.Thread]:
    """For a tool's ``main``, in a rank process: end this process (a message on stderr, exit status 1) as soon as
    the process that started it — the torchrun agent, Slurm's step daemon, MPI's daemon — is gone. Its ranks would
    otherwise go on training, validating and writing checkpoints with nobody to stop them or read their output.

    A daemon thread compares ``os.getppid()`` with the parent at the call every ``poll_s`` seconds (an orphan is
    adopted by init or a subreaper, so the parent id changes); it ends the process with ``os._exit``, because the
    main thread may be blocked in a collective that waits for a rank that died too. Does nothing for launcher
    'none'. Returns the thread (None when there is none). Never call it from library code: it can end the process.
    """
    if launcher in (None, 'none'):
        return None
    parent = os.getppid()
    rank = launch_rank(launcher)

    def watch():
        while os.getppid() == parent:
            time.sleep(poll_s)
        message = (f'rank {rank} (pid {os.getpid()}): its launcher (pid {parent}) has ended; stopping this rank '
                   '(exit status 1)\n')
        try:
            os.write(2, message.encode())
        except OSError:  # no terminal left to write to (a lost SSH session)
            pass
        os._exit(1)

    thread = threading.Thread(target=watch, name='exit-with-launcher', daemon=True)
    thread.start()
    return thread


def check_device_options(cfg, launcher: str, sync_bn: bool = False) -> None:
    """Refuse, before anything starts, what this machine cannot run (a clear message instead of a traceback from
    inside torch): mixed precision without a GPU (mmengine's ``AmpOptimWrapper`` runs on CUDA / NPU / MLU / MUSA
    only) and SyncBatchNorm across CPU processes (torch's SyncBatchNorm needs GPU tensors)."""
    if cuda_device_count():
        return
    wrapper = str(cfg.get('optim_wrapper', {}).get('type', 'OptimWrapper'))
    if wrapper.split('.')[-1] == 'AmpOptimWrapper':
        raise LaunchError('mixed precision (--amp, or optim_wrapper.type=AmpOptimWrapper in the config) needs a '
                          'GPU: mmengine\'s AmpOptimWrapper runs on CUDA, NPU, MLU or MUSA only, and this machine '
                          'has none. Train in float32 on the CPU (drop --amp, or --cfg-options '
                          'optim_wrapper.type=OptimWrapper).')
    if launcher != 'none' and (sync_bn or cfg.get('sync_bn')):
        raise LaunchError('--sync-bn (cfg.sync_bn) needs GPUs: torch\'s SyncBatchNorm cannot synchronise CPU '
                          'processes. Drop --sync-bn for a CPU run (each process then keeps its own BatchNorm '
                          'statistics; AverageBuffersHook averages them after every iteration).')


def init_distributed(cfg, launcher: str) -> Tuple[int, int]:
    """Start the process group of a ``launcher`` run before the runner is built and make the config agree with it:
    ``env_cfg.dist_cfg.backend`` (the config's, 'nccl' by default, on GPUs — one process per GPU, device
    ``LOCAL_RANK``; 'gloo' without GPUs), ``env_cfg.dist_cfg.timeout`` (default 1800 s), and on CPU a DDP wrapper
    without ``device_ids`` (mmengine passes ``[LOCAL_RANK]``, which torch refuses for a CPU module).

    Returns ``(rank, world_size)``; ``(0, 1)`` for launcher 'none'.
    """
    if launcher in (None, 'none'):
        return 0, 1
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg.setdefault('timeout', DEFAULT_TIMEOUT_S)
    num_gpus = cuda_device_count()
    if num_gpus:
        dist_cfg.setdefault('backend', 'nccl')
    else:
        dist_cfg['backend'] = 'gloo'
        wrapper_cfg = dict(cfg.get('model_wrapper_cfg') or {})
        wrapper_cfg.setdefault('type', 'MMDistributedDataParallel')
        if str(wrapper_cfg['type']).split('.')[-1] in ('MMDistributedDataParallel', 'DistributedDataParallel'):
            wrapper_cfg['device_ids'] = None
            wrapper_cfg.setdefault('broadcast_buffers', False)
            wrapper_cfg.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
        cfg.model_wrapper_cfg = wrapper_cfg
    if torch_dist.is_available() and torch_dist.is_initialized():
        return torch_dist.get_rank(), torch_dist.get_world_size()

    if num_gpus:
        local_rank = int(launch_env(launcher).get('LOCAL_RANK', 0)) if launcher != 'slurm' else None
        if local_rank is not None and local_rank >= num_gpus:
            raise LaunchError(f'local rank {local_rank} but only {num_gpus} visible GPU(s) on this node: start at '
                              'most one process per GPU')
        from mmengine.dist import init_dist
        init_dist(launcher, **dist_cfg)  # mmengine's launcher: sets the CUDA device, reads the same variables
    else:
        os.environ.update(launch_env(launcher))
        kwargs = {k: v for k, v in dist_cfg.items() if k not in ('backend', 'timeout', 'init_backend')}
        torch_dist.init_process_group(backend='gloo', init_method='env://',
                                      timeout=datetime.timedelta(seconds=float(dist_cfg['timeout'])), **kwargs)
    return torch_dist.get_rank(), torch_dist.get_world_size()


def rank0_decides(decide: Callable, *args, **kwargs):
    """Run ``decide`` on rank 0 only and give its result, or its exception, to every rank, so that all ranks take
    the same decision from one look at the file system (a work dir a rank is writing to could otherwise look
    different to a rank that starts later). Without a process group it simply calls ``decide``. On the other ranks
    the exception is re-raised with the same type where it can be rebuilt from its message."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()) or torch_dist.get_world_size() == 1:
        return decide(*args, **kwargs)
    payload = [None]
    if torch_dist.get_rank() == 0:
        try:
            payload = [('ok', decide(*args, **kwargs))]
        except Exception as exc:  # noqa: BLE001  (given to every rank, then raised there)
            payload = [('error', exc)]
    torch_dist.broadcast_object_list(payload, src=0)
    status, value = payload[0]
    if status == 'error':
        raise value
    return value


def is_rank0() -> bool:
    return not (torch_dist.is_available() and torch_dist.is_initialized()) or torch_dist.get_rank() == 0


_group_finished = False  # set by finish_distributed: this process ran as one rank of a process group


def finish_distributed() -> None:
    """End this rank's process group once the work is done: all ranks meet at a barrier, then the group is
    destroyed, so that no rank tears its group down during interpreter shutdown while a peer still uses the
    connection (which can abort the process with "terminate called without an active exception"). No-op without a
    process group.

    Destroying is not enough on CPU: once a ``DistributedDataParallel`` wrapper was built (mmengine's runner builds
    one for training and testing), torch keeps the gloo group and its threads alive in C++ after
    ``destroy_process_group`` until the process ends. A tool therefore ends a distributed run with
    :func:`end_distributed_process`."""
    global _group_finished
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
        _group_finished = True


def end_distributed_process(code: int = 0) -> None:
    """For the ``__main__`` of a tool, after its work: when this process was a rank of a process group that
    :func:`finish_distributed` ended, wait for the non-daemon threads and run the ``atexit`` handlers (log files,
    ``logging.shutdown``) as a normal exit does, flush stdout and stderr, and leave with ``os._exit(code)``,
    skipping the interpreter's teardown and C++ static destructors, which would otherwise run next to the gloo
    threads torch leaves alive (see :func:`finish_distributed`). Returns (does nothing) in a single-process run.
    Never call it from library code: it ends the process."""
    if not _group_finished:
        return
    for thread in threading.enumerate():  # as the interpreter does first at exit: wait for non-daemon threads
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream has nothing left to write
            pass
    os._exit(code)


def exit_with(message: str, rank: Optional[int] = None) -> None:
    """Stop every rank with ``message``: ``sys.exit(message)`` (printed to stderr, exit status 1) on rank 0 —
    ``rank`` where there is no process group yet — and a silent exit status 1 on the others."""
    printing = is_rank0() if rank is None else rank == 0
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
    sys.exit(message if printing else 1)


def record_errors(main: Callable) -> Callable:
    """``main`` wrapped by torchrun's error recorder when it runs under torchrun, so that the job's summary names
    the failing rank and shows its traceback as the root cause; ``main`` itself otherwise."""
    if not os.environ.get('TORCHELASTIC_ERROR_FILE'):
        return main
    from torch.distributed.elastic.multiprocessing.errors import record
    return record(main)
