"""The official WIDER FACE image list without annotations, ``wider_face_split/wider_face_test_filelist.txt``: one
image path ``<event>/<name>.jpg`` per line, relative to the split's ``images/`` folder. The test split is released this
way: its boxes are held by the benchmark's server, which scores a submission folder (one ``<event>/<name>.txt`` per
listed image). The list is read by :func:`mmdet_face.evaluation.functional.read_image_list`, which the submission
check shares; this module gives its images the annotation readers' output.
"""
from typing import List

from mmdet_face.evaluation.functional.widerface_submission import read_image_list


def parse_wider_filelist(path: str) -> List[dict]:
    """Read an image list: ``[{'name': '<event>/<name>.jpg', 'width': None, 'height': None, 'faces': [],
    'lineno': int}]`` in file order (the output of the annotation readers, without faces).

    Raises:
        ValueError: naming ``file:line`` (see :func:`read_image_list`).
    """
    names, linenos = read_image_list(path)
    return [dict(name=name, width=None, height=None, faces=[], lineno=lineno) for name, lineno in zip(names, linenos)]
