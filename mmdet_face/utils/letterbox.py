"""The letterbox of insightface's ``SCRFD.detect`` (the released SCRFD pre-processing): the image resized with its
aspect ratio kept into the top-left of a black canvas of the network's input size, with the release's integer
sizes, so that a model run on it sees the pixels the release's own code gives it."""
from typing import NamedTuple, Tuple

import numpy as np


class Letterboxed(NamedTuple):
    canvas: np.ndarray  # (height, width, 3) uint8, the image in its top-left corner, black elsewhere
    new_height: int  # the resized image's size inside the canvas
    new_width: int
    scale: float  # canvas pixels per original pixel (new_height / original height, as the release computes it)


def letterbox_size(image_hw, height: int, width: int) -> Tuple[int, int, float]:
    """``(new_height, new_width, scale)`` of an image of ``image_hw`` = (H0, W0) letterboxed into ``(height, width)``:
    the side that limits gets the full size, the other ``int(size / image ratio)`` or ``int(size * image ratio)``
    (image ratio = H0 / W0), at least 1 pixel; ``scale`` = new height / H0."""
    h0, w0 = int(image_hw[0]), int(image_hw[1])
    im_ratio = float(h0) / w0
    if im_ratio > float(height) / width:
        new_h, new_w = height, int(height / im_ratio)
    else:
        new_w, new_h = width, int(width * im_ratio)
    new_w, new_h = max(new_w, 1), max(new_h, 1)
    return new_h, new_w, float(new_h) / h0


def letterbox(img: np.ndarray, height: int, width: int) -> Letterboxed:
    """``img`` (H0, W0, 3) letterboxed into ``(height, width)`` (sizes: :func:`letterbox_size`)."""
    import cv2
    new_h, new_w, scale = letterbox_size(img.shape[:2], height, width)
    canvas = np.zeros((height, width, 3), np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(img, (new_w, new_h))
    return Letterboxed(canvas, new_h, new_w, scale)


__all__ = ['Letterboxed', 'letterbox', 'letterbox_size']
