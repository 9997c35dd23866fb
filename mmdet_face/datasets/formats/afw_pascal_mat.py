"""The AFW / PASCAL Face re-annotations of Mathias et al. (ECCV 2014): ``new_annotations_AFW.mat`` and
``Annotations_Face_PASCALLayout_large_fixed.mat``, read by
:func:`mmdet_face.evaluation.functional.afw_pascal_files.load_face_eval_annotations` (structure and checks there) and
given here in the shape of the other readers. Flagged faces become ignore boxes; there are no landmarks (keypoints
zero, weights zero). ``lineno`` is the 1-based entry of the ``Annotations`` struct array."""
from typing import List

import numpy as np

from mmdet_face.evaluation.functional.afw_pascal_files import load_face_eval_annotations

from .common import empty_landmarks


def parse_afw_pascal_mat(path: str) -> List[dict]:
    """Same output as :func:`parse_labelv2` with ``width``/``height`` ``None``; boxes x1y1x2y2 float32 pixels."""
    images = []
    for image in load_face_eval_annotations(path):
        faces = [(box.astype(np.float32), *empty_landmarks(), bool(ignored))
                 for box, ignored in zip(image['faces'], image['ignored'])]
        images.append(dict(name=image['name'], width=None, height=None, faces=faces, lineno=image['entry']))
    return images
