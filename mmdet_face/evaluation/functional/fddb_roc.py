"""FDDB ROC files in the official text layout, read back, and plotted.

Reference: the FDDB evaluation program (``Results::saveROC``; Jain and Learned-Miller, UMass tech. report
UM-CS-2010-009, 2010). ``evaluate -r PREFIX`` writes two files, one line per pooled threshold, thresholds ascending
(false positives descending), numbers as C++ streams print a double by default (``%g``, six significant digits):

- ``PREFIXDiscROC.txt``: ``TPR FP threshold`` of the discrete ROC;
- ``PREFIXContROC.txt``: ``TPR FP`` of the continuous ROC.

Where there are no annotated faces at all the program writes ``0 0`` (and the threshold) instead of a rate.
"""
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np

from mmdet_face.utils.output_file import atomic_output, check_output_path
from .fddb import FDDB_MAX_FP, FDDBResult, tpr_at_fp

__all__ = ['ROC_SUFFIXES', 'roc_paths', 'format_roc_lines', 'write_roc_files', 'read_roc_file', 'plot_roc',
           'format_headline']

ROC_SUFFIXES = {'disc': 'DiscROC.txt', 'cont': 'ContROC.txt'}


def roc_paths(prefix: str) -> Dict[str, str]:
    """``{'disc': PREFIXDiscROC.txt, 'cont': PREFIXContROC.txt}`` (the prefix is glued on, as ``evaluate -r``
    does: ``out/run_`` gives ``out/run_DiscROC.txt``)."""
    return {kind: os.fspath(prefix) + suffix for kind, suffix in ROC_SUFFIXES.items()}


def _g(value: float) -> str:
    return '%g' % value


def format_roc_lines(result: FDDBResult) -> Dict[str, list]:
    """The lines of both files (without line ends), as ``Results::saveROC`` writes them."""
    disc, cont = [], []
    for i, threshold in enumerate(result.thresholds):
        if result.num_faces:
            cont.append(f'{_g(result.tp_cont[i] / result.num_faces)} {_g(result.fp[i])}')
            disc.append(f'{_g(result.tp_disc[i] / result.num_faces)} {_g(result.fp[i])} {_g(threshold)}')
        else:
            cont.append('0 0')
            disc.append(f'0 0 {_g(threshold)}')
    return {'disc': disc, 'cont': cont}


def write_roc_files(prefix: str, result: FDDBResult, overwrite: bool = False, inputs: Sequence = ()) -> Dict[str, str]:
    """Write ``PREFIXDiscROC.txt`` and ``PREFIXContROC.txt``; returns their paths. Both are checked before either is
    written, and each is written under a temporary name and renamed into place.

    Raises:
        OutputExistsError: one of them exists and ``overwrite`` is False (neither is written).
        OutputIsInputError: one of them is one of ``inputs``.
        FileNotFoundError / IsADirectoryError: see :func:`mmdet_face.utils.output_file.check_output_path`.
    """
    paths = roc_paths(prefix)
    for path in paths.values():
        check_output_path(path, overwrite, inputs)
    lines = format_roc_lines(result)
    for kind, path in paths.items():
        with atomic_output(path, overwrite) as tmp:
            with open(tmp, 'w') as f:
                f.write(''.join(line + '\n' for line in lines[kind]))
    return paths


def read_roc_file(path: str) -> np.ndarray:
    """An ROC file as a ``(T, 3)`` (discrete: TPR, FP, threshold) or ``(T, 2)`` (continuous: TPR, FP) float array.

    Raises:
        ValueError: a line is not numbers, or has another number of columns than the first (naming the line).
    """
    rows = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            tokens = line.split()
            if not tokens:
                continue
            try:
                values = [float(t) for t in tokens]
            except ValueError:
                raise ValueError(f'{path}:{lineno}: expected numbers "TPR FP [threshold]", got {line.strip()!r}') \
                    from None
            if rows and len(values) != len(rows[0]):
                raise ValueError(f'{path}:{lineno}: expected {len(rows[0])} columns as on the first line, got '
                                 f'{len(values)}')
            rows.append(values)
    return np.array(rows, np.float64).reshape(len(rows), -1 if rows else 3)


def format_headline(result: FDDBResult, max_fp: float = FDDB_MAX_FP) -> str:
    """One line with both figures papers quote: ``FDDB TPR@1000FP: discrete 0.9512, continuous 0.7345``."""
    disc, cont = tpr_at_fp(result, max_fp)
    return f'FDDB TPR@{max_fp:g}FP: discrete {disc:.4f}, continuous {cont:.4f}'


def plot_roc(result: FDDBResult, path: str, title: Optional[str] = None, overwrite: bool = False,
             max_fp: float = 2000) -> str:
    """Plot both ROC curves (true-positive rate against false positives, up to ``max_fp``) to an image file
    (matplotlib, Agg backend, imported on use); returns ``path``. An existing file is refused unless
    ``overwrite``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    check_output_path(path, overwrite)
    fig = Figure(figsize=(6, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    order = np.argsort(result.fp, kind='stable')
    for label, tpr in (('discrete', result.tpr_disc), ('continuous', result.tpr_cont)):
        ax.plot(result.fp[order], tpr[order], label=label)
    ax.set_xlim(0, max_fp)
    ax.set_ylim(0, 1)
    ax.set_xlabel('False positives')
    ax.set_ylabel('True positive rate')
    ax.grid(True)
    ax.legend(loc='lower right')
    ax.set_title(title or osp.basename(path))
    with atomic_output(path, overwrite) as tmp:
        fig.savefig(tmp, format=osp.splitext(path)[1][1:] or 'png')
    return path
