"""The official WIDER FACE image lists without annotations, ``wider_face_split/wider_face_test_filelist.txt``
(and ``wider_face_val_filelist.txt``): one image path ``<event>/<name>.jpg`` per line, relative to the split's
``images/`` folder (e.g. ``0--Parade/0_Parade_marchingband_1_737.jpg``). The test split is released this way: its
boxes are held by the benchmark's server, which scores a submission folder (one ``<event>/<name>.txt`` per listed
image).

Every error names the file and line.
"""
from typing import List

from .common import content_lines, read_lines

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')


def parse_wider_filelist(path: str) -> List[dict]:
    """Read an image list: ``[{'name': '<event>/<name>.jpg', 'width': None, 'height': None, 'faces': [],
    'lineno': int}]`` in file order (the output of the annotation readers, without faces).

    Raises:
        ValueError: naming ``file:line`` for a line that is not one ``<event>/<name>.jpg`` path (spaces, a missing
            event folder, another extension, a count or box line of a ``*_bbx_gt.txt``) or an image listed twice.
    """
    images, first_line = [], {}
    for lineno, line in content_lines(read_lines(path)):
        parts = line.split('/')
        if len(line.split()) != 1 or len(parts) != 2 or not all(parts) or \
                not line.lower().endswith(IMAGE_EXTENSIONS):
            raise ValueError(f'{path}:{lineno}: expected one image path "<event>/<name>.jpg" per line (e.g. '
                             f'"0--Parade/0_Parade_marchingband_1_737.jpg"), got {line!r}')
        if line in first_line:
            raise ValueError(f'{path}:{lineno}: the image {line} is listed a second time (first on line '
                             f'{first_line[line]})')
        first_line[line] = lineno
        images.append(dict(name=line, width=None, height=None, faces=[], lineno=lineno))
    return images
