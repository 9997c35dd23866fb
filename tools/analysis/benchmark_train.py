"""Training throughput of a config: images/s, the share of time spent waiting for data, the forward / backward /
optimizer split and peak memory, on the GPU when there is one (else the CPU), in one process or under torchrun.

    python tools/analysis/benchmark_train.py CONFIG [--amp] [--batch N] [--iters K] [--warmup W]
        [--data-root DIR | --toy-data] [--workers N] [--cpu] [--cfg-options ...]
    python -m torch.distributed.run --nproc_per_node N tools/analysis/benchmark_train.py CONFIG --launcher pytorch

The model, optimizer wrapper, dataloader and (under a launcher) DDP wrapper are the ones ``tools/train.py`` builds
(mmengine's runner from the config); the iteration is the runner's ``train_step`` taken apart so that each phase
can be timed (CUDA is synchronised at every boundary):

    data      waiting for the next batch from the dataloader (its workers decode and augment)
    forward   data preprocessor + model forward + loss
    backward  loss.backward() (under DDP this includes the gradient all-reduce)
    optimizer gradient clipping, optimizer step, zero_grad

``--toy-data`` trains on a generated toy face set in the WIDER FACE layout (``make_toy_widerface``) through the
config's own pipeline, for machines without WIDER FACE. Under N processes each rank runs ``--batch`` images per
iteration; images/s is the total over the ranks. Peak memory: CUDA ``max_memory_allocated`` per rank, or on the CPU
the peak resident set size of each rank's process (dataloader workers not included).
"""
import argparse
import os
import os.path as osp
import resource
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402
import torch.distributed as torch_dist  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmdet_face  # noqa: E402
from mmdet_face.engine.cli import (ConfigOptionsAction, non_negative_int, positive_int,  # noqa: E402
                                   read_tool_config)
from mmdet_face.engine.dist import (LaunchError, check_device_options, end_distributed_process,  # noqa: E402
                                    exit_with, exit_with_launcher, finish_distributed, init_distributed,
                                    launch_rank)

PHASES = ('data', 'forward', 'backward', 'optimizer')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Training throughput of a config')
    parser.add_argument('config')
    parser.add_argument('--amp', action='store_true', help='mixed precision (AmpOptimWrapper; needs a GPU)')
    parser.add_argument('--batch', type=positive_int, default=2, help='images per iteration per process (default 2)')
    parser.add_argument('--iters', type=positive_int, default=10, help='timed iterations (default 10)')
    parser.add_argument('--warmup', type=non_negative_int, default=2, help='untimed iterations first (default 2)')
    parser.add_argument('--workers', type=non_negative_int,
                        help='dataloader workers per process (default: the config\'s)')
    parser.add_argument('--data-root', help='train on this WIDER-layout folder instead of the config\'s')
    parser.add_argument('--toy-data', action='store_true',
                        help='train on a generated toy face set (WIDER layout) through the config\'s pipeline')
    parser.add_argument('--cpu', action='store_true', help='run on the CPU even when a GPU is visible')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=non_negative_int, default=0)
    args = parser.parse_args(argv)
    if args.data_root and args.toy_data:
        parser.error('give --data-root or --toy-data, not both')
    return args


def _innermost(dataset_cfg):
    while 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def build_cfg(args, work_dir, toy_root=None):
    cfg = read_tool_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = work_dir
    cfg.train_dataloader.batch_size = args.batch
    cfg.train_dataloader.pop('batch_sampler', None)  # every batch has --batch images
    if args.workers is not None:
        cfg.train_dataloader.num_workers = args.workers
        if args.workers == 0:
            cfg.train_dataloader.persistent_workers = False
    dataset = _innermost(cfg.train_dataloader.dataset)
    data_root = toy_root or args.data_root
    if data_root:
        dataset.data_root = data_root.rstrip('/') + '/'
        dataset.ann_file = 'train/labelv2.txt'
        dataset.data_prefix = dict(img='train/images/')
    if args.amp and cfg.optim_wrapper.get('type', 'OptimWrapper') != 'AmpOptimWrapper':
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    # no logging, checkpoints, visualisation or validation: only the training step is measured
    cfg.default_hooks = dict(timer=dict(type='IterTimerHook'))
    cfg.custom_hooks = []
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.visualizer = dict(type='Visualizer', vis_backends=[])
    cfg.log_level = 'WARNING'
    cfg.resume, cfg.load_from = False, None
    return cfg, dataset


