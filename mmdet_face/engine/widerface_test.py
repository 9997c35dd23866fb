"""The one model-running test path behind both test doors, ``tools/test.py`` and ``tools/test_widerface.py`` (same
options, same numbers): WIDER FACE Easy / Medium / Hard AP exactly as the official evaluation kit computes them.

Importing this module imports no torch, mmengine or mmdet: scoring a submission folder (``--pred-dir``) stays
numpy-only; running a model imports the rest when it starts.

Score an existing submission folder (``<event>/<image>.txt``); imports neither torch nor mmdet:
    python tools/test_widerface.py --pred-dir DIR --gt-dir GT_DIR [--json RESULT.json]

Run a model on the validation set through mmengine's test loop, then score it:
    python tools/test_widerface.py CONFIG CHECKPOINT [--out DIR] [--gt-dir GT_DIR]
        [--mode vga|origin|fixed --size N] [--tta] [--max-size N] [--cfg-options ...]
    bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [same options]

Test-time scales (the Resize step of ``cfg.test_dataloader.dataset.pipeline`` is replaced):
    vga     long side 640, aspect ratio kept (SCRFD's "VGA" protocol; --size changes 640)
    origin  the original image, no resizing (RetinaFace's single-scale protocol)
    fixed   every image resized to exactly N x N (--size N), boxes mapped back per axis
    --tta   multi-scale (--tta-scales, factors of the original size) + horizontal-flip test-time augmentation,
            merged by FaceTTAModel with NMS or box voting (--tta-merge), unless the config defines its own
            ``tta_model`` / ``tta_pipeline``
    --max-size N  cap every test scale of --tta and of --mode origin so that the resized image has at most N x N
            pixels (the area cap of the SRN release, ChiCheng123/SRN tools/test.py: ``largest_input =
            max_size * max_size``); ``--max-size-mode side`` caps the long side at N instead. A scale that would
            pass the cap is clipped to it, and scales that clip to the same size are tested once per image.

SRN's multi-scale + flip protocol (Chi et al., AAAI 2019; main result max size 1400, Hard-best 2100):
    python tools/test_widerface.py CONFIG CHECKPOINT --tta --tta-scales 0.5 1 1.5 2.25 3.375 16 \
        --tta-merge vote --tta-iou 0.5 --max-size 1400
The release tests 0.5x, 1x (+ flip), every 1.5^t x whose area stays under max_size^2, and one view exactly at
the cap; the scale 16 above always clips to that cap view. Merged by box voting at IoU >= 0.5, top 750. Not
reproduced here: the release flips only the 1x view (we flip every scale), keeps only boxes with max side > 30 px
from the 0.5x view and min side < 100 px from the enlarged views, and tests an image already over the cap at
r, 0.75 r, 0.5 r (r = the cap ratio) where the clipping here gives the listed scales that fit plus r.
Predictions are scored by the config's ``test_evaluator`` (every metric of a list, e.g. the landmark metric too) with
the WIDER FACE ground truth the config names (``--gt-dir`` overrides it); ``--out DIR`` also writes the submission
folder to DIR and the PR curves to ``DIR_pr_curves.json`` (tools/analysis/plot_widerface_pr.py plots them). A
DIR holding a submission is refused unless ``--overwrite`` (which replaces it whole); a file, or a folder holding
anything else (images, ground truth, your files), is refused whatever the flags, before the model is built.
Without the official difficulty lists the AP is printed as ``all``, never as Easy / Medium / Hard. The checkpoint
must fit the config exactly (``--partial-load`` loads the matching weights only, on purpose).
"""
import argparse
import json
import os
import os.path as osp
import sys

from mmdet_face.deployment.output_file import is_inside
from mmdet_face.engine.cli import (ConfigOptionsAction, float_in, non_negative_int, positive_float,
                                   positive_int)


