"""The one drawing routine of face detections (boxes, scores, landmarks) on an image, in numpy / OpenCV.

:class:`~mmdet_face.visualization.FaceLocalVisualizer` draws through it for the validation hook, the demo tools and
the API, so a face looks the same wherever it is drawn.
"""
import numpy as np

from mmdet_face.keypoints import NUM_KEYPOINTS

# BGR colours of left eye, right eye, nose, left mouth corner, right mouth corner
KEYPOINT_COLORS = [(0, 0, 255), (0, 255, 255), (255, 0, 255), (0, 255, 0), (255, 0, 0)]
assert len(KEYPOINT_COLORS) == NUM_KEYPOINTS


def default_thickness(shape) -> int:
    """Line width (and landmark dot radius) in pixels for an image of ``shape`` (h, w, ...): 1 per 500 px of the
    long side, at least 1."""
    return max(1, round(max(shape[:2]) / 500))


def draw_faces(image: np.ndarray, bboxes, scores=None, keypoints=None, color=(0, 255, 0), thickness=None,
               keypoint_colors=KEYPOINT_COLORS, keypoint_weights=None) -> np.ndarray:
    """Return a copy of ``image`` (H, W, 3) uint8 with faces drawn; colours are in the image's channel order (the
    defaults are BGR, OpenCV's).

    Args:
        bboxes: (N, 4) x1, y1, x2, y2 pixels, rounded to the nearest pixel; each is outlined in ``color``.
        scores: (N,) or None; drawn as ``0.87`` above the box's top-left corner, in ``color``.
        keypoints: (N, K, 2) x, y pixels or None; landmark k is a filled dot of radius ``thickness`` in
            ``keypoint_colors[k % len(keypoint_colors)]``.
        thickness: line width in pixels; default :func:`default_thickness`.
        keypoint_weights: (N, K) or None; landmarks with weight <= 0 (not annotated) are not drawn.
    """
    import cv2
    canvas = np.ascontiguousarray(image).copy()
    thickness = int(thickness or default_thickness(image.shape))
    font_scale = 0.3 * thickness
    bboxes = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
    if len(bboxes) == 0:
        return canvas
    if keypoints is not None:
        keypoints = np.asarray(keypoints, dtype=np.float64).reshape(len(bboxes), -1, 2)
    if keypoint_weights is not None:
        keypoint_weights = np.asarray(keypoint_weights).reshape(len(bboxes), -1)
    for i, box in enumerate(bboxes):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness)
        if scores is not None:
            cv2.putText(canvas, f'{float(scores[i]):.2f}', (x1, max(y1 - 2, 8)), cv2.FONT_HERSHEY_SIMPLEX,
                        font_scale, color, thickness)
        if keypoints is None:
            continue
        for k, (x, y) in enumerate(keypoints[i]):
            if (keypoint_weights is not None and keypoint_weights[i, k] <= 0) or not np.isfinite([x, y]).all():
                continue
            cv2.circle(canvas, (int(round(x)), int(round(y))), thickness,
                       keypoint_colors[k % len(keypoint_colors)], -1)
    return canvas
