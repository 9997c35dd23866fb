"""FDDB (Jain and Learned-Miller, UMass tech. report UM-CS-2010-009, 2010) as an mmdet dataset for testing: the images
of the chosen folds (``FDDB-folds/FDDB-fold-XX.txt``), each with its annotated ellipses.

The benchmark scores regions, not boxes (:class:`mmdet_face.evaluation.metrics.FDDBMetric` reads the ellipses from
the fold files itself); the instances here carry each ellipse's axis-aligned bounding box, clipped to the image, for
the pipeline and visualisation, and the ellipse itself as ``ellipse``.
"""
import os.path as osp
from typing import List, Sequence

import numpy as np
from mmdet.datasets import BaseDetDataset

from mmdet_face.keypoints import NUM_KEYPOINTS
from mmdet_face.registry import DATASETS

from mmdet_face.evaluation.functional.fddb_files import NUM_FOLDS, ellipse_bounding_boxes, read_fddb_folds
from .image_file import listed_image_size


@DATASETS.register_module()
class FDDBDataset(BaseDetDataset):
    """The FDDB images of ``folds``.

    ``data_list`` entries::

        dict(img_path, img_id='<image name, e.g. 2002/08/11/big/img_591>', width, height, fold,
             instances=[dict(bbox=[x1, y1, x2, y2], bbox_label=0, ignore_flag=0, ellipse=[ra, rb, angle, cx, cy],
                             keypoints=[[0, 0]] * 5, keypoints_weights=[0] * 5)])

    Args:
        ann_file: the folder of the extracted ``FDDB-folds.tgz`` (relative to ``data_root``).
        folds: 1-based fold numbers (default: all ten).
        image_ext: appended to each listed name (``.jpg`` in ``originalPics.tar.gz``).
        data_prefix: ``dict(img='originalPics/')``, the folder the names are relative to.
    """
    METAINFO = dict(classes=('face', ), palette=[(0, 255, 0)])

    def __init__(self,
                 *args,
                 folds: Sequence[int] = tuple(range(1, NUM_FOLDS + 1)),
                 image_ext: str = '.jpg',
                 ann_file: str = 'FDDB-folds',
                 data_prefix: dict = dict(img='originalPics/'),
                 **kwargs) -> None:
        self.folds = tuple(int(f) for f in folds)
        self.image_ext = image_ext
        super().__init__(*args, ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        img_root = self.data_prefix.get('img', '')
        data_list = []
        for image in read_fddb_folds(self.ann_file, self.folds):
            img_path = osp.join(img_root, image['name'] + self.image_ext)
            width, height = listed_image_size(img_path, image['source'])
            boxes = np.clip(ellipse_bounding_boxes(image['regions']), 0, [width, height, width, height])
            instances = [dict(bbox=box.astype(np.float32).tolist(), bbox_label=0, ignore_flag=0,
                              ellipse=ellipse.tolist(), keypoints=[[0.0, 0.0]] * NUM_KEYPOINTS,
                              keypoints_weights=[0.0] * NUM_KEYPOINTS)
                         for box, ellipse in zip(boxes, image['regions'])]
            data_list.append(dict(img_path=img_path, img_id=image['name'], width=width, height=height,
                                  fold=image['fold'], instances=instances))
        if not data_list:
            raise ValueError(f'{self.ann_file}: no images in folds {list(self.folds)}')
        return data_list
