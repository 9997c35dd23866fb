"""One entry to every reader of :mod:`.formats`, by format name: the WIDER FACE text formats of :mod:`.detect`
(``labelv2``, ``retinaface_gt``, ``wider_gt``; detected from the content when no format is given) and the users' own
formats (``coco``, ``voc``, ``yolo``, ``labelme``), each with its options."""
import inspect
from typing import List, Optional

from .coco_json import parse_coco_json
from .detect import ANN_FORMATS, PARSERS, detect_format
from .labelme_json import parse_labelme_json
from .voc_xml import parse_voc_xml
from .yolo_face_txt import parse_yolo_face

OWN_FORMATS = ('coco', 'voc', 'yolo', 'labelme')
ALL_FORMATS = ANN_FORMATS + OWN_FORMATS
OWN_PARSERS = dict(coco=parse_coco_json, voc=parse_voc_xml, yolo=parse_yolo_face, labelme=parse_labelme_json)
WHAT = dict(coco='a COCO-style JSON file', voc='a folder of Pascal VOC XML files',
            yolo='a folder of YOLO-face label files', labelme='a folder of labelme JSON files')


def read_annotations(ann_format: Optional[str], ann_file: str, images_dir: Optional[str] = None,
                     **options) -> List[dict]:
    """The per-image records (see :mod:`.formats`) of ``ann_file`` in ``ann_format`` (``None``: a WIDER FACE text
    format detected from the content). ``images_dir``: the image folder, which YOLO-face needs for the image sizes.
    ``options``: the reader's keyword arguments (``category`` for COCO, ``box_labels`` for VOC and labelme,
    ``keypoint_labels`` for labelme, ``ignore_class`` for YOLO-face)."""
    if ann_format not in (None, ) + ALL_FORMATS:
        raise ValueError(f'ann_format: expected one of {ALL_FORMATS} (or None to detect a WIDER FACE text format), '
                         f'got {ann_format!r}')
    if ann_format is None or ann_format in ANN_FORMATS:
        parser, ann_format = None, ann_format or detect_format(ann_file)
    else:
        parser = OWN_PARSERS[ann_format]
    accepted = [] if parser is None else [p for p in inspect.signature(parser).parameters
                                          if p not in ('path', 'folder', 'labels_dir', 'images_dir')]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f'format options {unknown} do not apply to the {ann_format} format (it takes '
                         f'{accepted or "none"})')
    if parser is None:
        return PARSERS[ann_format](ann_file)
    if ann_format == 'yolo':
        if images_dir is None:
            raise ValueError(f'{ann_file}: YOLO-face labels need the image folder (their coordinates are divided by '
                             'the image sizes)')
        return parser(ann_file, images_dir, **options)
    return parser(ann_file, **options)
