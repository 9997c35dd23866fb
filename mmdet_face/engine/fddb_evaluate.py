"""The pieces of ``tools/test_fddb.py``: score an FDDB detection file as the official ``evaluate`` program does
(:func:`score_detection_file`), and turn a model's config into an FDDB test run (:func:`fddb_test_cfg`). The command
line and its checks are the tool's.

Importing this module imports no torch or mmengine (the file readers come with :mod:`mmdet_face.datasets`, imported
on use).
"""
import os.path as osp
from typing import Optional, Sequence

import numpy as np


class FDDBInputError(ValueError):
    """An input of the FDDB scoring is malformed or inconsistent (the message names the file and line)."""


def _rectangles_as(dets: np.ndarray, height_scale: float, to_ellipse: bool) -> np.ndarray:
    from mmdet_face.evaluation.functional.fddb import boxes_to_fddb
    boxes = dets[:, :4].copy()
    boxes[:, 2:4] += boxes[:, 0:2]
    return boxes_to_fddb(boxes, dets[:, 4], height_scale, to_ellipse)


def load_detection_inputs(pred: str, gt: str, image_list: str, img_dir: str, det_format: str = 'rectangle',
                          image_ext: str = '.jpg', height_scale: float = 1.0, to_ellipse: bool = False):
    """Read what ``evaluate -d PRED -a GT -l LIST -i IMG_DIR -f FORMAT -z EXT`` reads; returns ``(names,
    annotations, detections, sizes, det_format)`` for :func:`mmdet_face.evaluation.functional.fddb.evaluate_fddb`
    (``det_format`` becomes ``'ellipse'`` with ``to_ellipse``).

    Every listed image needs its ellipses in ``gt`` (which may hold more images), an entry in ``pred`` (``0``
    detections is an entry) and its image file ``IMG_DIR/<name><image_ext>``; ``pred`` may hold no image that is
    not listed.

    Raises:
        FDDBInputError: naming the file and line of what is wrong.
        FileNotFoundError: an input file or a listed image is missing.
    """
    from mmdet_face.evaluation.functional.fddb_files import (parse_ellipse_list, parse_fddb_detections,
                                                           parse_fold_list)
    from mmdet_face.datasets.image_file import image_size
    for path, option in ((pred, '--pred'), (gt, '--gt'), (image_list, '--list')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{option} {path}: no such file')
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'--img-dir {img_dir}: no such folder')
    try:
        listed = parse_fold_list(image_list)
        annotations = {im['name']: im for im in parse_ellipse_list(gt)}
        detections = {im['name']: im for im in parse_fddb_detections(pred, det_format)}
    except ValueError as err:
        raise FDDBInputError(str(err)) from None
    names = [name for _, name in listed]
    for lineno, name in listed:
        if name not in annotations:
            raise FDDBInputError(f'{image_list}:{lineno}: image {name} has no ellipses in {gt}')
        if name not in detections:
            raise FDDBInputError(f'{image_list}:{lineno}: image {name} has no entry in {pred} (an image without '
                                 'detections is the name, then 0)')
    extra = [im for name, im in detections.items() if name not in set(names)]
    if extra:
        raise FDDBInputError(f'{pred}:{extra[0]["lineno"]}: image {extra[0]["name"]} is not in the list '
                             f'{image_list} ({len(extra)} such images); its detections would be ignored')
    sizes = {}
    for lineno, name in listed:
        path = osp.join(img_dir, name + image_ext)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{image_list}:{lineno}: expected the image file {path} (--img-dir {img_dir}, '
                                    f'--image-ext {image_ext})')
        width, height = image_size(path)
        sizes[name] = (height, width)
    dets = {name: detections[name]['regions'] for name in names}
    if det_format == 'rectangle' and (height_scale != 1.0 or to_ellipse):
        dets = {name: _rectangles_as(d, height_scale, to_ellipse) for name, d in dets.items()}
        det_format = 'ellipse' if to_ellipse else det_format
    return names, {name: annotations[name]['regions'] for name in names}, dets, sizes, det_format


def score_detection_file(pred: str, gt: str, image_list: str, img_dir: str, out_prefix: Optional[str] = None,
                         det_format: str = 'rectangle', image_ext: str = '.jpg', matching: str = 'official',
                         height_scale: float = 1.0, to_ellipse: bool = False, plot: Optional[str] = None,
                         overwrite: bool = False):
    """Score ``pred`` as the official program does; with ``out_prefix`` write ``PREFIXDiscROC.txt`` and
    ``PREFIXContROC.txt`` (refused when one exists, unless ``overwrite``: checked before anything is computed),
    with ``plot`` an image of both curves. Returns the :class:`~mmdet_face.evaluation.functional.fddb.FDDBResult`.
    """
    from mmdet_face.evaluation.functional.fddb import evaluate_fddb
    from mmdet_face.evaluation.functional.fddb_roc import plot_roc, roc_paths, write_roc_files
    from mmdet_face.utils.output_file import check_output_path
    inputs = (pred, gt, image_list)
    if out_prefix is not None:
        for path in roc_paths(out_prefix).values():
            check_output_path(path, overwrite, inputs)
    if plot is not None:
        check_output_path(plot, overwrite, inputs)
    names, annotations, detections, sizes, det_format = load_detection_inputs(
        pred, gt, image_list, img_dir, det_format, image_ext, height_scale, to_ellipse)
    result = evaluate_fddb(annotations, detections, sizes, det_format, names, matching)
    if out_prefix is not None:
        write_roc_files(out_prefix, result, overwrite, inputs)
    if plot is not None:
        plot_roc(result, plot, title=osp.basename(pred), overwrite=overwrite)
    return result


def fddb_test_cfg(cfg, fold_dir: str, img_dir: str, folds: Sequence[int], out_prefix: Optional[str] = None,
                  overwrite: bool = False, matching: str = 'official', height_scale: float = 1.0,
                  to_ellipse: bool = False, image_ext: str = '.jpg'):
    """``cfg`` (a model's config) set to test on the FDDB ``folds``: its test dataset becomes
    :class:`~mmdet_face.datasets.FDDBDataset` with the config's own test pipeline, batch size 1 (images of any
    size), and its test evaluator :class:`~mmdet_face.evaluation.metrics.FDDBMetric` alone."""
    from mmdet_face.engine.evaluate import innermost_dataset
    pipeline = innermost_dataset(cfg.test_dataloader.dataset).pipeline
    cfg.test_dataloader.dataset = dict(type='FDDBDataset', data_root='', ann_file=fold_dir, folds=list(folds),
                                       image_ext=image_ext, data_prefix=dict(img=img_dir), test_mode=True,
                                       pipeline=pipeline)
    cfg.test_dataloader.batch_size = 1
    cfg.test_evaluator = dict(type='FDDBMetric', fold_dir=fold_dir, folds=list(folds), outfile_prefix=out_prefix,
                              overwrite=overwrite, matching=matching, height_scale=height_scale,
                              to_ellipse=to_ellipse)
    return cfg
