"""Face annotations from one format into another (``tools/dataset_converters/convert_faces.py``): read with the
strict readers of :mod:`.readers`, check the sizes against the images when they are at hand, fit the boxes to the
images as the datasets do (:func:`.common.fit_faces`), write with a writer of :data:`WRITERS` without ever
replacing what the user had (:mod:`mmdet_face.utils.output_file`). The images are not copied: the output names them
by the same paths relative to the image folder."""
import os
import os.path as osp
from typing import Dict, Optional

from mmdet_face.utils.output_file import (atomic_output, atomic_output_folder, check_not_inside, check_output_folder,
                                          check_output_path)

from ..image_file import check_image_sizes
from .coco_json import write_coco_json
from .common import fit_faces, record_location
from .labelv2 import write_labelv2
from .readers import ALL_FORMATS, read_annotations
from .voc_xml import write_voc_xml
from .yolo_face_txt import write_yolo_face

# format -> (writer, 'file' or the suffix of the files written into the output folder)
WRITERS = dict(labelv2=(write_labelv2, 'file'), coco=(write_coco_json, 'file'), voc=(write_voc_xml, '.xml'),
               yolo=(write_yolo_face, '.txt'))


def default_images_dir(src: str, src_format: Optional[str]) -> Optional[str]:
    """Where the images of ``src`` are when no folder is given: YOLO-face ``.../labels/<split>`` ->
    ``.../images/<split>`` (yolov5's rule), labelme: the annotation folder itself, VOC ``.../Annotations`` ->
    ``.../JPEGImages``, WIDER FACE ``<split>/labelv2.txt`` -> ``<split>/images``; ``None`` for COCO (its
    ``file_name`` says nothing about the folder) or when the folder does not exist."""
    src = osp.normpath(src)
    if src_format == 'yolo':
        parts = src.split(os.sep)
        if 'labels' not in parts:
            return None
        i = len(parts) - 1 - parts[::-1].index('labels')
        candidate = os.sep.join(parts[:i] + ['images'] + parts[i + 1:])
    elif src_format == 'labelme':
        candidate = src
    elif src_format == 'voc':
        candidate = osp.join(osp.dirname(src), 'JPEGImages')
    elif src_format == 'coco':
        return None
    else:
        candidate = osp.join(osp.dirname(src), 'images')
    return candidate if osp.isdir(candidate) else None


def _foreign(suffix: str):
    def entries(folder: str):
        found = []
        for root, _, files in os.walk(folder):
            found.extend(osp.relpath(osp.join(root, f), folder) for f in files if not f.endswith(suffix))
        return sorted(found)[:3]
    return entries


def convert_faces(src: str, src_format: Optional[str], dst: str, dst_format: str, images_dir: Optional[str] = None,
                  overwrite: bool = False, ignore_class: Optional[int] = None, **read_options) -> Dict[str, int]:
    """Convert the annotations ``src`` (``src_format`` of :data:`.readers.ALL_FORMATS`; ``None`` detects a WIDER FACE
    text format) into ``dst`` in ``dst_format`` (a key of :data:`WRITERS`: a file for labelv2 and COCO, a folder for
    VOC and YOLO-face).

    ``images_dir``: the image folder (default :func:`default_images_dir`). With it, every image must exist and have
    the annotated size (sizes the annotations omit are read from it); without it, COCO, VOC and YOLO-face outputs
    need the sizes in the annotations. Boxes are then clipped to the image and zero-size boxes dropped.
    ``ignore_class``: the YOLO-face class of ignore boxes, read and written (``None``: YOLO-face input has none and
    ignore boxes are left out of YOLO-face output). ``read_options``: the reader's other options.

    The output is checked before anything is read (an existing one is refused unless ``overwrite``; one that is
    an input is always refused) and appears only once complete. Returns the counts: ``images``, ``faces``,
    ``ignore``, ``with_landmarks``, ``sizes_from_images``, ``clipped``, ``dropped``, ``left_out`` (ignore boxes
    YOLO-face output could not hold), ``landmarks_left_out`` (ignore boxes whose landmarks labelv2 output could not
    hold).
    """
    if dst_format not in WRITERS:
        raise ValueError(f'dst_format: expected one of {tuple(WRITERS)}, got {dst_format!r}')
    if src_format not in (None, ) + ALL_FORMATS:
        raise ValueError(f'src_format: expected one of {ALL_FORMATS} (or None to detect a WIDER FACE text format), '
                         f'got {src_format!r}')
    writer, kind = WRITERS[dst_format]
    if images_dir is None:
        images_dir = default_images_dir(src, src_format)
    inputs = [src, images_dir]
    if kind == 'file':
        check_output_path(dst, overwrite, inputs)
        output = atomic_output(dst, overwrite=overwrite)
    else:
        folder_checks = dict(contents=f'{dst_format} annotations (*{kind})', foreign_entries=_foreign(kind))
        check_not_inside(dst, inputs)
        check_output_folder(dst, overwrite, **folder_checks)
        output = atomic_output_folder(dst, overwrite=overwrite, inputs=inputs, **folder_checks)
    if src_format == 'yolo' and ignore_class is not None:
        read_options['ignore_class'] = ignore_class
    images = read_annotations(src_format, src, images_dir, **read_options)
    if not images:
        raise ValueError(f'{src}: no images in the annotations')
    stats = dict(images=len(images), sizes_from_images=0, clipped=0, dropped=0, left_out=0, landmarks_left_out=0)
    if images_dir is not None:
        stats['sizes_from_images'] = check_image_sizes(images, images_dir, src)
    elif dst_format != 'labelv2':
        missing = next((image for image in images if image['width'] is None), None)
        if missing is not None:
            raise ValueError(f'{record_location(missing, src)}: the annotations give no size for the image '
                             f'{missing["name"]}, which {dst_format} output needs; give the image folder '
                             '(--images)')
    for image in images:
        if image['width'] is not None:
            image['faces'], clipped, dropped = fit_faces(image['faces'], image['width'], image['height'])
            stats['clipped'] += clipped
            stats['dropped'] += dropped
    faces = [face for image in images for face in image['faces']]
    stats.update(faces=len(faces), ignore=sum(bool(face[3]) for face in faces),
                 with_landmarks=sum(bool(face[2].any()) for face in faces))
    if dst_format == 'labelv2':  # an ignore line of labelv2 is the box and the flag
        stats['landmarks_left_out'] = sum(bool(face[3] and face[2].any()) for face in faces)
    with output as out:
        if dst_format == 'yolo':
            stats['left_out'] = writer(images, out, ignore_class=ignore_class)
        else:
            writer(images, out)
    return stats
