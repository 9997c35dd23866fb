"""Publish a DSFD training checkpoint for inference: drop the train-only first shot (and the optimizer state).

DSFD (Li et al., "DSFD: Dual Shot Face Detector", CVPR 2019) trains two shots and tests with the second only. A
training config builds the first-shot branches (``bbox_head.first_shot_cls_branches.*`` /
``bbox_head.first_shot_reg_branches.*``); the test configs, the ONNX export and the released layout have none, and
checkpoints load strictly (:mod:`mmdet_face.apis.checkpoint`), so a training checkpoint goes through this step once:

    python tools/model_converters/dsfd_publish.py work_dirs/dsfd/iter_60000.pth dsfd_r152.pth [--force]

What stays: every other weight, unchanged, and the checkpoint's ``meta`` (plus what was dropped). A checkpoint
without first-shot weights (already published, or trained without a first shot) is written the same way, minus the
optimizer; the log line says that nothing was dropped.
"""
import os.path as osp
import re
from collections import OrderedDict
from typing import List, Mapping, Tuple

import torch

from .output_file import check_output_path
from .release_checkpoint import first_line, save_converted_checkpoint

FIRST_SHOT_KEY = re.compile(r'(^|\.)first_shot_')


def is_first_shot_key(key: str) -> bool:
    """Whether a state-dict key belongs to the train-only first shot (a ``first_shot_*`` module or attribute)."""
    return FIRST_SHOT_KEY.search(key) is not None


def strip_first_shot(state_dict: Mapping[str, torch.Tensor]) -> Tuple['OrderedDict[str, torch.Tensor]', List[str]]:
    """Split a state dict into (kept weights in their order, dropped first-shot keys)."""
    kept, dropped = OrderedDict(), []
    for key, value in state_dict.items():
        if is_first_shot_key(key):
            dropped.append(key)
        else:
            kept[key] = value
    return kept, dropped


def publish_dsfd_checkpoint(src: str, dst: str, overwrite: bool = False, logger=None) -> dict:
    """Read ``src`` (an mmengine checkpoint ``{'state_dict', 'meta', ...}`` or a bare state dict), drop the
    first-shot weights and everything but the weights and ``meta``, write ``dst`` atomically.

    Raises:
        FileNotFoundError: ``src`` does not exist. ValueError: ``src`` is not a checkpoint torch.load reads safely,
            holds no state dict of tensors, or has weights that are not finite (NaN / inf).
        OutputExistsError: ``dst`` exists and ``overwrite`` is False (it is left unchanged).
        OutputIsInputError: ``dst`` is ``src`` (whatever ``overwrite`` says).

    Returns:
        the written checkpoint (``meta['dsfd_publish']`` records the source and the dropped keys' count).
    """
    from mmengine.logging import print_log
    from mmengine.runner.checkpoint import _load_checkpoint

    from mmdet_face.apis.checkpoint import non_finite_keys

    from mmdet_face import compat  # noqa: F401  (mmengine checkpoints load with weights_only=True)

    if not osp.isfile(src):
        raise FileNotFoundError(f'{src}: no such checkpoint file')
    check_output_path(dst, overwrite, inputs=(src,))  # fail before reading a large file
    try:
        checkpoint = _load_checkpoint(src, map_location='cpu')
    except Exception as err:  # pickle / zip / EOF errors of a file that is not a (safe) checkpoint
        raise ValueError(f'{src}: not a PyTorch checkpoint that loads with torch.load(weights_only=True) '
                         f'({type(err).__name__}: {first_line(err)})') from err
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f'{src}: expected a checkpoint with a state_dict of tensors (or a bare state dict)')
    kept, dropped = strip_first_shot(state)
    non_finite = non_finite_keys(kept)
    if non_finite:  # a diverged run: its checkpoint would be refused at load time anyway; say so here
        raise ValueError(f'{src}: {len(non_finite)} weights are not finite ({", ".join(non_finite[:3])}'
                         f'{", ..." if len(non_finite) > 3 else ""}); not publishing it')
    meta = dict(checkpoint.get('meta') or {}) if 'state_dict' in checkpoint else {}
    meta['dsfd_publish'] = dict(source=osp.basename(src), dropped_first_shot_tensors=len(dropped))
    published = save_converted_checkpoint(dst, kept, meta, overwrite)
    what = (f'dropped the {len(dropped)} first-shot tensors (train-only: Progressive Anchor Loss)' if dropped else
            'no first-shot tensors to drop')
    print_log(f'{src} -> {dst}: {what}; kept {len(kept)} tensors', logger=logger or 'current')
    return published
