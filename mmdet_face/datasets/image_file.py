"""The checks the datasets and data tools make on an image file: its decoded size from the header, and why it
cannot be read or decoded."""
from typing import List, Optional, Tuple


class UnreadableImageError(ValueError):
    """An image listed in the annotations cannot be read or decoded (the message names its path)."""


def image_size(img_path: str) -> Tuple[int, int]:
    """``(width, height)`` of the image as decoders return it: an EXIF orientation that turns the image by 90
    degrees (cv2 and mmcv apply it) swaps the stored size."""
    from PIL import Image  # reads the header only
    with Image.open(img_path) as img:
        width, height = img.size
        try:
            orientation = img.getexif().get(0x0112, 1)
        except Exception:  # a broken EXIF block: decoders ignore it too
            orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def listed_image_size(img_path: str, where: str) -> Tuple[int, int]:
    """``(width, height)`` (:func:`image_size`) of an image that the annotations at ``where`` (``file:line`` /
    ``file:object``) list. Raises ``FileNotFoundError`` when the file is missing and :class:`UnreadableImageError`
    when its size cannot be read, each naming ``where`` and the path."""
    import os.path as osp
    if not osp.isfile(img_path):
        raise FileNotFoundError(f'{where}: expected the image file {img_path} to exist')
    try:
        return image_size(img_path)
    except Exception as e:
        raise UnreadableImageError(f'{where}: cannot read the size of the image {img_path} '
                                   f'({type(e).__name__}: {e})') from e


def image_problem(img_path: str, backend_args: Optional[dict] = None) -> Optional[str]:
    """Why ``img_path`` cannot be read or decoded as a colour image, or ``None`` if it can."""
    import mmcv
    from mmengine import fileio
    try:
        data = fileio.get(img_path, backend_args=backend_args)
    except Exception as e:
        return f'cannot be read ({type(e).__name__}: {e})'
    if len(data) == 0:
        return 'is empty (0 bytes)'
    try:
        img = mmcv.imfrombytes(data, flag='color')
    except Exception as e:
        return f'cannot be decoded as an image ({len(data)} bytes; {type(e).__name__}: {str(e).strip()})'
    if img is None:
        return f'cannot be decoded as an image ({len(data)} bytes, not a readable JPEG/PNG/...)'
    return None


def check_image_sizes(images: List[dict], img_root: str, ann_file: str) -> int:
    """Check the records of :mod:`mmdet_face.datasets.formats` against their images under ``img_root``: every image
    exists, a size the annotations give equals the image's (as decoders return it, :func:`image_size`), and a size
    they omit is filled in from the image. Errors name the record (``file:line`` / ``file:object``) and the image.
    Returns how many sizes were filled in."""
    import os.path as osp

    from .formats.common import record_location
    filled = 0
    for image in images:
        where = record_location(image, ann_file)
        img_path = osp.join(img_root, image['name'])
        width, height = listed_image_size(img_path, where)
        if image['width'] is None:
            image['width'], image['height'] = width, height
            filled += 1
        elif (image['width'], image['height']) != (width, height):
            raise ValueError(f'{where}: the annotations give the image size {image["width"]}x{image["height"]} '
                             f'(width x height) but the image {img_path} is {width}x{height}')
    return filled
