"""Pascal VOC XML annotations, one file per image (Everingham et al., "The PASCAL Visual Object Classes (VOC)
Challenge", IJCV 2010; the layout of the VOC devkit's ``Annotations/*.xml``)::

    <annotation>
      <filename>0--Parade/a.jpg</filename>
      <size><width>1024</width><height>768</height><depth>3</depth></size>
      <object>
        <name>face</name>
        <difficult>0</difficult>
        <bndbox><xmin>450</xmin><ymin>331</ymin><xmax>571</xmax><ymax>479</ymax></bndbox>
        <keypoints>                                   (mmdet-face's extension, optional)
          <left_eye><x>488.9</x><y>391.0</y></left_eye> ... <right_mouth>...</right_mouth>
        </keypoints>
      </object>
    </annotation>

Box coordinates follow the devkit: 1-based pixel indices with ``xmax``/``ymax`` the last pixel inside the box, so
the box in the package's pixel coordinates is ``x1 = xmin - 1, y1 = ymin - 1, x2 = xmax, y2 = ymax`` (detectron2's
``pascal_voc.py`` reads VOC the same way; mmdet's ``XMLDataset`` also subtracts 1 from ``xmax``/``ymax``).
``difficult`` 1 makes an ignore box. The landmarks are an extension of mmdet-face (plain VOC has none): one element
per landmark named as in :data:`mmdet_face.keypoints.KEYPOINT_NAMES`, in the package's pixel coordinates (not
shifted); a missing element is a landmark of weight 0. ``<name>`` is mapped by ``box_labels``
(:mod:`.labels`). ``filename`` is relative to the image folder; a ``size`` of 0 or none means "read it from the
image". Every error names the file and the object (``a.xml:object 2``).
"""
import os
import os.path as osp
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional

import numpy as np

from mmdet_face.keypoints import KEYPOINT_NAMES

from .common import (annotation_files, check_box, check_finite, empty_landmarks, format_derived, format_number,
                     numbers, output_files)
from .labels import box_role, check_box_labels


def _text(elem, tag: str, path: str, where: str, expected: str) -> str:
    child = elem.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise ValueError(f'{path}:{where}: expected <{tag}> with {expected}')
    return child.text.strip()


def _number(elem, tag: str, path: str, where: str) -> float:
    return numbers([_text(elem, tag, path, where, 'a number')], path, where, f'a number in <{tag}>')[0]


def _read_xml(path: str):
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as e:
        line, column = e.position
        raise ValueError(f'{path}:{line}:{column + 1}: malformed XML: {str(e).split(": line ")[0]}') from None


def _size(root, path: str):
    size = root.find('size')
    if size is None or size.find('width') is None or size.find('height') is None:
        return None, None
    width, height = (_number(size, tag, path, 'size') for tag in ('width', 'height'))
    if width == 0 and height == 0:
        return None, None
    if not (width > 0 and height > 0 and width == int(width) and height == int(height)):
        raise ValueError(f'{path}:size: expected positive integer width and height, got {width:g} x {height:g}')
    return int(width), int(height)


def _landmarks(obj, path: str, where: str):
    keypoints, weights = empty_landmarks()
    elem = obj.find('keypoints')
    if elem is None:
        return keypoints, weights
    known = set(KEYPOINT_NAMES)
    for child in elem:
        if child.tag not in known:
            raise ValueError(f'{path}:{where}: expected landmark elements among {list(KEYPOINT_NAMES)} in '
                             f'<keypoints>, got <{child.tag}>')
    for k, name in enumerate(KEYPOINT_NAMES):
        point = elem.find(name)
        if point is None:
            continue
        x, y = (_number(point, tag, path, f'{where} {name}') for tag in ('x', 'y'))
        check_finite((x, y), (f'{name} x', f'{name} y'), path, where)
        keypoints[k] = (x, y)
        weights[k] = 1.0
    return keypoints, weights


