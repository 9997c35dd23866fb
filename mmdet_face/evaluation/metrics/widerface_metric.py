"""mmengine metric for the WIDER FACE validation protocol (Easy / Medium / Hard AP).

The protocol itself lives in :mod:`mmdet_face.evaluation.functional.widerface` (numpy only); this class only
collects each image's detections (and, without official ``.mat`` files, its ground truth) across ranks.
"""
import os
import os.path as osp
import shutil
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmdet_face.registry import METRICS
from mmdet_face.utils.output_file import check_output_folder
from ..functional.widerface import SETTINGS, FlatGroundTruth, evaluate_widerface
from ..functional.widerface_gt_mat import load_ground_truth
from ..functional.widerface_report import dump_pr_curves
from ..functional.widerface_submission import write_submission
from .sample_fields import predicted_boxes, sample_field, to_numpy


def _xyxy_to_xywh(boxes):
    boxes = boxes.copy()
    boxes[:, 2:4] -= boxes[:, 0:2]
    return boxes


def sample_prediction(sample, metric_name: str) -> dict:
    """``{'event', 'name', 'pred'}`` of one data sample: the event is the image's folder name, the name its file
    stem, ``pred`` the ``(N, 5)`` ``[x, y, w, h, score]`` of ``pred_instances`` (original-image pixels)."""
    img_path = sample_field(sample, 'img_path')
    if img_path is None:
        raise KeyError(f'{metric_name} needs img_path in each data sample (event = parent folder name)')
    boxes, scores = predicted_boxes(sample)
    return {
        'event': osp.basename(osp.dirname(img_path)),
        'name': osp.splitext(osp.basename(img_path))[0],
        'pred': np.concatenate([_xyxy_to_xywh(boxes), scores[:, None]], axis=1),
    }


def replace_submission_folder(target: str, predictions: dict) -> None:
    """Write ``predictions`` (``{event: {name: (N, 5)}}``) as the submission folder ``target``: into a fresh sibling
    folder first, which then takes the place of ``target`` (whole), so a failed write leaves no half folder."""
    staging = f'{target}.writing-{os.getpid()}'
    if osp.exists(staging):
        shutil.rmtree(staging)
    try:
        write_submission(staging, predictions)
        if osp.isdir(target):
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if osp.exists(staging):  # a failed write leaves no half submission beside the output
            shutil.rmtree(staging, ignore_errors=True)