def _sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def run_benchmark(runner, iters, warmup, batch):
    """Per-iteration phase times (seconds) of ``iters`` timed iterations after ``warmup`` untimed ones."""
    model = runner.model
    base = getattr(model, 'module', model)
    optim_wrapper = runner.build_optim_wrapper(runner.cfg.optim_wrapper)
    optim_wrapper.initialize_count_status(base, 0, warmup + iters)
    dataloader = runner.build_dataloader(runner.cfg.train_dataloader, seed=runner.seed)
    device = next(base.parameters()).device.type
    model.train()
    times, batches = [], iter(dataloader)
    epoch = 0
    for i in range(warmup + iters):
        _sync(device)
        t0 = time.perf_counter()
        try:
            data = next(batches)
        except StopIteration:  # a small dataset: the next epoch
            epoch += 1
            if hasattr(dataloader.sampler, 'set_epoch'):
                dataloader.sampler.set_epoch(epoch)
            batches = iter(dataloader)
            data = next(batches)
        t1 = time.perf_counter()
        with optim_wrapper.optim_context(model):
            data = base.data_preprocessor(data, True)
            losses = model._run_forward(data, mode='loss')
            loss, _ = base.parse_losses(losses)
        _sync(device)
        t2 = time.perf_counter()
        optim_wrapper.backward(loss)
        _sync(device)
        t3 = time.perf_counter()
        optim_wrapper.step()
        optim_wrapper.zero_grad()
        _sync(device)
        t4 = time.perf_counter()
        if i >= warmup:
            times.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3))
        if not torch.isfinite(loss):
            raise RuntimeError(f'non-finite loss at iteration {i}: the benchmark measures a diverging run')
    return times, device


def peak_memory_mib(device):
    if device == 'cuda':
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def summarize(per_rank, batch):
    """One report from every rank's ``(times, device, peak_mib, threads)``."""
    world = len(per_rank)
    device = per_rank[0][1]
    iters = len(per_rank[0][0])
    wall = max(sum(sum(t) for t in times) for times, *_ in per_rank)  # the slowest rank sets the pace
    phase_totals = [sum(t[k] for times, *_ in per_rank for t in times) for k in range(len(PHASES))]
    total = sum(phase_totals)
    lines = [f'device: {device}' + (f' ({torch.cuda.get_device_name()})' if device == 'cuda' else
                                    f' ({per_rank[0][3]} threads per process)'),
             f'processes: {world}, batch {batch} per process, {iters} timed iterations',
             f'throughput: {world * batch * iters / wall:.2f} images/s '
             f'({wall / iters * 1000:.0f} ms per iteration)',
             'time split: ' + ', '.join(f'{name} {100 * t / total:.1f}%' for name, t in zip(PHASES, phase_totals)),
             f'waiting for data: {100 * phase_totals[0] / total:.1f}% of the time',
             'peak memory per process: ' + ', '.join(f'{mib:.0f} MiB' for _, _, mib, _ in per_rank)
             + (' (CUDA max_memory_allocated)' if device == 'cuda' else ' (peak RSS)')]
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.cpu:
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
    mmdet_face.register_all_modules(init_default_scope=False)
    rank_hint = launch_rank(args.launcher)
    with tempfile.TemporaryDirectory(prefix='benchmark_train_') as tmp:
        toy_root = None
        if args.toy_data:
            from mmdet_face.datasets.toy import make_toy_widerface
            toy_root = osp.join(tmp, 'toy')
            # the same set on every rank (same seed), written by each into its own temp dir
            make_toy_widerface(toy_root, num_train=max(16, 2 * args.batch), num_val=1, size=320, seed=0)
        cfg, dataset = build_cfg(args, osp.join(tmp, 'work_dir'), toy_root)
        data_root = dataset.get('data_root', '')
        if not osp.isdir(osp.join(data_root, dataset.get('data_prefix', {}).get('img', ''))):
            exit_with(f'benchmark_train.py: no training images under {data_root!r}; give --data-root DIR (WIDER '
                      'layout) or --toy-data', rank=rank_hint)
        try:
            check_device_options(cfg, args.launcher)
            exit_with_launcher(args.launcher)  # a rank ends when its launcher dies
            init_distributed(cfg, args.launcher)
        except LaunchError as exc:
            exit_with(f'benchmark_train.py: {exc}', rank=rank_hint)
        runner = Runner.from_cfg(cfg)
        times, device = run_benchmark(runner, args.iters, args.warmup, args.batch)
        result = (times, device, peak_memory_mib(device), torch.get_num_threads())
        per_rank = [result]
        if torch_dist.is_available() and torch_dist.is_initialized():
            per_rank = [None] * torch_dist.get_world_size()
            torch_dist.all_gather_object(per_rank, result)
        if runner.rank == 0:
            print(f'{osp.basename(args.config)}' + (' --amp' if args.amp else ''))
            print(summarize(per_rank, args.batch), flush=True)
        finish_distributed()
    return per_rank


if __name__ == '__main__':
    main()
    end_distributed_process()  # a distributed run ends without the interpreter's teardown (see its docstring)
