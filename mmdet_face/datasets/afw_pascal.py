"""AFW (Zhu & Ramanan, CVPR 2012: 205 images) and PASCAL Face (Yan et al., 2014: 851 images of PASCAL VOC) with the
re-annotations of Mathias et al., "Face detection without bells and whistles", ECCV 2014
(``new_annotations_AFW.mat``, ``Annotations_Face_PASCALLayout_large_fixed.mat``; format in
:mod:`mmdet_face.evaluation.functional.afw_pascal_files`). Both are test sets: the benchmark's AP comes from
``AFWPascalMetric``, which reads the same file."""
from mmdet_face.registry import DATASETS

from .widerface import WiderFaceDataset


@DATASETS.register_module()
class AFWPascalFaceDataset(WiderFaceDataset):
    """AFW or PASCAL Face from a Mathias et al. re-annotation ``.mat`` file, images under ``data_prefix['img']``
    by their ``imgname``. ``data_list`` entries are those of :class:`WiderFaceDataset` (``img_id`` the file stem);
    faces flagged in the file are ignore boxes, ``min_size`` adds the small ones (the benchmark ignores faces under
    30 x 30 px; its metric applies that rule itself), boxes are clipped to the image. No landmarks.

    Args:
        ann_file: the ``.mat`` file (relative to ``data_root``).
        data_prefix: ``dict(img=<image folder>)`` (AFW: ``testimages/``; PASCAL Face: the VOC ``JPEGImages/``).
        Other arguments as :class:`WiderFaceDataset`.
    """

    def __init__(self, *args, ann_format: str = 'afw_pascal_mat', data_prefix: dict = dict(img=''),
                 **kwargs) -> None:
        super().__init__(*args, ann_format=ann_format, data_prefix=data_prefix, **kwargs)
