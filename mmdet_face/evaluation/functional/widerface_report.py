"""Reporting WIDER FACE results: the official scripts' three AP lines, and the APs with PR curves as JSON (what
``tools/analysis/plot_widerface_pr.py`` reads)."""
import json
import os
import os.path as osp

import numpy as np

from mmdet_face.utils.output_file import atomic_output

from .widerface_gt_mat import SETTINGS

__all__ = ['format_results', 'dump_pr_curves']


def format_results(results):
    """Three lines ``Easy   Val AP: ...`` like the official scripts print."""
    return '\n'.join(f'{s.capitalize():<6} Val AP: {results[s]:.4f}' for s in SETTINGS)


def dump_pr_curves(results, path, name=None):
    """Write APs and PR curves as JSON (``tools/analysis/plot_widerface_pr.py`` reads it). NaN -> null."""

    def clean(values):
        return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=np.float64)]

    data = {'name': name, **{s: clean([results[s]])[0] for s in SETTINGS}, 'pr_curves': {
        s: {k: clean(v) for k, v in results['pr_curves'][s].items()} for s in SETTINGS}}
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with atomic_output(path, overwrite=True) as tmp:  # an interrupted write leaves no half file
        with open(tmp, 'w') as f:
            json.dump(data, f)
