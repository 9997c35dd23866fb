"""Is the template's data there? Checked by ``search.py sample --data-root`` before the study is created and by
every worker before it trains its first trial, so that a wrong data root is one clear error instead of a study of
trials that all fail in their training subprocess.

The check builds the template's training and validation datasets with the package's own readers (which check the
annotation file's values and that every image it lists exists), decodes the first image of each, and reads the
WIDER FACE ground truth the validation metric is pointed at (``gt_dir``): exactly what a trial's ``tools/train.py``
would load first.
"""
import copy
import os.path as osp
from typing import List, Optional

from search_tools.study import REPO_ROOT, StudyError

LOADERS = (('train_dataloader', 'training'), ('val_dataloader', 'validation'))


def _absolute(path: str, root: str) -> str:
    """``path`` as the training subprocess sees it: it runs in ``root`` (the repository), so a relative path is
    relative to it."""
    return path if osp.isabs(path) else osp.join(root, path)


def data_problems(cfg, root: str = REPO_ROOT) -> List[str]:
    """What keeps ``cfg`` (an mmengine Config) from loading its training and validation data: one sentence per
    problem, naming the dataset, file or folder; empty when the data is usable. Relative paths are taken from
    ``root``, the working directory of the training subprocess. Changes neither ``cfg`` nor the default scope."""
    import mmdet_face.all_modules  # noqa: F401  (the datasets and transforms in the registries)
    from mmengine.registry import DefaultScope

    from mmdet_face.datasets.image_file import image_problem
    from mmdet_face.evaluation.functional.widerface_gt_mat import load_ground_truth
    from mmdet_face.registry import DATASETS
    problems = []
    for loader, what in LOADERS:
        if loader not in cfg:
            problems.append(f'the config has no {loader}')
            continue
        dataset_cfg = copy.deepcopy(cfg[loader].dataset.to_dict())
        data_root = dataset_cfg.get('data_root')
        if data_root:
            dataset_cfg['data_root'] = _absolute(data_root, root)
            if not osp.isdir(dataset_cfg['data_root']):
                problems.append(f'{what} data: data_root {data_root} is not a folder')
                continue
        try:
            with DefaultScope.overwrite_default_scope('mmdet_face'):
                dataset = DATASETS.build(dataset_cfg)
            num = len(dataset)
        except Exception as exc:  # noqa: BLE001  (the readers' own message names the file and line)
            problems.append(f'{what} data ({dataset_cfg.get("type")}, ann_file {dataset_cfg.get("ann_file")}): '
                            f'{type(exc).__name__}: {exc}')
            continue
        if num == 0:
            problems.append(f'{what} data: {dataset_cfg.get("ann_file")} lists no image')
            continue
        first = dataset.get_data_info(0).get('img_path')
        problem = image_problem(first) if first else None
        if problem:
            problems.append(f'{what} data: the first image {first} {problem}')
    evaluator = cfg.get('val_evaluator') or []
    for metric in evaluator if isinstance(evaluator, list) else [evaluator]:
        gt_dir = metric.get('gt_dir') if hasattr(metric, 'get') else None
        if metric.get('type') != 'WiderFaceMetric' or not gt_dir:
            continue
        try:
            load_ground_truth(_absolute(gt_dir, root))
        except Exception as exc:  # noqa: BLE001  (names the .mat file)
            problems.append(f'validation ground truth (WiderFaceMetric gt_dir {gt_dir}): {exc}')
    return problems


def check_data(cfg, what: str, root: str = REPO_ROOT, hint: Optional[str] = None) -> None:
    """Raise :class:`StudyError` listing :func:`data_problems` of ``cfg``; ``what`` says whose data it is (e.g.
    ``--data-root DIR``), ``hint`` what to do about it."""
    problems = data_problems(cfg, root)
    if problems:
        raise StudyError(f'{what} is not usable WIDER FACE-layout data (train/labelv2.txt + train/images/, '
                         'val/labelv2.txt + val/images/, val/gt/*.mat): ' + '; '.join(problems)
                         + (f'. {hint}' if hint else ''))
