"""The pieces of the model-running test tool (``tools/test.py``, also run as ``tools/test_widerface.py``): score a
WIDER FACE submission folder, build the test config (``--mode`` test scale, ``--tta`` views, the WIDER FACE
evaluator), run the model through mmengine's test loop. The command line, its options and their checks are the
tool's; the options are documented there.

Importing this module imports no torch, mmengine or mmdet: scoring a submission folder stays numpy-only; running a
model imports the rest when it starts. Messages that a tool shows start with ``prog``, the program the user ran.
"""
import json
import os
import os.path as osp
import sys

from mmdet_face.utils.output_file import is_inside


def _said_by(prog, message):
    return f'{prog}: {message}' if prog else message


def score_submission(pred_dir, gt_dir, json_path=None, prog=None):
    """Score the submission folder ``pred_dir``; a folder that cannot be scored (missing, malformed, or matching
    no ground-truth image) ends the tool with a message saying what was found."""
    import mmdet_face.evaluation.functional as wf
    try:
        results = wf.evaluate_widerface(pred_dir, gt_dir)
    except (OSError, ValueError) as err:  # the messages name the file and what was expected
        sys.exit(_said_by(prog, err))
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


def innermost_dataset(dataset_cfg):
    while 'dataset' in dataset_cfg:  # ConcatDataset / RepeatDataset wrappers
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def set_test_scale(cfg, mode, size, max_size=None, max_size_mode='area'):
    """Replace the resize step of the test pipeline (the first whose type is in ``RESIZE_TYPES``).
    ``max_size`` (``mode='origin'`` only) caps the original scale as in :func:`capped_scale_factor`. A pipeline
    without a resize step is a ``ValueError``."""
    from mmdet_face.datasets.transforms.capped_test_scales import cap_from_max_size, resize_step_index
    pipeline = innermost_dataset(cfg.test_dataloader.dataset).pipeline
    i = resize_step_index(pipeline)
    if i is None:
        raise ValueError('--mode: no Resize step in cfg.test_dataloader.dataset.pipeline')
    resize_type = pipeline[i]['type']  # keep the (keypoint-aware) transform the config chose
    if max_size and mode == 'origin':
        max_area_side, max_long_side = cap_from_max_size(max_size, max_size_mode)
        pipeline[i] = dict(type='WiderFaceCappedResize', scale_factor=1.0, max_area_side=max_area_side,
                           max_long_side=max_long_side, resize_type=resize_type)
    else:
        pipeline[i] = _resize_step(resize_type, mode, size)
    return cfg


def set_tta(cfg, scales=(1.0,), merge='nms', iou_threshold=None, max_size=None, max_size_mode='area', prog=None):
    """Multi-scale + flip test-time augmentation: every ``scale`` (a factor of the original image size) with and
    without a horizontal flip, merged by ``FaceTTAModel`` with NMS or box voting. A config's own
    ``tta_model`` / ``tta_pipeline`` take precedence. ``max_size`` clips the scales per image
    (:func:`tta_scale_factors`); the views then vary per image, so the test batch size becomes 1 (said with
    ``prog``). A pipeline without a resize step is a ``ValueError``."""
    from copy import deepcopy

    from mmengine.config import ConfigDict

    from mmdet_face.datasets.transforms.capped_test_scales import cap_from_max_size, resize_step_index
    if 'tta_model' not in cfg:
        tta_cfg = dict(merge=merge)
        if iou_threshold is not None:
            tta_cfg['iou_threshold'] = iou_threshold
        elif merge == 'vote':
            tta_cfg['iou_threshold'] = 0.3  # the S3FD / SRN voting scripts
        cfg.tta_model = dict(type='FaceTTAModel', tta_cfg=tta_cfg)
    if 'tta_pipeline' not in cfg:
        pipeline = deepcopy(innermost_dataset(cfg.test_dataloader.dataset).pipeline)
        resize_index = resize_step_index(pipeline)
        if resize_index is None:
            raise ValueError('--tta: no Resize step in cfg.test_dataloader.dataset.pipeline')
        resize_type = pipeline[resize_index]['type']
        after = pipeline[resize_index + 1:]
        if max_size:
            cfg.tta_pipeline = pipeline[:resize_index] + [
                dict(type='WiderFaceCappedTTA', scales=[float(s) for s in scales],
                     **dict(zip(('max_area_side', 'max_long_side'), cap_from_max_size(max_size, max_size_mode))),
                     resize_type=resize_type, flip=True, transforms=after)]
            if cfg.test_dataloader.get('batch_size', 1) != 1:
                print(_said_by(prog, '--max-size gives each image its own views; test batch size set to 1'))
            cfg.test_dataloader.batch_size = 1
        else:
            resizes = [dict(type=resize_type, scale_factor=float(s), keep_ratio=True) for s in scales]
            flip_type = 'FaceRandomFlip' if 'Face' in str(resize_type) else 'RandomFlip'
            flips = [dict(type=flip_type, prob=1.), dict(type=flip_type, prob=0.)]
            cfg.tta_pipeline = pipeline[:resize_index] + [
                dict(type='TestTimeAug', transforms=[resizes, flips] + [[step] for step in after])]
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    innermost_dataset(cfg.test_dataloader.dataset).pipeline = cfg.tta_pipeline
    return cfg