def parse_args(argv=None, prog=None):
    parser = argparse.ArgumentParser(prog=prog, description='WIDER FACE Easy/Medium/Hard AP (official protocol)')
    parser.add_argument('config', nargs='?', help='model config (not needed with --pred-dir)')
    parser.add_argument('checkpoint', nargs='?', help='model checkpoint (not needed with --pred-dir)')
    parser.add_argument('--pred-dir', help='score this submission folder instead of running a model')
    parser.add_argument('--gt-dir', help='folder of the official wider_{face,easy,medium,hard}_val.mat; '
                        'required with --pred-dir, else overrides the config\'s test_evaluator.gt_dir')
    parser.add_argument('--json', help='with --pred-dir: write APs and PR curves to this JSON file')
    parser.add_argument('--out', help='write the submission folder here (and DIR_pr_curves.json)')
    parser.add_argument('--overwrite', action='store_true',
                        help='with --out: replace an existing submission folder whole (refused by default)')
    parser.add_argument('--partial-load', action='store_true',
                        help='load only the checkpoint weights that fit the model (default: refuse a checkpoint '
                        'that does not fit the config exactly)')
    parser.add_argument('--mode', choices=['vga', 'origin', 'fixed'], help='test scale (default: the config\'s)')
    parser.add_argument('--size', type=positive_int, help='long side for vga (default 640), side for fixed')
    parser.add_argument('--tta', action='store_true', help='multi-scale + flip test-time augmentation')
    parser.add_argument('--tta-scales', type=positive_float, nargs='+',
                        help='with --tta: factors of the original image size (e.g. 0.5 1 1.5 2; default 1)')
    parser.add_argument('--tta-merge', choices=['nms', 'vote'],
                        help='with --tta: merge the views by NMS (0.4, default) or box voting (0.3)')
    parser.add_argument('--tta-iou', type=float_in(0, 1, low_open=True, what='an IoU threshold'),
                        help='with --tta: IoU threshold of the merge (default 0.4 for nms, 0.3 for vote; '
                        'the SRN release votes at 0.5)')
    parser.add_argument('--max-size', type=positive_int,
                        help='with --tta or --mode origin: cap every test scale so that the resized image has at '
                        'most N x N pixels (SRN release: 1400, or 2100 for its best Hard AP); a scale over the cap '
                        'is clipped to it (the release drops such scales and adds one view exactly at the cap, '
                        'which clipping reproduces when a scale above the cap is listed); duplicates are tested '
                        'once')
    parser.add_argument('--max-size-mode', choices=['area', 'side'],
                        help='with --max-size: cap the area at N*N (SRN release, default) or the long side at N')
    parser.add_argument('--work-dir')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction, metavar='KEY=VALUE',
                        help='config overrides key=value (mmengine DictAction: numbers, tuples, lists parsed)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=non_negative_int, default=0)
    args = parser.parse_args(argv)
    if args.pred_dir:
        if not args.gt_dir:
            parser.error('--pred-dir needs --gt-dir')
        if args.json and osp.isdir(args.json):
            parser.error(f'--json {args.json}: is a folder; give the name of the JSON file to write')
        for folder, option in ((args.pred_dir, '--pred-dir'), (args.gt_dir, '--gt-dir')):
            if args.json and is_inside(args.json, folder):
                parser.error(f'--json {args.json}: is inside the {option} folder {folder}; writing there would '
                             'change an input of the scoring. Write the JSON file elsewhere')
    elif not (args.config and args.checkpoint):
        parser.error('give CONFIG CHECKPOINT, or --pred-dir DIR --gt-dir GT_DIR')
    check_option_combinations(parser, args)
    return args


MODEL_RUN_OPTIONS = ('out', 'overwrite', 'partial_load', 'mode', 'size', 'tta', 'tta_scales', 'tta_merge', 'tta_iou',
                     'max_size', 'max_size_mode', 'work_dir', 'cfg_options')


