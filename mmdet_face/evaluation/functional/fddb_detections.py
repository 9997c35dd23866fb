"""Detections in the input layout of the FDDB ``evaluate`` program, written so that the program (or
``tools/test_fddb.py --pred``) scores them as they were: per image its name, the number of detections, then one
``left top width height score`` (rectangles) or ``major_axis_radius minor_axis_radius angle center_x center_y score``
(ellipses) per line, every number in its shortest exact decimal form (scores that differ stay different).

Reference: the FDDB benchmark's README and ``evaluate.cpp`` (Jain and Learned-Miller, UMass tech. report
UM-CS-2010-009, 2010). Read back with :func:`mmdet_face.evaluation.functional.fddb_files.parse_fddb_detections`.
"""
from typing import Dict, Iterable

import numpy as np

from mmdet_face.utils.output_file import atomic_output

__all__ = ['format_fddb_detections', 'write_fddb_detections']


def format_fddb_detections(detections: Dict[str, np.ndarray], image_names: Iterable[str]) -> str:
    """The file's text for ``image_names`` in that order (an image missing from ``detections`` gets ``0``)."""
    out = []
    for name in image_names:
        dets = np.asarray(detections.get(name, np.zeros((0, 5))), np.float64)
        dets = dets.reshape(len(dets), -1) if dets.size else np.zeros((0, 5))
        out.append(f'{name}\n{len(dets)}\n')
        out.extend(' '.join(repr(float(v)) for v in row) + '\n' for row in dets)
    return ''.join(out)


def write_fddb_detections(path: str, detections: Dict[str, np.ndarray], image_names: Iterable[str],
                          overwrite: bool = False) -> str:
    """Write :func:`format_fddb_detections` to ``path`` (atomically; an existing file is refused unless
    ``overwrite``, :class:`mmdet_face.utils.output_file.OutputExistsError`)."""
    text = format_fddb_detections(detections, image_names)
    with atomic_output(path, overwrite) as tmp:
        with open(tmp, 'w') as f:
            f.write(text)
    return path