def parse_voc_xml(folder: str, box_labels: Optional[Dict[str, str]] = None) -> List[dict]:
    """Parse the ``*.xml`` files under ``folder`` (see the module docstring) into the records of :mod:`.formats`
    (boxes ``x1 y1 x2 y2`` float32 pixels, keypoints ``(5, 2)``, weights ``(5,)``; ``width``/``height`` ``None``
    when the file gives no size), one per file, sorted by path."""
    box_labels = check_box_labels(box_labels)
    images = []
    for path in annotation_files(folder, '.xml'):
        root = _read_xml(path)
        if root.tag != 'annotation':
            raise ValueError(f'{path}: expected an <annotation> root element, got <{root.tag}>')
        name = _text(root, 'filename', path, 'filename', 'the image file name')
        width, height = _size(root, path)
        faces = []
        for i, obj in enumerate(root.findall('object'), 1):
            where = f'object {i}'
            role = box_role(_text(obj, 'name', path, where, 'a label'), box_labels, path, where)
            if role == 'skip':
                continue
            box = obj.find('bndbox')
            if box is None:
                raise ValueError(f'{path}:{where}: expected <bndbox> with xmin ymin xmax ymax')
            xmin, ymin, xmax, ymax = (_number(box, tag, path, where) for tag in ('xmin', 'ymin', 'xmax', 'ymax'))
            bbox = [xmin - 1, ymin - 1, xmax, ymax]
            check_box(*bbox, path, where)
            difficult = obj.find('difficult')
            difficult = 0 if difficult is None else numbers([difficult.text or ''], path, where,
                                                            'a number in <difficult>')[0]
            if difficult not in (0, 1):
                raise ValueError(f'{path}:{where}: expected <difficult> 0 or 1, got {difficult:g}')
            faces.append((np.asarray(bbox, dtype=np.float32), *_landmarks(obj, path, where),
                          role == 'ignore' or difficult == 1))
        images.append(dict(name=name, width=width, height=height, faces=faces, lineno=None, where=path))
    return images


def _element(parent, tag: str, text: Optional[str] = None):
    child = ET.SubElement(parent, tag)
    if text is not None:
        child.text = text
    return child


def voc_xml_path(folder: str, image_name: str) -> str:
    """Where :func:`write_voc_xml` puts the annotation of ``image_name``: its path with ``.xml``."""
    return osp.join(folder, osp.splitext(image_name)[0] + '.xml')


def write_voc_xml(images: List[dict], folder: str) -> None:
    """Write one VOC XML file per record of :mod:`.formats` (sizes known) under the existing ``folder``, at
    :func:`voc_xml_path`. Objects are named ``face``; ignore boxes are ``difficult`` 1; landmarks of weight 1 go in
    ``<keypoints>``. Box numbers are shifted to the devkit's 1-based ``xmin``/``ymin``."""
    for image, out in zip(images, output_files(images, lambda name: voc_xml_path(folder, name))):
        if image['width'] is None:
            raise ValueError(f'{image["name"]}: the image size is needed for VOC (read it from the image first)')
        root = ET.Element('annotation')
        _element(root, 'filename', image['name'])
        size = _element(root, 'size')
        for tag, value in (('width', image['width']), ('height', image['height']), ('depth', 3)):
            _element(size, tag, str(int(value)))
        for bbox, keypoints, weights, ignore in image['faces']:
            obj = _element(root, 'object')
            _element(obj, 'name', 'face')
            _element(obj, 'difficult', str(int(ignore)))
            box = _element(obj, 'bndbox')
            x1, y1, x2, y2 = (float(format_number(v)) for v in bbox)
            for tag, value in (('xmin', format_derived(x1 + 1)), ('ymin', format_derived(y1 + 1)),
                               ('xmax', format_derived(x2)), ('ymax', format_derived(y2))):
                _element(box, tag, value)
            if weights.any():
                elem = _element(obj, 'keypoints')
                for name, (x, y), weight in zip(KEYPOINT_NAMES, keypoints, weights):
                    if weight:
                        point = _element(elem, name)
                        _element(point, 'x', format_number(x))
                        _element(point, 'y', format_number(y))
        tree = ET.ElementTree(root)
        ET.indent(tree)
        os.makedirs(osp.dirname(out), exist_ok=True)
        tree.write(out, encoding='utf-8', xml_declaration=False)