def check_option_combinations(parser, args):
    """Refuse options that would be silently ignored in the combination given (each names the option it needs),
    then fill in the defaults of the dependent options."""
    def flag(dest):
        return '--' + dest.replace('_', '-')

    given = {dest for dest in MODEL_RUN_OPTIONS if getattr(args, dest) not in (None, False)}
    if args.pred_dir and given:
        parser.error(f'{", ".join(sorted(flag(d) for d in given))}: not used with --pred-dir (which scores an '
                     'existing submission folder without running a model)')
    if args.pred_dir and (args.config or args.checkpoint):
        parser.error('give CONFIG CHECKPOINT (run a model) or --pred-dir (score a submission folder), not both')
    if args.json and not args.pred_dir:
        parser.error('--json applies to --pred-dir; a model run writes its APs and PR curves with --out DIR')
    if args.mode == 'fixed' and not args.size:
        parser.error('--mode fixed needs --size N')
    if args.size is not None and args.mode not in ('vga', 'fixed'):
        parser.error('--size sets the test size of --mode vga (long side) or --mode fixed (side); '
                     f'{"--mode " + args.mode if args.mode else "without --mode"} it would do nothing')
    if args.tta and args.mode:
        parser.error(f'--mode {args.mode} sets a single test scale, which --tta replaces by its views '
                     '(--tta-scales, factors of the original size; --max-size caps them)')
    for dest in ('tta_scales', 'tta_merge', 'tta_iou'):
        if getattr(args, dest) is not None and not args.tta:
            parser.error(f'{flag(dest)} applies to --tta, which is not given')
    if args.max_size_mode is not None and args.max_size is None:
        parser.error('--max-size-mode applies to --max-size, which is not given')
    if args.overwrite and not args.out:
        parser.error('--overwrite applies to --out, which is not given')
    args.tta_scales = args.tta_scales or [1.0]
    args.tta_merge = args.tta_merge or 'nms'
    args.max_size_mode = args.max_size_mode or 'area'
    if args.max_size is not None:
        if args.mode in ('vga', 'fixed'):
            parser.error(f'--max-size applies to --tta and --mode origin; --mode {args.mode} sets the size (--size)')
        if not (args.tta or args.mode == 'origin'):
            parser.error('--max-size needs --tta or --mode origin')


def score_submission(pred_dir, gt_dir, json_path=None, prog=None):
    """Score the submission folder ``pred_dir``; a folder that cannot be scored (missing, malformed, or matching
    no ground-truth image) ends the tool with a message saying what was found."""
    import mmdet_face.evaluation.functional as wf
    try:
        results = wf.evaluate_widerface(pred_dir, gt_dir)
    except (OSError, ValueError) as err:  # the messages name the file and what was expected
        sys.exit(f'{prog or "tools/test_widerface.py"}: {err}')
    print(wf.format_results(results))
    if json_path:
        wf.dump_pr_curves(results, json_path, name=osp.basename(osp.normpath(pred_dir)))
        print(f'APs and PR curves written to {json_path}')
    return {s: results[s] for s in wf.SETTINGS}


def _resize_step(resize_type, mode, size):
    if mode == 'vga':
        side = size or 640
        return dict(type=resize_type, scale=(side, side), keep_ratio=True)
    if mode == 'origin':
        return dict(type=resize_type, scale_factor=1.0, keep_ratio=True)
    return dict(type=resize_type, scale=(size, size), keep_ratio=False)


def _innermost_dataset(dataset_cfg):
    while 'dataset' in dataset_cfg:  # ConcatDataset / RepeatDataset wrappers
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def set_test_scale(cfg, mode, size, max_size=None, max_size_mode='area'):
    """Replace the resize step of the test pipeline (the first whose type is in ``RESIZE_TYPES``).
    ``max_size`` (``mode='origin'`` only) caps the original scale as in :func:`capped_scale_factor`."""
    from mmdet_face.datasets.transforms.capped_test_scales import resize_step_index
    pipeline = _innermost_dataset(cfg.test_dataloader.dataset).pipeline
    i = resize_step_index(pipeline)
    if i is None:
        raise KeyError('tools/test_widerface.py --mode: no Resize step in cfg.test_dataloader.dataset.pipeline')
    resize_type = pipeline[i]['type']  # keep the (keypoint-aware) transform the config chose
    if max_size and mode == 'origin':
        pipeline[i] = dict(type='WiderFaceCappedResize', scale_factor=1.0, max_size=max_size,
                           max_size_mode=max_size_mode, resize_type=resize_type)
    else:
        pipeline[i] = _resize_step(resize_type, mode, size)
    return cfg


