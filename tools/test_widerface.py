"""WIDER FACE validation: Easy / Medium / Hard AP exactly as the official evaluation kit computes them.

Score an existing submission folder (``<event>/<image>.txt``); imports neither torch nor mmdet:
    python tools/test_widerface.py --pred-dir DIR --gt-dir GT_DIR [--json RESULT.json]

Run a model on the validation set through mmengine's test loop, then score it:
    python tools/test_widerface.py CONFIG CHECKPOINT [--out DIR] [--gt-dir GT_DIR]
        [--mode vga|origin|fixed --size N] [--tta] [--cfg-options ...]
    bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [same options]

Test-time scales (the Resize step of ``cfg.test_dataloader.dataset.pipeline`` is replaced):
    vga     long side 640, aspect ratio kept (SCRFD's "VGA" protocol; --size changes 640)
    origin  the original image, no resizing (RetinaFace's single-scale protocol)
    fixed   every image resized to exactly N x N (--size N), boxes mapped back per axis
    --tta   multi-scale (--tta-scales, factors of the original size) + horizontal-flip test-time augmentation,
            merged by FaceTTAModel with NMS or box voting (--tta-merge), unless the config defines its own
            ``tta_model`` / ``tta_pipeline``
Predictions are scored by WiderFaceMetric; ``--out DIR`` also writes the submission folder to DIR and the PR curves
to ``DIR_pr_curves.json`` (tools/analysis/plot_widerface_pr.py plots them).
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_functional():
    """The numpy-only evaluator, loaded by file path so that ``mmdet_face/__init__.py`` (torch, mmdet) is not run."""
    path = osp.join(ROOT, 'mmdet_face', 'evaluation', 'functional', 'widerface.py')
    spec = importlib.util.spec_from_file_location('mmdet_face_widerface_eval', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='WIDER FACE Easy/Medium/Hard AP (official protocol)')
    parser.add_argument('config', nargs='?', help='model config (not needed with --pred-dir)')
    parser.add_argument('checkpoint', nargs='?', help='model checkpoint (not needed with --pred-dir)')
    parser.add_argument('--pred-dir', help='score this submission folder instead of running a model')
    parser.add_argument('--gt-dir', help='folder of the official wider_{face,easy,medium,hard}_val.mat; '
                        'required with --pred-dir, else overrides the config\'s test_evaluator.gt_dir')
    parser.add_argument('--json', help='with --pred-dir: write APs and PR curves to this JSON file')
    parser.add_argument('--out', help='write the submission folder here (and DIR_pr_curves.json)')
    parser.add_argument('--mode', choices=['vga', 'origin', 'fixed'], help='test scale (default: the config\'s)')
    parser.add_argument('--size', type=int, help='long side for vga (default 640), side for fixed')
    parser.add_argument('--tta', action='store_true', help='multi-scale + flip test-time augmentation')
    parser.add_argument('--tta-scales', type=float, nargs='+', default=[1.0],
                        help='with --tta: factors of the original image size (e.g. 0.5 1 1.5 2)')
    parser.add_argument('--tta-merge', choices=['nms', 'vote'], default='nms',
                        help='with --tta: merge the views by NMS (0.4) or box voting (0.3)')
    parser.add_argument('--work-dir')
    parser.add_argument('--cfg-options', nargs='+', default=None,
                        help='config overrides key=value (as tools/test.py)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.pred_dir:
        if not args.gt_dir:
            parser.error('--pred-dir needs --gt-dir')
    elif not (args.config and args.checkpoint):
        parser.error('give CONFIG CHECKPOINT, or --pred-dir DIR --gt-dir GT_DIR')
    if args.mode == 'fixed' and not args.size:
        parser.error('--mode fixed needs --size N')
    return args


def score_submission(pred_dir, gt_dir, json_path=None):
    wf = load_functional()
    results = wf.evaluate_widerface(pred_dir, gt_dir)
    print(wf.format_results(results))
    if json_path:
        wf.dump_pr_curves(results, json_path, name=osp.basename(osp.normpath(pred_dir)))
        print(f'APs and PR curves written to {json_path}')
    return {s: results[s] for s in wf.SETTINGS}


def _resize_step(mode, size):
    if mode == 'vga':
        side = size or 640
        return dict(type='Resize', scale=(side, side), keep_ratio=True)
    if mode == 'origin':
        return dict(type='Resize', scale_factor=1.0, keep_ratio=True)
    return dict(type='Resize', scale=(size, size), keep_ratio=False)


def _innermost_dataset(dataset_cfg):
    while 'dataset' in dataset_cfg:  # ConcatDataset / RepeatDataset wrappers
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def set_test_scale(cfg, mode, size):
    """Replace the Resize step of the test pipeline (the first transform whose type ends with 'Resize')."""
    pipeline = _innermost_dataset(cfg.test_dataloader.dataset).pipeline
    for i, step in enumerate(pipeline):
        if str(step.get('type', '')).split('.')[-1].endswith('Resize'):
            new = _resize_step(mode, size)
            new['type'] = step['type']  # keep the (keypoint-aware) transform the config chose
            pipeline[i] = new
            return cfg
    raise KeyError('tools/test_widerface.py --mode: no Resize step in cfg.test_dataloader.dataset.pipeline')


def set_tta(cfg, scales=(1.0,), merge='nms', iou_threshold=None):
    """Multi-scale + flip test-time augmentation: every ``scale`` (a factor of the original image size) with and
    without a horizontal flip, merged by ``FaceTTAModel`` with NMS or box voting. A config's own
    ``tta_model`` / ``tta_pipeline`` take precedence."""
    from copy import deepcopy

    from mmengine.config import ConfigDict
    if 'tta_model' not in cfg:
        tta_cfg = dict(merge=merge)
        if iou_threshold is not None:
            tta_cfg['iou_threshold'] = iou_threshold
        elif merge == 'vote':
            tta_cfg['iou_threshold'] = 0.3  # the S3FD / SRN voting scripts
        cfg.tta_model = dict(type='FaceTTAModel', tta_cfg=tta_cfg)
    if 'tta_pipeline' not in cfg:
        pipeline = deepcopy(_innermost_dataset(cfg.test_dataloader.dataset).pipeline)
        resize_index = next((i for i, step in enumerate(pipeline)
                             if str(step.get('type', '')).split('.')[-1].endswith('Resize')), None)
        if resize_index is None:
            raise KeyError('tools/test_widerface.py --tta: no Resize step in cfg.test_dataloader.dataset.pipeline')
        resize_type = pipeline[resize_index]['type']
        after = pipeline[resize_index + 1:]
        resizes = [dict(type=resize_type, scale_factor=float(s), keep_ratio=True) for s in scales]
        flips = [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)]
        cfg.tta_pipeline = pipeline[:resize_index] + [
            dict(type='TestTimeAug', transforms=[resizes, flips] + [[step] for step in after])]
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    _innermost_dataset(cfg.test_dataloader.dataset).pipeline = cfg.tta_pipeline
    return cfg


def build_test_cfg(args):
    from mmengine.config import Config, DictAction  # noqa: F401
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        options = {}
        for item in args.cfg_options:
            key, value = item.split('=', 1)
            options[key] = DictAction._parse_iterable(value)
        cfg.merge_from_dict(options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.mode:
        set_test_scale(cfg, args.mode, args.size)
    if args.tta:
        set_tta(cfg, args.tta_scales, args.tta_merge)
    gt_dir = args.gt_dir
    evaluator = cfg.get('test_evaluator') or {}
    if gt_dir is None and isinstance(evaluator, dict) and 'WiderFaceMetric' in str(evaluator.get('type', '')):
        gt_dir = evaluator.get('gt_dir')
    cfg.test_evaluator = dict(type='WiderFaceMetric', gt_dir=gt_dir, outfile_prefix=args.out)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    if args.pred_dir:
        return score_submission(args.pred_dir, args.gt_dir, args.json)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    sys.path.insert(0, ROOT)
    from mmdet.utils import register_all_modules
    from mmengine.runner import Runner

    import mmdet_face  # noqa: F401  (registers everything)

    # our registries are children of mmdet's; a child finds a parent's class only once mmdet's modules are imported
    register_all_modules(init_default_scope=False)
    cfg = build_test_cfg(args)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out and runner.rank == 0:
        print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == '__main__':
    main()
