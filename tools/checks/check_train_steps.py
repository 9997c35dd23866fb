"""A few training iterations of a config at its own training size, on one fixed batch: losses must be finite and fall.

    python tools/checks/check_train_steps.py configs/srn/srn_r50_fpn_4xb8-130e_widerface.py [--iters 5]
        [--batch 1] [--lr 0.01] [--data-root DIR] [--cfg-options ...]

A smoke test for published configs that are too big to train here: the config's model (backbone without its
ImageNet weights unless ``--pretrained``), its train pipeline (crops, resize to the training size, flips,
photometric changes), its data preprocessor and its optimizer. The pipeline runs once on ``--batch`` images of
``--data-root`` (a WIDER-style folder with ``train/labelv2.txt``; default: a toy set of 640 px images generated in a
temporary folder) and the same batch is then trained on ``--iters`` times, so a working model must lower its loss.
Learning-rate warm-up and schedules are not applied (they would hold the first iterations near zero): the
optimizer runs at the config's base learning rate, or ``--lr``. Exit status 1 when a loss is not finite or the total
did not fall.
"""
import argparse
import copy
import logging
import math
import os.path as osp
import sys
import tempfile
import time

from mmdet_face.engine.cli import ConfigOptionsAction, positive_float, positive_int, read_tool_config, seed_int


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--iters', type=positive_int, default=5)
    parser.add_argument('--batch', type=positive_int, default=1)
    parser.add_argument('--lr', type=positive_float, default=None, help='learning rate (default: the config\'s)')
    parser.add_argument('--data-root', default=None, help='WIDER-style folder (train/labelv2.txt, train/images)')
    parser.add_argument('--pretrained', action='store_true', help='keep the backbone init_cfg (downloads weights)')
    parser.add_argument('--threads', type=positive_int, default=None, help='torch threads (default: torch\'s)')
    parser.add_argument('--seed', type=seed_int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction, default=None)
    return parser.parse_args(argv)


def fixed_batch(cfg, data_root: str, batch: int, seed: int):
    """``batch`` samples through the config's train pipeline, collated (one draw of its randomness)."""
    import numpy as np
    import torch
    from mmengine.dataset import pseudo_collate

    from mmdet_face.registry import DATASETS
    np.random.seed(seed)
    torch.manual_seed(seed)
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    while ds_cfg.get('type') in ('RepeatDataset', 'ClassBalancedDataset', 'ConcatDataset') and 'dataset' in ds_cfg:
        ds_cfg = ds_cfg.dataset
    ds_cfg.data_root = data_root
    ds_cfg.pop('backend_args', None)
    for step in ds_cfg.pipeline:
        step.pop('backend_args', None)
    dataset = DATASETS.build(ds_cfg)
    samples = []
    for idx in range(len(dataset)):
        sample = dataset[idx]
        if sample is not None and len(sample['data_samples'].gt_instances) > 0:
            samples.append(sample)
        if len(samples) == batch:
            break
    if len(samples) < batch:
        raise RuntimeError(f'{data_root}: fewer than {batch} training images with faces after the pipeline')
    return pseudo_collate(samples)


def run(args) -> dict:
    import torch
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    import mmdet_face  # noqa: F401
    from mmdet_face.apis.inference import init_face_detector
    from mmdet_face.datasets.toy import make_toy_widerface

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = read_tool_config(args.config, args.cfg_options)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet_face')):
        tmp = None
        data_root = args.data_root
        if data_root is None:
            tmp = tempfile.TemporaryDirectory()
            data_root = tmp.name
            make_toy_widerface(data_root, num_train=max(4, 2 * args.batch), num_val=1, size=640, seed=args.seed)
        data = fixed_batch(cfg, osp.join(data_root, ''), args.batch, args.seed)
        torch.manual_seed(args.seed)
        model = init_face_detector(cfg, pretrained_backbone=args.pretrained)
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)  # init_weights logs every tensor's initialiser
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
        model.train()
        optim_cfg = copy.deepcopy(cfg.optim_wrapper)
        if args.lr is not None:
            optim_cfg.optimizer.lr = args.lr
        optim = build_optim_wrapper(model, optim_cfg)
        shape = tuple(data['inputs'][0].shape[-2:])
        print(f'{args.config}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, batch '
              f'{args.batch} x {shape[0]}x{shape[1]}, {optim_cfg.optimizer.type} lr '
              f'{optim_cfg.optimizer.lr}, {args.iters} iterations on one fixed batch')
        history = []
        for it in range(args.iters):
            start = time.perf_counter()
            batch = model.data_preprocessor(copy.deepcopy(data), training=True)
            losses = model(**batch, mode='loss')
            total, log = model.parse_losses(losses)
            optim.update_params(total)
            values = {k: float(v.item()) if hasattr(v, 'item') else float(v) for k, v in log.items()}
            history.append(values)
            parts = '  '.join(f'{k} {v:.4f}' for k, v in values.items() if k != 'loss')
            print(f'iter {it + 1}/{args.iters}  {time.perf_counter() - start:6.1f} s  loss {values["loss"]:.4f}  '
                  f'{parts}', flush=True)
        if tmp is not None:
            tmp.cleanup()
    finite = all(math.isfinite(v) for h in history for v in h.values())
    fell = history[-1]['loss'] < history[0]['loss']
    print(f'finite: {"yes" if finite else "NO"}; total loss {history[0]["loss"]:.4f} -> {history[-1]["loss"]:.4f} '
          f'({"fell" if fell else "DID NOT FALL"})')
    return dict(history=history, finite=finite, fell=fell, shape=shape)


def main(argv=None):
    result = run(parse_args(argv))
    return 0 if result['finite'] and result['fell'] else 1


if __name__ == '__main__':
    sys.exit(main())
