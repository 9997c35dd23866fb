"""FDDB regions as pixel masks, rasterised exactly as the official ``evaluate`` program draws them.

Reference: V. Jain and E. Learned-Miller, "FDDB: A Benchmark for Face Detection in Unconstrained Settings", UMass
Amherst tech. report UM-CS-2010-009, and its evaluation program (``EllipseR.cpp``, ``RectangleR.cpp``,
``EllipsesSingleImage.cpp``, ``Matching.cpp``). The program fills each region with OpenCV's drawing functions on a
mask of the image's size, so a region is the set of pixels OpenCV paints:

- an ellipse ``(major_axis_radius, minor_axis_radius, angle, center_x, center_y)`` (FDDB's annotation order; the
  angle in radians, of the first axis from the image x axis) is ``cvEllipse`` with the center rounded to the nearest
  pixel (through ``float``), both radii truncated to integers, and the angle ``180 - (pi - angle) * 180 / pi``
  degrees (which OpenCV rounds to a whole degree), filled, 8-connected. That drawing is OpenCV's own polygon
  approximation, so this module draws it with OpenCV (``cv2``, imported on use) rather than with another formula.
- a rectangle ``(left, top, width, height)`` is ``cvRectangle`` from ``(left, top)`` to ``(left + width,
  top + height)``, both corners rounded to the nearest pixel (through ``float``), filled: every pixel from one corner
  to the other, both included, clipped to the image. That is computed here in numpy.

Rounding is to the nearest integer, halves to even (``cvRound``). Pixels outside the image do not exist for the
program: a region partly outside the image is clipped to it.
"""
import math

import numpy as np

__all__ = ['ellipse_mask', 'rectangle_mask', 'rectangle_pixel_bounds']


def _round_through_float(values) -> np.ndarray:
    """``cvPointFrom32f(cvPoint2D32f(v))``: the double to ``float``, then rounded half to even."""
    return np.rint(np.asarray(values, dtype=np.float64).astype(np.float32)).astype(np.int64)


def ellipse_mask(ellipse, height: int, width: int) -> np.ndarray:
    """The ``(height, width)`` bool mask of one FDDB ellipse ``(major_axis_radius, minor_axis_radius, angle,
    center_x, center_y)`` (pixels, radians), as ``EllipseR::display`` fills it."""
    import cv2
    ra, rb, theta, cx, cy = (float(v) for v in ellipse[:5])
    # EllipsesSingleImage::read turns the angle into degrees as (pi - t) * 180 / pi, EllipseR::display draws at
    # 180 minus that: the same operations in the same order, so the double passed to OpenCV is the program's.
    angle = 180 - (math.pi - theta) * 180 / math.pi
    cx_i, cy_i = (int(v) for v in _round_through_float([cx, cy]))
    mask = np.zeros((int(height), int(width)), dtype=np.uint8)
    cv2.ellipse(mask, (cx_i, cy_i), (int(ra), int(rb)), angle, 0, 360, 1, -1)
    return mask.astype(bool)


def rectangle_pixel_bounds(rects, height: int, width: int) -> np.ndarray:
    """``(N, 4)`` int ``x_first, y_first, x_last, y_last`` (inclusive pixel indices, clipped to the image) of the
    rectangles ``(N, 4+)`` ``left, top, width, height``; a rectangle entirely outside the image has
    ``x_first > x_last`` or ``y_first > y_last``."""
    rects = np.atleast_2d(np.asarray(rects, dtype=np.float64))
    x, y, w, h = rects[:, 0], rects[:, 1], rects[:, 2], rects[:, 3]
    x1, y1 = _round_through_float(x), _round_through_float(y)
    x2, y2 = _round_through_float(x + w), _round_through_float(y + h)
    first_x = np.maximum(np.minimum(x1, x2), 0)
    last_x = np.minimum(np.maximum(x1, x2), int(width) - 1)
    first_y = np.maximum(np.minimum(y1, y2), 0)
    last_y = np.minimum(np.maximum(y1, y2), int(height) - 1)
    return np.stack([first_x, first_y, last_x, last_y], axis=1)


def rectangle_mask(rect, height: int, width: int) -> np.ndarray:
    """The ``(height, width)`` bool mask of one rectangle ``(left, top, width, height)``, as
    ``RectangleR::display`` fills it."""
    x0, y0, x1, y1 = rectangle_pixel_bounds(np.asarray(rect, np.float64)[None, :4], height, width)[0]
    mask = np.zeros((int(height), int(width)), dtype=bool)
    if x0 <= x1 and y0 <= y1:
        mask[y0:y1 + 1, x0:x1 + 1] = True
    return mask
