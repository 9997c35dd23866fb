"""Turn a :class:`~mmdet_face.datasets.WiderFaceDataset` entry's ``instances`` into arrays the geometric transforms move together."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.structures.bbox import HorizontalBoxes

from mmdet_face.keypoints import NUM_KEYPOINTS
from mmdet_face.registry import TRANSFORMS

from .keypoint_geometry import record_keypoint_geometry


def _check_image_size(results: dict) -> None:
    width, height, ori_shape = results.get('width'), results.get('height'), results.get('ori_shape')
    if width is None or height is None or ori_shape is None:
        return
    if (int(ori_shape[0]), int(ori_shape[1])) != (int(height), int(width)):
        raise ValueError(f'{results.get("img_path", "<no img_path>")}: the annotation gives the image size '
                         f'{int(width)}x{int(height)} (width x height) but the decoded image is '
                         f'{int(ori_shape[1])}x{int(ori_shape[0])}; the annotations do not belong to this image '
                         '(or its header size is wrong)')


@TRANSFORMS.register_module()
class LoadFaceAnnotations(BaseTransform):
    """Load boxes, labels, ignore flags and 5 landmarks of every face (ignore boxes included, flagged).

    Added keys:
        - gt_bboxes (HorizontalBoxes, float32 (N, 4), x1y1x2y2 pixels)
        - gt_bboxes_labels (np.int64 (N,))
        - gt_ignore_flags (np.bool_ (N,))
        - gt_keypoints (np.float32 (N, 5, 2), x y pixels)
        - gt_keypoints_weights (np.float32 (N, 5), 1 = landmark annotated)

    When the entry has the annotation's image size (``width``/``height``) and an image was decoded
    (``ori_shape``, set by ``LoadImageFromFile``), they must agree: the annotations were made for another image
    otherwise, so a ``ValueError`` names the image and both sizes. ``ori_shape`` is the decoded size before any
    resize, so this transform may follow ``FaceResize`` (as test pipelines do: the ground truth then stays in
    original-image pixels).

    Also records the image geometry the keypoints are in (:mod:`.keypoint_geometry`); ``PackFaceInputs`` refuses
    the sample if a later transform changes it without moving the keypoints.
    """

    def transform(self, results: dict) -> dict:
        _check_image_size(results)
        instances = results.get('instances', [])
        n = len(instances)
        bboxes = np.zeros((n, 4), dtype=np.float32)
        labels = np.zeros(n, dtype=np.int64)
        ignore = np.zeros(n, dtype=bool)
        keypoints = np.zeros((n, NUM_KEYPOINTS, 2), dtype=np.float32)
        weights = np.zeros((n, NUM_KEYPOINTS), dtype=np.float32)
        for i, inst in enumerate(instances):
            bboxes[i] = inst['bbox']
            labels[i] = inst.get('bbox_label', 0)
            ignore[i] = bool(inst.get('ignore_flag', 0))
            if inst.get('keypoints') is not None:
                keypoints[i] = np.asarray(inst['keypoints'], dtype=np.float32).reshape(NUM_KEYPOINTS, 2)
                weights[i] = np.asarray(inst.get('keypoints_weights', [1.0] * NUM_KEYPOINTS), dtype=np.float32)
        results['gt_bboxes'] = HorizontalBoxes(bboxes)
        results['gt_bboxes_labels'] = labels
        results['gt_ignore_flags'] = ignore
        results['gt_keypoints'] = keypoints
        results['gt_keypoints_weights'] = weights
        return record_keypoint_geometry(results)