def build_test_cfg(args, prog=None):
    """The config of a model run from the test tool's parsed ``args``; a config that cannot take the options ends
    the tool with a message."""
    from mmdet_face.engine.cli import tool_config
    if 'load_from' in (args.cfg_options or {}):
        raise SystemExit('error: --cfg-options load_from: the test tool loads the CHECKPOINT argument (strictly); '
                         'give the checkpoint there')
    dataset_config = getattr(args, 'dataset_config', None)
    cfg = tool_config(args.config, args.launcher, None if dataset_config else args.cfg_options, args.work_dir)
    if dataset_config:
        use_test_dataset(cfg, dataset_config, args.cfg_options)
    cfg.load_from = None  # loaded strictly by main(), not by the runner (which loads whatever keys match)
    try:
        if args.mode:
            set_test_scale(cfg, args.mode, args.size, None if args.tta else args.max_size, args.max_size_mode)
        if args.tta:
            set_tta(cfg, args.tta_scales, args.tta_merge, args.tta_iou, args.max_size, args.max_size_mode, prog)
    except ValueError as exc:
        raise SystemExit(_said_by(prog, f'{args.config}: {exc}')) from None
    if getattr(args, 'submission', None):
        cfg.test_evaluator = submission_evaluator(cfg, args.submission, args.zip, args.image_list, args.image_root,
                                                  args.overwrite)
    elif not dataset_config:
        cfg.test_evaluator = widerface_evaluator(cfg.get('test_evaluator'), args.gt_dir, args.out, args.overwrite,
                                                 prog)
    if getattr(args, 'onnx', None):
        import mmdet_face.deployment.onnx_face_model  # noqa: F401  (registers OnnxFaceModel)
        cfg.model = dict(type='OnnxFaceModel', detector=cfg.model, onnx=args.onnx, config_name=args.config,
                         ort_threads=getattr(args, 'ort_threads', None))
    return cfg


def submission_evaluator(cfg, submission, zip_file=None, image_list=None, image_root=None, overwrite=False):
    """The test evaluator of a WIDER FACE test submission: one ``WiderFaceSubmissionMetric`` writing the folder
    ``submission`` for the images of the test dataset, checked against its list when that is an official image list
    (``wider_face_test_filelist.txt``; else against the images the model saw) and zipped (``zip_file``, default
    ``<submission>.zip``); the config's own metrics are dropped (the test split has no ground truth).
    ``image_list`` / ``image_root`` (``wider_face_test_filelist.txt`` and the ``images/`` folder it is relative to)
    replace the test dataset's annotation file and image folder, which keeps its pipeline."""
    dataset = innermost_dataset(cfg.test_dataloader.dataset)
    if image_list:
        dataset.ann_file = osp.abspath(image_list)
        dataset.ann_format = None  # detected: the official list, or any annotation file the readers take
        dataset.data_prefix = dict(img=osp.abspath(image_root))
        dataset.test_mode = True
    return [dict(type='WiderFaceSubmissionMetric', outfile_prefix=submission.rstrip('/\\'),
                 image_list=_image_list_of(dataset), zip_file=zip_file, overwrite=overwrite)]


def _image_list_of(dataset):
    """The path of the dataset's annotation file when it is an official image list (``wider_filelist``, given or
    detected), which the submission is then checked against; else None (the images the model saw are the list)."""
    from mmdet_face.datasets.formats import detect_format
    ann_file = dataset.get('ann_file')
    if not ann_file:
        return None
    if not osp.isabs(ann_file) and dataset.get('data_root'):
        ann_file = osp.join(dataset.data_root, ann_file)
    ann_format = dataset.get('ann_format') or (detect_format(ann_file) if osp.isfile(ann_file) else None)
    return ann_file if ann_format == 'wider_filelist' else None


