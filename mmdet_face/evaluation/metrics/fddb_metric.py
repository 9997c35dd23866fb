"""mmengine metric for FDDB: the true-positive rate at 1,000 false positives of the discrete and continuous ROC, with
the ten folds (or the chosen ones) pooled, as the official ``evaluate`` program computes it.

The protocol lives in :mod:`mmdet_face.evaluation.functional.fddb` (numpy only); this class collects each image's
detections across ranks, reads the ellipses of the fold files and writes the official outputs.
"""
import os.path as osp
from typing import Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmdet_face.evaluation.functional.fddb_files import NUM_FOLDS, read_fddb_folds
from mmdet_face.registry import METRICS
from mmdet_face.utils.output_file import check_output_path
from ..functional.fddb import DET_FORMATS, FDDB_MAX_FP, MATCHING_METHODS, boxes_to_fddb, evaluate_fddb, tpr_at_fp
from ..functional.fddb_detections import write_fddb_detections
from ..functional.fddb_roc import format_headline, roc_paths, write_roc_files
from .sample_fields import predicted_boxes, sample_field


@METRICS.register_module()
class FDDBMetric(BaseMetric):
    """FDDB discrete and continuous TPR at ``max_fp`` false positives (official protocol).

    Args:
        fold_dir: the folder of the extracted ``FDDB-folds.tgz`` (``FDDB-fold-XX.txt`` and
            ``FDDB-fold-XX-ellipseList.txt``).
        folds: 1-based folds scored (default all ten, pooled as the benchmark does).
        outfile_prefix: also write ``PREFIXDiscROC.txt`` / ``PREFIXContROC.txt`` (the official layout) and the
            detections as ``PREFIXDets.txt`` (the official program's input layout). Existing files are refused when
            the metric is built, before any inference, unless ``overwrite``.
        matching: ``'official'`` (the program's solver, default) or ``'optimal'``.
        height_scale, to_ellipse: conversions some papers apply to boxes (off by default; see
            :func:`mmdet_face.evaluation.functional.fddb.boxes_to_fddb`).
        max_fp: the false-positive count of the reported rates (1000 in papers).

    Each data sample must carry ``img_id`` (the FDDB image name), ``ori_shape`` and ``pred_instances.bboxes``
    (x1y1x2y2 pixels of the original image) with ``pred_instances.scores``. Images of the folds that no sample
    covered are left out of the ROC (a partial run scores what it ran). Returns ``{'discrete_tpr': .., 
    'continuous_tpr': ..}``, logged as ``fddb/discrete_tpr`` etc.
    """
    default_prefix: Optional[str] = 'fddb'

    def __init__(self,
                 fold_dir: str,
                 folds: Sequence[int] = tuple(range(1, NUM_FOLDS + 1)),
                 outfile_prefix: Optional[str] = None,
                 overwrite: bool = False,
                 matching: str = 'official',
                 height_scale: float = 1.0,
                 to_ellipse: bool = False,
                 max_fp: float = FDDB_MAX_FP,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if matching not in MATCHING_METHODS:
            raise ValueError(f'FDDBMetric: matching must be one of {MATCHING_METHODS}, got {matching!r}')
        if not height_scale > 0:
            raise ValueError(f'FDDBMetric: height_scale must be > 0, got {height_scale}')
        if not osp.isdir(fold_dir):
            raise FileNotFoundError(f'FDDBMetric: fold_dir {fold_dir} does not exist (expected the extracted '
                                    'FDDB-folds.tgz)')
        self.images = read_fddb_folds(fold_dir, folds)
        self.fold_dir, self.folds = fold_dir, tuple(folds)
        self.outfile_prefix, self.overwrite = outfile_prefix, overwrite
        self.matching, self.height_scale, self.to_ellipse, self.max_fp = matching, height_scale, to_ellipse, max_fp
        self.det_format = DET_FORMATS[1] if to_ellipse else DET_FORMATS[0]
        self._wrote = False
        if outfile_prefix:
            for path in self._output_paths():
                check_output_path(path, overwrite)

    def _output_paths(self):
        return [*roc_paths(self.outfile_prefix).values(), self.outfile_prefix + 'Dets.txt']

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            img_id = sample_field(sample, 'img_id')
            shape = sample_field(sample, 'ori_shape')
            if img_id is None or shape is None:
                raise KeyError('FDDBMetric needs img_id (the FDDB image name) and ori_shape in each data sample')
            boxes, scores = predicted_boxes(sample)
            dets = boxes_to_fddb(boxes, scores, self.height_scale, self.to_ellipse)
            self.results.append(dict(name=str(img_id), size=(int(shape[0]), int(shape[1])), dets=dets))

    def compute_metrics(self, results: list) -> dict:
        logger = MMLogger.get_current_instance()
        detections, sizes = {}, {}
        for res in results:  # a sampler may pad ranks with repeats; each image counts once
            detections.setdefault(res['name'], res['dets'])
            sizes.setdefault(res['name'], res['size'])
        annotations = {im['name']: im['regions'] for im in self.images}
        unknown = sorted(set(detections) - set(annotations))
        if unknown:
            raise ValueError(f'FDDBMetric: {len(unknown)} images are not in folds {list(self.folds)} of '
                             f'{self.fold_dir}, e.g. {unknown[0]}')
        names = [im['name'] for im in self.images if im['name'] in detections]
        if len(names) < len(self.images):
            logger.warning(f'FDDBMetric: {len(self.images) - len(names)} of the {len(self.images)} images of folds '
                           f'{list(self.folds)} were not tested; the ROC is over the {len(names)} tested ones')
        result = evaluate_fddb(annotations, detections, sizes, self.det_format, names, self.matching)
        if self.outfile_prefix:
            overwrite = self.overwrite or self._wrote
            write_roc_files(self.outfile_prefix, result, overwrite)
            write_fddb_detections(self.outfile_prefix + 'Dets.txt', detections, names, overwrite)
            self._wrote = True
            logger.info(f'FDDB ROC files written to {self.outfile_prefix}DiscROC.txt / ContROC.txt')
        disc, cont = tpr_at_fp(result, self.max_fp)
        logger.info(format_headline(result, self.max_fp))
        return {'discrete_tpr': disc, 'continuous_tpr': cont}