def set_tta(cfg, scales=(1.0,), merge='nms', iou_threshold=None, max_size=None, max_size_mode='area'):
    """Multi-scale + flip test-time augmentation: every ``scale`` (a factor of the original image size) with and
    without a horizontal flip, merged by ``FaceTTAModel`` with NMS or box voting. A config's own
    ``tta_model`` / ``tta_pipeline`` take precedence. ``max_size`` clips the scales per image
    (:func:`tta_scale_factors`); the views then vary per image, so the test batch size becomes 1."""
    from copy import deepcopy

    from mmengine.config import ConfigDict

    from mmdet_face.datasets.transforms.capped_test_scales import resize_step_index
    if 'tta_model' not in cfg:
        tta_cfg = dict(merge=merge)
        if iou_threshold is not None:
            tta_cfg['iou_threshold'] = iou_threshold
        elif merge == 'vote':
            tta_cfg['iou_threshold'] = 0.3  # the S3FD / SRN voting scripts
        cfg.tta_model = dict(type='FaceTTAModel', tta_cfg=tta_cfg)
    if 'tta_pipeline' not in cfg:
        pipeline = deepcopy(_innermost_dataset(cfg.test_dataloader.dataset).pipeline)
        resize_index = resize_step_index(pipeline)
        if resize_index is None:
            raise KeyError('tools/test_widerface.py --tta: no Resize step in cfg.test_dataloader.dataset.pipeline')
        resize_type = pipeline[resize_index]['type']
        after = pipeline[resize_index + 1:]
        if max_size:
            cfg.tta_pipeline = pipeline[:resize_index] + [
                dict(type='WiderFaceCappedTTA', scales=[float(s) for s in scales], max_size=max_size,
                     max_size_mode=max_size_mode, resize_type=resize_type, flip=True, transforms=after)]
            if cfg.test_dataloader.get('batch_size', 1) != 1:
                print('tools/test_widerface.py: --max-size gives each image its own views; test batch size set to 1')
            cfg.test_dataloader.batch_size = 1
        else:
            resizes = [dict(type=resize_type, scale_factor=float(s), keep_ratio=True) for s in scales]
            flip_type = 'FaceRandomFlip' if 'Face' in str(resize_type) else 'RandomFlip'
            flips = [dict(type=flip_type, prob=1.), dict(type=flip_type, prob=0.)]
            cfg.tta_pipeline = pipeline[:resize_index] + [
                dict(type='TestTimeAug', transforms=[resizes, flips] + [[step] for step in after])]
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    _innermost_dataset(cfg.test_dataloader.dataset).pipeline = cfg.tta_pipeline
    return cfg


def build_test_cfg(args):
    from mmdet_face.engine.cli import tool_config
    if 'load_from' in (args.cfg_options or {}):
        raise SystemExit('error: --cfg-options load_from: the test tool loads the CHECKPOINT argument (strictly); '
                         'give the checkpoint there')
    cfg = tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    cfg.load_from = None  # loaded strictly by main(), not by the runner (which loads whatever keys match)
    if args.mode:
        set_test_scale(cfg, args.mode, args.size, None if args.tta else args.max_size, args.max_size_mode)
    if args.tta:
        set_tta(cfg, args.tta_scales, args.tta_merge, args.tta_iou, args.max_size, args.max_size_mode)
    cfg.test_evaluator = widerface_evaluator(cfg.get('test_evaluator'), args.gt_dir, args.out, args.overwrite)
    return cfg