def use_test_dataset(cfg, dataset_config, cfg_options=None):
    """Test the model of ``cfg`` on another benchmark: the dataset of ``cfg.test_dataloader`` and ``test_evaluator``
    become those of the dataset config file ``dataset_config`` (``configs/_base_/datasets/afw.py``...), the model's
    test pipeline stays (its scale and steps are part of the model's protocol; the dataset config's pipeline is
    used when the model config has none); then ``cfg_options`` are merged. A dataset config without
    ``test_dataloader`` / ``test_evaluator`` ends the tool with a message."""
    from mmdet_face.engine.cli import read_tool_config
    from mmdet_face.utils.config_file import CfgOptionsError, merge_cfg_options
    data_cfg = read_tool_config(dataset_config)
    missing = [key for key in ('test_dataloader', 'test_evaluator') if key not in data_cfg]
    if missing:
        raise SystemExit(f'error: --dataset-config {dataset_config}: defines no {" / ".join(missing)}; expected a '
                         'dataset config such as configs/_base_/datasets/afw.py')
    model_dataset = innermost_dataset(cfg.test_dataloader.dataset) if cfg.get('test_dataloader') else {}
    dataset = data_cfg.test_dataloader.dataset
    if model_dataset.get('pipeline') is not None:
        innermost_dataset(dataset).pipeline = model_dataset['pipeline']
    test_dataloader = cfg.get('test_dataloader') or data_cfg.test_dataloader
    test_dataloader.dataset = dataset
    cfg.test_dataloader = test_dataloader
    cfg.test_evaluator = data_cfg.test_evaluator
    try:
        return merge_cfg_options(cfg, cfg_options)
    except CfgOptionsError as err:
        raise SystemExit(f'error: {err}') from None


# the metrics of the other benchmarks: a config testing with one of them gets no WiderFaceMetric added
OTHER_BENCHMARK_METRICS = ('FDDBMetric', 'AFWPascalMetric')


def check_onnx_file(cfg, prog=None):
    """``--onnx``: refuse a missing, damaged or other-family ONNX file before the runner starts (and writes its work
    dir): the config's head is built and :class:`~mmdet_face.deployment.onnx_runtime.OnnxNetwork` reads the file."""
    from mmengine.registry import DefaultScope

    from mmdet_face.deployment.onnx_runtime import OnnxNetwork
    from mmdet_face.registry import MODELS
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet_face')):
        head = MODELS.build(cfg.model.detector.bbox_head)
    try:
        OnnxNetwork(cfg.model.onnx, head, config_name=cfg.model.config_name)
    except (OSError, ValueError) as exc:
        raise SystemExit(_said_by(prog, exc)) from None


def widerface_evaluator(evaluator, gt_dir=None, out=None, overwrite=False, prog=None):
    """The config's test evaluator (a metric or a list of them, all kept) with its ``WiderFaceMetric`` given
    ``gt_dir`` (when set; else the config's own) and the output folder; a ``WiderFaceMetric`` is added when the
    config has none, unless it writes a test submission (``WiderFaceSubmissionMetric``, kept as it is) or tests on
    another benchmark (a metric of ``OTHER_BENCHMARK_METRICS``: then the evaluator is kept as it is, and ``gt_dir`` /
    ``out``, which are WIDER FACE's, are refused). Without a ground-truth folder from either place the metric reports
    a single AP over all annotated faces (``widerface/all``), since the Easy / Medium / Hard lists exist only in the
    official files."""
    from copy import deepcopy
    if evaluator is None:
        metrics = []
    elif isinstance(evaluator, dict) and 'metrics' in evaluator:  # dict(type='Evaluator', metrics=[...])
        metrics = evaluator['metrics']
    else:
        metrics = evaluator
    metrics = [deepcopy(m) for m in (metrics if isinstance(metrics, (list, tuple)) else [metrics])]
    wider = [m for m in metrics if str(m.get('type', '')).split('.')[-1] == 'WiderFaceMetric']
    if not wider and any(str(m.get('type', '')).split('.')[-1] == 'WiderFaceSubmissionMetric' for m in metrics):
        return metrics  # a test-split config (widerface_test.py): a submission, no ground truth to score
    if not wider and any(str(m.get('type', '')).split('.')[-1] in OTHER_BENCHMARK_METRICS for m in metrics):
        if gt_dir is not None or out is not None:
            raise SystemExit(_said_by(prog, '--gt-dir / --out apply to the WIDER FACE metric, and this config tests '
                                      'with another benchmark\'s (its outputs: test_evaluator.outfile_prefix)'))
        return metrics  # a config that tests on another benchmark (e.g. configs/_base_/datasets/fddb.py)
    if not wider:
        wider = [dict(type='WiderFaceMetric')]
        metrics.insert(0, wider[0])
    for metric in wider:
        if gt_dir is not None:
            metric['gt_dir'] = gt_dir
        metric['outfile_prefix'] = out
        metric['overwrite'] = overwrite
    if not wider[0].get('gt_dir'):
        print(_said_by(prog, 'no WIDER FACE ground-truth folder (--gt-dir or the config\'s WiderFaceMetric.gt_dir): '
                       'the AP is over all annotated faces, not Easy / Medium / Hard'))
    return metrics


