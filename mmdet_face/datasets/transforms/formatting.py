"""Pack an image and its faces (boxes + 5 landmarks) into the model's input and a ``DetDataSample``."""
from mmdet.datasets.transforms import PackDetInputs

from mmdet_face.registry import TRANSFORMS

from .keypoint_geometry import check_keypoint_geometry


@TRANSFORMS.register_module()
class PackFaceInputs(PackDetInputs):
    """mmdet ``PackDetInputs`` plus landmarks.

    ``data_samples.gt_instances`` carries ``bboxes`` (``HorizontalBoxes`` (N, 4), as in mmdet), ``labels``
    (int64 (N,)), ``keypoints`` (float32 tensor (N, 5, 2)) and ``keypoints_weights`` (float32 (N, 5)); faces whose
    ignore flag is set go to ``data_samples.ignored_instances`` with the same fields. ``pad_shape`` defaults to
    ``img_shape`` when no padding transform ran.

    Raises ``ValueError`` (naming the face transform to use) when a transform after ``LoadFaceAnnotations``
    resized, flipped or cropped the image without moving ``gt_keypoints`` (mmdet's ``Resize`` / ``RandomFlip``):
    see :mod:`.keypoint_geometry`.
    """
    mapping_table = {
        'gt_bboxes': 'bboxes',
        'gt_bboxes_labels': 'labels',
        'gt_keypoints': 'keypoints',
        'gt_keypoints_weights': 'keypoints_weights',
    }

    def __init__(self,
                 meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                            'flip_direction', 'pad_shape')):
        super().__init__(meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        check_keypoint_geometry(results)
        if 'pad_shape' not in results and 'img' in results:
            results['pad_shape'] = results['img'].shape[:2]
        return super().transform(results)
