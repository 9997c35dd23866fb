"""Drawing of face detections (boxes, scores, the 5 landmarks) on BGR images."""
import numpy as np

# BGR colours of left eye, right eye, nose, left mouth corner, right mouth corner
KEYPOINT_COLORS = [(0, 0, 255), (0, 255, 255), (255, 0, 255), (0, 255, 0), (255, 0, 0)]


def draw_faces(image: np.ndarray, bboxes, scores, keypoints=None, color=(0, 255, 0), thickness=None):
    """Return a copy of the BGR ``image`` with (N, 4) x1y1x2y2 ``bboxes``, their ``scores`` and optional
    (N, 5, 2) ``keypoints`` drawn. Line width and text size follow the image size."""
    import cv2
    canvas = image.copy()
    thickness = thickness or max(1, round(max(image.shape[:2]) / 500))
    font_scale = 0.3 * thickness
    for i, (box, score) in enumerate(zip(bboxes, scores)):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness)
        cv2.putText(canvas, f'{float(score):.2f}', (x1, max(y1 - 2, 8)), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    color, thickness)
        if keypoints is not None:
            for (x, y), kp_color in zip(keypoints[i], KEYPOINT_COLORS):
                cv2.circle(canvas, (int(round(float(x))), int(round(float(y)))), thickness, kp_color, -1)
    return canvas