def end_process() -> None:
    """For the test tools' ``__main__``, last: a distributed model run ends its process with
    :func:`mmdet_face.engine.dist.end_distributed_process`; scoring a submission folder, which never loads that
    module (nor torch), ends normally."""
    dist = sys.modules.get('mmdet_face.engine.dist')
    if dist is not None:
        dist.end_distributed_process()


def _check_submission_outputs(args, cfg, prog=None):
    """Before the model is built: the ``--submission`` folder and its archive can be written (rank 0 looks, every
    rank follows), and the folder is not, nor holds, the work dir."""
    from mmdet_face.engine.dist import exit_with, rank0_decides
    from mmdet_face.evaluation.metrics.widerface_metric import check_submission_folder_free
    from mmdet_face.utils.output_file import OutputExistsError, check_output_path
    folder = args.submission.rstrip('/\\')
    if is_inside(cfg.work_dir, folder):
        exit_with(_said_by(prog, f'--submission {folder}: is or holds the work dir {cfg.work_dir} (logs, configs), '
                           'so it would not hold a submission only. Choose a folder outside the work dir, or another '
                           '--work-dir'))
    try:
        rank0_decides(check_submission_folder_free, folder, args.overwrite)
    except OSError as exc:
        exit_with(_said_by(prog, f'--submission {exc}'))
    zip_file = args.zip or folder + '.zip'
    try:
        rank0_decides(check_output_path, zip_file, args.overwrite)
    except OutputExistsError:
        exit_with(_said_by(prog, f'--zip {zip_file}: already exists and was left unchanged; choose another --zip, or '
                           'replace the submission and its archive on purpose with --overwrite'))
    except OSError as exc:
        exit_with(_said_by(prog, f'--zip {exc}'))


def run_model(args, prog=None):
    """Run the model of the test tool's parsed ``args`` through mmengine's test loop and score it; returns the
    metrics (rank 0 prints them). Under ``--launcher pytorch|slurm|mpi`` the process group is started first
    (:func:`mmdet_face.engine.dist.init_distributed`: NCCL on GPUs, gloo on CPU-only machines); each rank tests its
    share of the images, the metric gathers them and rank 0 alone scores and writes ``--out``. Every message that
    ends the run starts with ``prog``."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    import mmdet_face
    from mmdet_face.apis.checkpoint import CheckpointMismatchError, load_runner_checkpoint
    from mmdet_face.engine.dist import (LaunchError, exit_with, exit_with_launcher, finish_distributed,
                                        init_distributed, launch_rank, rank0_decides)
    from mmdet_face.evaluation.metrics.widerface_metric import check_output_free
    from mmengine.runner import Runner

    exit_with_launcher(args.launcher)  # a rank ends when its launcher dies
    mmdet_face.register_all_modules(init_default_scope=False)
    cfg = build_test_cfg(args, prog)
    try:
        init_distributed(cfg, args.launcher)
    except LaunchError as exc:
        exit_with(_said_by(prog, exc), rank=launch_rank(args.launcher))
    if getattr(args, 'submission', None):
        _check_submission_outputs(args, cfg, prog)
    if args.out:
        if is_inside(cfg.work_dir, args.out):  # the runner's logs would sit in the submission folder
            exit_with(_said_by(prog, f'--out {args.out}: is or holds the work dir {cfg.work_dir} (logs, configs), so '
                               'it would not hold a submission only. Choose an --out outside the work dir, or another '
                               '--work-dir'))
        try:  # before the model is built; rank 0 looks, every rank follows
            rank0_decides(check_output_free, args.out.rstrip('/\\'), args.overwrite)
        except OSError as exc:
            exit_with(_said_by(prog, f'--out {exc}'))
    if getattr(args, 'onnx', None):
        check_onnx_file(cfg, prog)
    runner = Runner.from_cfg(cfg)
    try:
        if not getattr(args, 'onnx', None):  # an ONNX file holds its weights
            load_runner_checkpoint(runner, args.checkpoint, strict=not args.partial_load, config_name=args.config)
    except (CheckpointMismatchError, FileNotFoundError) as exc:
        exit_with(_said_by(prog, exc))
    from mmdet_face.evaluation.metrics.widerface_submission_metric import SubmissionCheckError
    try:
        metrics = runner.test()
    except SubmissionCheckError as exc:
        exit_with(_said_by(prog, exc))
    if args.out and runner.rank == 0:
        print(json.dumps(metrics, indent=2))
    finish_distributed()
    return metrics