def widerface_evaluator(evaluator, gt_dir=None, out=None, overwrite=False):
    """The config's test evaluator (a metric or a list of them, all kept) with its ``WiderFaceMetric`` given
    ``gt_dir`` (when set; else the config's own) and the output folder; a ``WiderFaceMetric`` is added when the
    config has none. Without a ground-truth folder from either place the metric reports a single AP over all
    annotated faces (``widerface/all``), since the Easy / Medium / Hard lists exist only in the official files."""
    from copy import deepcopy
    if evaluator is None:
        metrics = []
    elif isinstance(evaluator, dict) and 'metrics' in evaluator:  # dict(type='Evaluator', metrics=[...])
        metrics = evaluator['metrics']
    else:
        metrics = evaluator
    metrics = [deepcopy(m) for m in (metrics if isinstance(metrics, (list, tuple)) else [metrics])]
    wider = [m for m in metrics if str(m.get('type', '')).split('.')[-1] == 'WiderFaceMetric']
    if not wider:
        wider = [dict(type='WiderFaceMetric')]
        metrics.insert(0, wider[0])
    for metric in wider:
        if gt_dir is not None:
            metric['gt_dir'] = gt_dir
        metric['outfile_prefix'] = out
        metric['overwrite'] = overwrite
    if not wider[0].get('gt_dir'):
        print('tools/test_widerface.py: no WIDER FACE ground-truth folder (--gt-dir or the config\'s '
              'WiderFaceMetric.gt_dir): the AP is over all annotated faces, not Easy / Medium / Hard')
    return metrics

def main(argv=None, prog=None):
    """Both test doors: score a submission folder (``--pred-dir``), or run a model through mmengine's test loop and
    score it. Returns the metrics (rank 0 prints them). Under ``--launcher pytorch|slurm|mpi`` the process group is
    started first (:func:`mmdet_face.engine.dist.init_distributed`: NCCL on GPUs, gloo on CPU-only machines); each
    rank tests its share of the images, the metric gathers them and rank 0 alone scores and writes ``--out``."""
    args = parse_args(argv, prog)
    if args.pred_dir:
        return score_submission(args.pred_dir, args.gt_dir, args.json, prog)
    from mmdet_face.engine.dist import record_errors

    return record_errors(run_model)(args, prog)  # under torchrun: a failing rank's error is the root cause


def end_process() -> None:
    """For the test tools' ``__main__``, last: a distributed model run ends its process with
    :func:`mmdet_face.engine.dist.end_distributed_process`; scoring a submission folder, which never loads that
    module (nor torch), ends normally."""
    dist = sys.modules.get('mmdet_face.engine.dist')
    if dist is not None:
        dist.end_distributed_process()


def run_model(args, prog=None):
    """The model-running half of :func:`main` (parsed ``args``)."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    import mmdet_face
    from mmdet_face.apis.checkpoint import CheckpointMismatchError, load_runner_checkpoint
    from mmdet_face.engine.dist import (LaunchError, exit_with, exit_with_launcher, finish_distributed,
                                        init_distributed, launch_rank, rank0_decides)
    from mmdet_face.evaluation.metrics.widerface_metric import check_output_free
    from mmengine.runner import Runner

    exit_with_launcher(args.launcher)  # a rank ends when its launcher dies
    mmdet_face.register_all_modules(init_default_scope=False)
    name = prog or 'tools/test_widerface.py'
    cfg = build_test_cfg(args)
    try:
        init_distributed(cfg, args.launcher)
    except LaunchError as exc:
        exit_with(f'{name}: {exc}', rank=launch_rank(args.launcher))
    if args.out:
        if is_inside(cfg.work_dir, args.out):  # the runner's logs would sit in the submission folder
            exit_with(f'{name}: --out {args.out}: is or holds the work dir {cfg.work_dir} (logs, configs), so it '
                      'would not hold a submission only. Choose an --out outside the work dir, or another --work-dir')
        try:  # before the model is built; rank 0 looks, every rank follows
            rank0_decides(check_output_free, args.out.rstrip('/\\'), args.overwrite)
        except OSError as exc:
            exit_with(f'{name}: --out {exc}')
    runner = Runner.from_cfg(cfg)
    try:
        load_runner_checkpoint(runner, args.checkpoint, strict=not args.partial_load, config_name=args.config)
    except (CheckpointMismatchError, FileNotFoundError) as exc:
        exit_with(f'{name}: {exc}')
    metrics = runner.test()
    if args.out and runner.rank == 0:
        print(json.dumps(metrics, indent=2))
    finish_distributed()
    return metrics
