"""WIDER FACE for face detectors with five landmarks: :class:`WiderFaceDataset` reads any of the annotation
formats of :mod:`mmdet_face.datasets.formats` (detected from the content or forced with ``ann_format``), or an
image list without annotations (the test split, ``ann_format='wider_filelist'``).

:class:`WiderFaceDataset` fits the boxes to the image: a box partly outside the image is clipped to it, a box
of zero width or height (after clipping, so also one entirely outside) is dropped together with its landmarks;
one line per annotation file reports how many (``print_log``).

``RetinaFaceDataset`` is the deprecated registered name of the same dataset, kept for configs dumped by earlier
versions (work dirs, checkpoints' embedded configs); it warns once.
"""
import logging
import os.path as osp
import warnings
from typing import List, Optional, Tuple

from mmdet.datasets import BaseDetDataset
from mmengine.logging import print_log

from mmdet_face.registry import DATASETS

from .formats import ANN_FORMATS, PARSERS, detect_format
from .formats.common import fit_faces, record_location
from .image_file import UnreadableImageError, image_problem, image_size


@DATASETS.register_module()
class WiderFaceDataset(BaseDetDataset):
    """WIDER FACE with boxes, 5 landmarks and ignore boxes.

    ``data_list`` entries::

        dict(img_path, img_id='<event>/<stem>', width, height,
             instances=[dict(bbox=[x1, y1, x2, y2], bbox_label=0, ignore_flag=0|1,
                             keypoints=[[x, y]] * 5, keypoints_weights=[0|1] * 5)])

    Boxes partly outside the image are clipped to it; boxes of zero width or height after clipping are dropped with
    their landmarks (a count per annotation file is logged).

    Args:
        ann_file: ``labelv2.txt``, RetinaFace ``label.txt`` or ``wider_face_*_bbx_gt.txt`` (relative to
            ``data_root``).
        min_size: faces with ``min(w, h) < min_size`` become ignore boxes.
        filter_empty_gt: drop images without a non-ignore face (training only; ``filter_cfg=dict(
            filter_empty_gt=True)`` works too).
        ann_format: ``'labelv2'``, ``'retinaface_gt'``, ``'wider_gt'``, ``'wider_filelist'`` or ``None`` (detect
            from content, see :func:`detect_format`). ``'wider_filelist'`` is an image list without annotations
            (the WIDER FACE test split's ``wider_face_split/wider_face_test_filelist.txt``): every image has no
            instances, so it is read in ``test_mode`` only (runs that write predictions, a submission), never for
            training (``ValueError``).
        check_images: raise ``FileNotFoundError`` for an image listed but missing (default True).
        skip_unreadable_images: in training, an image that cannot be read or decoded (empty or corrupt file) is
            skipped with a warning naming it, and mmengine's ``BaseDataset`` takes another random image. Default
            ``False``: :class:`UnreadableImageError` naming the image. Never skipped in ``test_mode`` (it would
            change the evaluation).
    """
    METAINFO = dict(classes=('face', ), palette=[(0, 255, 0)])
    ANN_FORMATS = ANN_FORMATS

    def __init__(self,
                 *args,
                 min_size: Optional[float] = None,
                 filter_empty_gt: bool = False,
                 ann_format: Optional[str] = None,
                 check_images: bool = True,
                 skip_unreadable_images: bool = False,
                 data_prefix: dict = dict(img='images/'),
                 **kwargs) -> None:
        if ann_format not in (None, ) + self.ANN_FORMATS:
            raise ValueError(f'ann_format must be None or one of {self.ANN_FORMATS}, got {ann_format!r}')
        self.min_size = min_size
        self.filter_empty_gt = filter_empty_gt
        self.ann_format = ann_format
        self.check_images = check_images
        self.skip_unreadable_images = skip_unreadable_images
        self._warned_unreadable = set()
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    def _skip_unreadable(self) -> bool:
        return self.skip_unreadable_images and not self.test_mode

    def parse_annotations(self) -> Tuple[str, List[dict]]:
        """``(format, per-image records of :mod:`.formats`)`` of ``ann_file``."""
        ann_format = self.ann_format or detect_format(self.ann_file)
        if ann_format == 'wider_filelist' and not self.test_mode:
            raise ValueError(f'{self.ann_file}: an image list without annotations (wider_filelist) has no faces to '
                             'train on; it is read with test_mode=True (a test split that writes a submission)')
        return ann_format, PARSERS[ann_format](self.ann_file)

    def load_data_list(self) -> List[dict]:
        ann_format, images = self.parse_annotations()
        if not images:
            raise ValueError(f'{self.ann_file}: no images in {self.ann_file} (expected {ann_format} annotations of '
                             'at least one image)')
        img_root = self.data_prefix.get('img', '')
        data_list = []
        num_clipped = num_dropped = 0
        for image in images:
            img_path = osp.join(img_root, image['name'])
            where = record_location(image, self.ann_file)
            if self.check_images and not osp.isfile(img_path):
                raise FileNotFoundError(f'{where}: expected the image file {img_path} to exist')
            width, height = image['width'], image['height']
            if width is None:
                try:
                    width, height = image_size(img_path)
                except Exception as e:
                    if self._skip_unreadable():
                        print_log(f'{where}: cannot read the size of the image {img_path} ({type(e).__name__}: '
                                  f'{e}); skipped (skip_unreadable_images=True)', logger='current',
                                  level=logging.WARNING)
                        continue
                    raise UnreadableImageError(f'{where}: cannot read the size of the image {img_path} '
                                               f'({type(e).__name__}: {e})') from e
            faces, clipped, dropped = fit_faces(image['faces'], width, height)
            num_clipped += clipped
            num_dropped += dropped
            instances = []
            for bbox, keypoints, weights, ignore in faces:
                if self.min_size is not None and min(bbox[2] - bbox[0], bbox[3] - bbox[1]) < self.min_size:
                    ignore = True
                instances.append(dict(bbox=bbox.tolist(), bbox_label=0, ignore_flag=int(ignore),
                                      keypoints=keypoints.tolist(), keypoints_weights=weights.tolist()))
            data_list.append(dict(img_path=img_path, img_id=osp.splitext(image['name'])[0], width=width,
                                  height=height, instances=instances))
        if num_clipped or num_dropped:
            print_log(f'{self.ann_file}: {num_clipped} boxes clipped to the image, {num_dropped} dropped (zero size '
                      'or outside the image)', logger='current', level=logging.WARNING)
        if not data_list:
            raise ValueError(f'{self.ann_file}: no images in {self.ann_file} left after skipping unreadable ones')
        return data_list

    def filter_data(self) -> List[dict]:
        if self.test_mode:
            return self.data_list
        filter_cfg = self.filter_cfg or {}
        if not (self.filter_empty_gt or filter_cfg.get('filter_empty_gt', False)):
            return self.data_list
        kept = [d for d in self.data_list if any(not inst['ignore_flag'] for inst in d['instances'])]
        if not kept:
            raise ValueError(f'{self.ann_file}: no image with a non-ignore face among its {len(self.data_list)} '
                             'images; filter_empty_gt=True would leave an empty training set')
        return kept

    def prepare_data(self, idx: int):
        """Run the pipeline; an image that cannot be read or decoded raises :class:`UnreadableImageError` naming it
        (or, with ``skip_unreadable_images`` in training, is skipped with a warning: ``None`` makes mmengine's
        ``BaseDataset.__getitem__`` take another image)."""
        data_info = self.get_data_info(idx)
        img_path = data_info.get('img_path')
        try:
            return self.pipeline(data_info)
        except Exception as exc:
            # Only a failure whose cause is the image file itself is translated; any other error propagates.
            problem = image_problem(img_path, self.backend_args) if img_path else None
            if problem is None:
                raise
            if self._skip_unreadable():
                if img_path not in self._warned_unreadable:  # once per image and process
                    self._warned_unreadable.add(img_path)
                    print_log(f'{img_path}: the image {problem}; skipped (skip_unreadable_images=True), another '
                              'image is used', logger='current', level=logging.WARNING)
                return None
            raise UnreadableImageError(
                f'{img_path}: the image {problem} (listed in {self.ann_file}; pass skip_unreadable_images=True '
                'to skip such images in training)') from exc


_warned_deprecated_name = []


@DATASETS.register_module(name='RetinaFaceDataset')
class RetinaFaceDataset(WiderFaceDataset):
    """Deprecated name of :class:`WiderFaceDataset` (a WIDER FACE reader, not a RetinaFace part)."""

    def __init__(self, *args, **kwargs) -> None:
        if not _warned_deprecated_name:
            _warned_deprecated_name.append(True)
            warnings.warn("mmdet_face: type='RetinaFaceDataset' is a deprecated name of 'WiderFaceDataset'; write "
                          "type='WiderFaceDataset'", FutureWarning, stacklevel=2)
        super().__init__(*args, **kwargs)
