"""``FaceLocalVisualizer``: mmdet's ``DetLocalVisualizer`` that also draws the facial landmarks.

The validation / test hook (``DetVisualizationHook``), ``tools/image_demo.py`` and ``tools/toy_demo.py`` all draw
through it; the pixels come from :func:`~mmdet_face.visualization.draw.draw_faces`.
"""
from typing import List, Optional, Tuple

import numpy as np
from mmdet.visualization import DetLocalVisualizer

from mmdet_face.registry import VISUALIZERS

from .draw import KEYPOINT_COLORS, draw_faces

Color = Tuple[int, int, int]


def _numpy(value) -> Optional[np.ndarray]:
    if value is None:
        return None
    if hasattr(value, 'detach'):  # a torch tensor
        value = value.detach().float().cpu().numpy()
    return np.asarray(value)


@VISUALIZERS.register_module()
class FaceLocalVisualizer(DetLocalVisualizer):
    """Draws faces: boxes, scores (predictions only) and the landmarks of ``gt_instances`` / ``pred_instances``.

    As ``DetLocalVisualizer.add_datasample`` does, ground truth and predictions (scores above ``pred_score_thr``) are
    drawn side by side, ground truth on the left. Instances are read from ``bboxes`` (N, 4) x1y1x2y2 pixels,
    ``scores`` (N,), ``keypoints`` (N, K, 2) pixels and, where present, ``keypoints_weights`` (N, K) (landmarks with
    weight 0, i.e. not annotated, are not drawn). Colours are BGR tuples (OpenCV's order), whatever the image order.

    Args:
        pred_color: box and score colour of predictions. gt_color: box colour of ground-truth faces.
        keypoint_colors: one colour per landmark (left eye, right eye, nose, left mouth, right mouth).
        line_width: line width and landmark dot radius in pixels; None scales it with the image (1 per 500 px).
        Other arguments are ``DetLocalVisualizer``'s (``name``, ``vis_backends``, ``save_dir`` ...).
    """

    def __init__(self, name: str = 'visualizer', image: Optional[np.ndarray] = None,
                 vis_backends: Optional[List[dict]] = None, save_dir: Optional[str] = None,
                 pred_color: Color = (0, 255, 0), gt_color: Color = (255, 128, 0),
                 keypoint_colors: Optional[List[Color]] = None, line_width: Optional[int] = None,
                 alpha: float = 0.8) -> None:
        super().__init__(name=name, image=image, vis_backends=vis_backends, save_dir=save_dir,
                         bbox_color=pred_color, line_width=line_width, alpha=alpha)
        self.pred_color = tuple(pred_color)
        self.gt_color = tuple(gt_color)
        self.keypoint_colors = [tuple(c) for c in (keypoint_colors or KEYPOINT_COLORS)]

    def draw_detections(self, image: np.ndarray, detections, channel_order: str = 'bgr',
                        score_thr: Optional[float] = None, is_gt: bool = False) -> np.ndarray:
        """Return a copy of ``image`` (H, W, 3) with ``detections`` drawn; the visualizer's state is untouched.

        Args:
            image: uint8, in ``channel_order`` ('bgr' as OpenCV reads, or 'rgb' as mmengine's hooks pass).
            detections: anything with ``bboxes`` and optionally ``scores``, ``keypoints``, ``keypoints_weights``:
                a :class:`~mmdet_face.apis.FaceDetections`, an ``InstanceData`` (numpy or tensors).
            score_thr: draw only detections scoring above it (None: all).
            is_gt: draw as ground truth (``gt_color``, no scores).
        """
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")

        def field(name):
            if isinstance(detections, dict):
                return detections.get(name)
            try:
                return getattr(detections, name, None)
            except (AttributeError, KeyError):
                return None

        bboxes = _numpy(field('bboxes'))
        bboxes = np.zeros((0, 4)) if bboxes is None else bboxes.reshape(-1, 4)
        scores = None if is_gt else _numpy(field('scores'))
        keypoints = _numpy(field('keypoints'))
        weights = _numpy(field('keypoints_weights'))
        if score_thr is not None and scores is not None:
            keep = scores.reshape(-1) > score_thr
            bboxes, scores = bboxes[keep], scores.reshape(-1)[keep]
            keypoints = None if keypoints is None else keypoints[keep]
            weights = None if weights is None else weights[keep]
        bgr = image if channel_order == 'bgr' else image[..., ::-1]
        canvas = draw_faces(bgr, bboxes, scores, keypoints, color=self.gt_color if is_gt else self.pred_color,
                            thickness=self.line_width, keypoint_colors=self.keypoint_colors,
                            keypoint_weights=weights)
        return canvas if channel_order == 'bgr' else np.ascontiguousarray(canvas[..., ::-1])

    def _draw_instances(self, image: np.ndarray, instances, classes, palette) -> np.ndarray:
        """``DetLocalVisualizer.add_datasample``'s drawing of one panel (``image`` RGB): predictions carry
        ``scores``, ground truth does not."""
        return self.draw_detections(image, instances, channel_order='rgb', is_gt='scores' not in instances)
