"""mmengine metric for AFW and PASCAL Face: the AP of the evaluation toolbox of Mathias et al. (ECCV 2014), computed
by :func:`mmdet_face.evaluation.functional.face_pr.evaluate_face_pr` (numpy only) against the re-annotation file;
this class only collects each image's detections across ranks."""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmdet_face.registry import METRICS
from mmdet_face.utils.output_file import check_output_path
from ..functional.afw_pascal_files import ground_truth_by_key, load_face_eval_annotations, write_detections
from ..functional.face_pr import FACE_PR_MIN_SIZE, evaluate_face_pr, image_key
from .sample_fields import predicted_boxes, sample_field


@METRICS.register_module()
class AFWPascalMetric(BaseMetric):
    """AFW / PASCAL Face AP exactly as the face-eval toolbox's ``plot_AP.py`` computes it.

    Args:
        ann_file (str): the re-annotation file (``new_annotations_AFW.mat`` or
            ``Annotations_Face_PASCALLayout_large_fixed.mat``); every image in it counts, tested or not (a warning
            names how many were not).
        min_width, min_height (float): faces smaller than this are ignored (the toolbox's ``--minw`` / ``--minh``,
            30); detections of at most ``int(sqrt(0.5 * min_width * min_height))`` px both ways are dropped.
        iou_thresh (float): the overlap a true positive must exceed (0.5).
        iterations (int): the toolbox's ``--nit`` (5): evaluation runs, each but the last followed by the box
            adjustment.
        outfile (str, optional): also write the detections in the toolbox's format (``image_id score x1 y1 x2 y2``)
            there, so the official ``plot_AP.py`` can score them. An existing file is refused when the metric is
            built, unless ``overwrite``; a file this metric wrote itself (validation after each epoch) is replaced.
        collect_device, prefix: see :class:`mmengine.evaluator.BaseMetric` (the configs use ``afw`` / ``pascal``).

    Each data sample must carry ``img_path`` (its file name gives the image key, as the toolbox's
    ``name.split('.')[0]``) and ``pred_instances.bboxes`` (x1y1x2y2 float pixels of the original image) with
    ``pred_instances.scores``. Returns ``{'ap': ap}``.
    """
    default_prefix: Optional[str] = 'afw_pascal'

    def __init__(self,
                 ann_file: str,
                 min_width: float = FACE_PR_MIN_SIZE[0],
                 min_height: float = FACE_PR_MIN_SIZE[1],
                 iou_thresh: float = 0.5,
                 iterations: int = 5,
                 outfile: Optional[str] = None,
                 overwrite: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not osp.isfile(ann_file):
            raise FileNotFoundError(f'AFWPascalMetric: ann_file {ann_file} does not exist')
        self.ann_file = ann_file
        self.min_width, self.min_height = min_width, min_height
        self.iou_thresh = iou_thresh
        self.iterations = iterations
        self.outfile = outfile
        self.overwrite = overwrite
        self._ground_truth = None
        self._wrote_outfile = False
        if outfile:
            check_output_path(outfile, overwrite, inputs=(ann_file, ))

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            img_path = sample_field(sample, 'img_path')
            if img_path is None:
                raise KeyError('AFWPascalMetric needs img_path in each data sample (its file name is the image id)')
            boxes, scores = predicted_boxes(sample)
            self.results.append(dict(name=osp.basename(img_path), boxes=boxes, scores=scores))

    def compute_metrics(self, results: list) -> dict:
        logger = MMLogger.get_current_instance()
        if self._ground_truth is None:
            self._ground_truth = ground_truth_by_key(load_face_eval_annotations(self.ann_file), self.ann_file)
        gt = self._ground_truth
        names, keys, scores, boxes, seen = [], [], [], [], set()
        for res in results:
            key = image_key(res['name'])
            if key in seen:  # a sampler may pad ranks with repeats; each image counts once
                continue
            seen.add(key)
            names += [res['name']] * len(res['scores'])
            keys += [key] * len(res['scores'])
            scores.append(res['scores'])
            boxes.append(res['boxes'])
        scores = np.concatenate(scores) if scores else np.zeros(0)
        boxes = np.concatenate(boxes) if boxes else np.zeros((0, 4))
        untested = len(set(gt) - seen)
        if untested:
            logger.warning(f'AFWPascalMetric: {untested} of the {len(gt)} images of {self.ann_file} were not tested; '
                           'their faces count as misses')
        out = evaluate_face_pr(gt, keys, scores, boxes, min_width=self.min_width, min_height=self.min_height,
                               iou_thresh=self.iou_thresh, iterations=self.iterations)
        if self.outfile:
            write_detections(self.outfile, names, scores, boxes, overwrite=self.overwrite or self._wrote_outfile)
            self._wrote_outfile = True
            logger.info(f'detections written to {self.outfile} (face-eval toolbox format)')
        logger.info(f'AFW / PASCAL Face AP ({osp.basename(self.ann_file)}): {out["ap"]:.4f} over {out["num_gt"]} '
                    f'faces, {len(out["tp"])} detections')
        return {'ap': out['ap']}