@METRICS.register_module()
class WiderFaceMetric(BaseMetric):
    """WIDER FACE Easy / Medium / Hard AP, computed exactly as the official evaluation kit does.

    Args:
        gt_dir (str, optional): folder with the official ``wider_face_val.mat`` and
            ``wider_{easy,medium,hard}_val.mat``. When None, the ground truth comes from the data samples:
            ``gt_instances.bboxes`` count and ``ignored_instances.bboxes`` are ignore faces (both x1y1x2y2 pixels
            of the original image, which holds when ``LoadAnnotations`` runs after ``Resize`` as in mmdet's test
            pipelines). Those have no Easy / Medium / Hard lists, so the metric then reports one AP over every
            annotated face as ``widerface/all`` (and says so), never an "easy/medium/hard" that is not the
            benchmark's. As in the official kit, detections in an image without any ground-truth box (counted or
            ignored) are skipped, not counted as false positives.
        outfile_prefix (str, optional): write the submission folder (``<event>/<image>.txt``) there, and the PR
            curves to ``<outfile_prefix>_pr_curves.json``.
        overwrite (bool): replace an existing, non-empty ``outfile_prefix`` folder (only one that holds a submission
            and nothing else) and its PR-curve file. Without it an existing one is refused when the metric is
            built, before any inference, so two runs are never mixed in one folder. A file, or a folder holding
            anything but a submission, is refused whatever ``overwrite`` says (:func:`check_output_free`). A folder
            this metric wrote itself (validation after each epoch) is always replaced whole.
        iou_thresh (float): 0.5 in the official protocol.
        collect_device, prefix: see :class:`mmengine.evaluator.BaseMetric`.

    Each data sample must carry ``img_path`` (event = parent folder name, image name = file stem) and
    ``pred_instances.bboxes`` (x1y1x2y2 float pixels in the original image) with ``pred_instances.scores``.
    Returns ``{'easy': ap, 'medium': ap, 'hard': ap}``, logged as ``widerface/easy`` etc. (``{'all': ap}`` without
    ``gt_dir``).
    """
    default_prefix: Optional[str] = 'widerface'

    def __init__(self,
                 gt_dir: Optional[str] = None,
                 outfile_prefix: Optional[str] = None,
                 iou_thresh: float = 0.5,
                 overwrite: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.gt_dir = gt_dir
        self.outfile_prefix = outfile_prefix.rstrip('/\\') if outfile_prefix else outfile_prefix
        self.iou_thresh = iou_thresh
        self.overwrite = overwrite
        self._flat_gt = None
        self._wrote_outfile = False
        if gt_dir is not None and not osp.isdir(gt_dir):
            raise FileNotFoundError(f'WiderFaceMetric: gt_dir {gt_dir} does not exist')
        if self.outfile_prefix:
            check_output_free(self.outfile_prefix, overwrite)

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            result = sample_prediction(sample, type(self).__name__)
            if self.gt_dir is None:
                result['gt'] = _xyxy_to_xywh(to_numpy(sample_field(sample_field(sample, 'gt_instances'), 'bboxes'), 4))
                result['ignore'] = _xyxy_to_xywh(
                    to_numpy(sample_field(sample_field(sample, 'ignored_instances'), 'bboxes'), 4))
            self.results.append(result)

    def compute_metrics(self, results: list) -> dict:
        logger = MMLogger.get_current_instance()
        predictions, seen, ground_truth = {}, set(), {'boxes': {}, 'settings': {s: {} for s in SETTINGS}}
        for res in results:
            key = (res['event'], res['name'])
            if key in seen:  # a sampler may pad ranks with repeats; each image counts once
                continue
            seen.add(key)
            predictions.setdefault(res['event'], {})[res['name']] = res['pred']
            if self.gt_dir is None:
                boxes = np.concatenate([res['gt'], res['ignore']])
                ground_truth['boxes'].setdefault(res['event'], {})[res['name']] = boxes
                keep = np.arange(len(res['gt']))
                for s in SETTINGS:
                    ground_truth['settings'][s].setdefault(res['event'], {})[res['name']] = keep
        if self.gt_dir is not None:
            if self._flat_gt is None:
                self._flat_gt = FlatGroundTruth(load_ground_truth(self.gt_dir))
            gt = self._flat_gt
        else:
            gt = ground_truth
        out = evaluate_widerface(predictions, gt, iou_thresh=self.iou_thresh)
        if self.outfile_prefix is not None:
            self._write_outputs(predictions, out)
            logger.info(f'WIDER FACE submission written to {self.outfile_prefix}')
        if self.gt_dir is None:
            # the three settings got identical lists above: one AP over all annotated faces
            logger.warning('WiderFaceMetric: no gt_dir with the official Easy/Medium/Hard lists, so the AP is over '
                           'every annotated face of the data samples (widerface/all), not the WIDER FACE settings')
            metrics = {'all': out['hard']}
        else:
            metrics = {s: out[s] for s in SETTINGS}
        logger.info('WIDER FACE AP: ' + ', '.join(f'{s} {v:.4f}' for s, v in metrics.items()))
        return metrics

    def _write_outputs(self, predictions: dict, out: dict) -> None:
        """Write the submission into a fresh sibling folder, then put it in place of the old one (whole)."""
        target = self.outfile_prefix
        curves = target + '_pr_curves.json'
        # checked again: another process may have written there since the metric was built
        check_output_free(target, self.overwrite or self._wrote_outfile)
        replace_submission_folder(target, predictions)
        dump_pr_curves(out, curves)
        self._wrote_outfile = True


def _foreign_entries(path: str, limit: int = 5) -> list:
    """Up to ``limit`` entries of the folder ``path`` that are no part of a submission ``<event>/<image>.txt``
    (paths relative to ``path``, folders with a trailing ``/``)."""
    foreign = []
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        if not entry.is_dir(follow_symlinks=False):
            foreign.append(entry.name)
        else:
            for sub in sorted(os.scandir(entry.path), key=lambda e: e.name):
                if not (sub.is_file(follow_symlinks=False) and sub.name.endswith('.txt')):
                    foreign.append(f'{entry.name}/{sub.name}' + ('/' if sub.is_dir() else ''))
                    if len(foreign) >= limit:
                        break
        if len(foreign) >= limit:
            break
    return foreign[:limit]


def check_output_free(outfile_prefix: str, overwrite: bool = False) -> None:
    """Raise before any inference when the submission folder ``outfile_prefix`` (and its PR-curve file
    ``<outfile_prefix>_pr_curves.json``) cannot be written without mixing two runs or destroying something else.

    Only a folder that holds a submission and nothing else is ever replaced, and only with ``overwrite``; an empty
    or missing folder is free.

    Raises:
        NotADirectoryError: ``outfile_prefix`` is a file or a symbolic link: never replaced, whatever ``overwrite``.
        FileExistsError: ``outfile_prefix`` holds files that are not a submission (some are named), whatever
            ``overwrite``; or holds a submission, or the PR-curve file exists, and ``overwrite`` is False; or the
            PR-curve file is a folder.
    """
    curves = outfile_prefix + '_pr_curves.json'
    fix = check_submission_folder_free(outfile_prefix, overwrite)
    if osp.isdir(curves):
        raise FileExistsError(f'{curves}: is a folder; the PR curves of the submission {outfile_prefix} are written '
                              'to this file name. Choose another output folder name.')
    if osp.lexists(curves) and not overwrite:
        raise FileExistsError(f'{curves}: already exists (the PR curves of an earlier run into {outfile_prefix}): '
                              'refusing to mix two runs. ' + fix)


def check_submission_folder_free(folder: str, overwrite: bool = False) -> str:
    """Raise when the submission folder ``folder`` cannot be written: the folder part of :func:`check_output_free`
    (a file or link never; a folder holding anything but a submission never; a submission only with
    ``overwrite``). Returns the sentence that tells the user how to replace a submission on purpose."""
    fix = ('Choose another folder, or replace it on purpose (tools: --overwrite; overwrite=True in the metric), '
           'which replaces the submission whole.')
    events = len(os.listdir(folder)) if osp.isdir(folder) and not osp.islink(folder) else 0
    check_output_folder(folder, overwrite, contents='a WIDER FACE submission (<event>/<image>.txt)',
                        holds=f'a submission ({events} event folder{"s" if events > 1 else ""})',
                        foreign_entries=_foreign_entries, fix=fix)
    return fix
