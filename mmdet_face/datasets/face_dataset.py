"""Faces in the users' own annotation formats: :class:`FaceDataset` reads COCO JSON, Pascal VOC XML folders,
YOLO-face label folders and labelme JSON folders (:mod:`mmdet_face.datasets.formats`) as well as the WIDER FACE text
formats, and fits them to the images as :class:`~mmdet_face.datasets.WiderFaceDataset` does (clipped boxes, dropped
zero-size boxes, a logged count).

Config examples (paths relative to ``data_root``)::

    dict(type='FaceDataset', data_root='data/my_faces/', ann_format='coco', ann_file='annotations/train.json',
         data_prefix=dict(img='images/'))
    dict(type='FaceDataset', data_root='data/my_faces/', ann_format='voc', ann_file='Annotations/',
         data_prefix=dict(img='JPEGImages/'), format_options=dict(box_labels=dict(face='face', crowd='ignore')))
    dict(type='FaceDataset', data_root='data/yolo_faces/', ann_format='yolo', ann_file='labels/train/',
         data_prefix=dict(img='images/train/'))
    dict(type='FaceDataset', data_root='data/my_faces/', ann_format='labelme', ann_file='labelme/',
         data_prefix=dict(img='labelme/'))
"""
import os.path as osp
from typing import List, Optional, Tuple

from mmdet_face.registry import DATASETS

from .formats import ALL_FORMATS, OWN_FORMATS, detect_format, read_annotations
from .widerface import WiderFaceDataset


@DATASETS.register_module()
class FaceDataset(WiderFaceDataset):
    """Face boxes, 5 landmarks and ignore boxes from any annotation format of :mod:`.formats`.

    ``data_list`` entries are those of :class:`WiderFaceDataset` (boxes ``x1 y1 x2 y2`` pixels, ``keypoints``
    ``(5, 2)``, ``keypoints_weights`` ``(5,)``, ``ignore_flag``).

    Args:
        ann_format: ``'coco'`` (``ann_file`` a JSON file), ``'voc'`` (a folder of XML files), ``'yolo'`` (the folder
            of label files; the images under ``data_prefix['img']``), ``'labelme'`` (a folder of labelme JSON
            files; their images under ``data_prefix['img']``, normally the same folder), or a WIDER FACE text format
            (``'labelv2'``, ``'retinaface_gt'``, ``'wider_gt'``; ``None`` detects these from the content).
        format_options: the reader's options: ``category`` (COCO: the category name of the faces),
            ``box_labels`` (VOC, labelme: label -> ``'face'``, ``'ignore'`` or ``'skip'``), ``keypoint_labels``
            (labelme: point label -> landmark index), ``ignore_class`` (YOLO-face: the class read as ignore boxes).
        **kwargs: as :class:`WiderFaceDataset` (``min_size``, ``filter_empty_gt``, ``check_images``, ...).
    """
    ANN_FORMATS = ALL_FORMATS

    def __init__(self, *args, format_options: Optional[dict] = None, **kwargs) -> None:
        self.format_options = dict(format_options or {})
        super().__init__(*args, **kwargs)

    def parse_annotations(self) -> Tuple[str, List[dict]]:
        if self.ann_format is None and (osp.isdir(self.ann_file) or self.ann_file.lower().endswith('.json')):
            raise ValueError(f'{self.ann_file}: only the WIDER FACE text formats are detected from the content; '
                             f"name the format of this {'folder' if osp.isdir(self.ann_file) else 'JSON file'} "
                             f"with ann_format (one of {OWN_FORMATS})")
        ann_format = self.ann_format or detect_format(self.ann_file)
        return ann_format, read_annotations(ann_format, self.ann_file, self.data_prefix.get('img', ''),
                                            **self.format_options)
