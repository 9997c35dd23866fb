"""Publish a DSFD training checkpoint for inference: drop the train-only first shot (and the optimizer state).

DSFD (Li et al., "DSFD: Dual Shot Face Detector", CVPR 2019) trains two shots and tests with the second only. A
training config builds the first-shot branches (``bbox_head.first_shot_cls_branches.*`` /
``bbox_head.first_shot_reg_branches.*``); the test configs, the ONNX export and the released layout have none, and
checkpoints load strictly (:mod:`mmdet_face.apis.checkpoint`), so a training checkpoint goes through this step once:

    python tools/model_converters/dsfd_publish.py work_dirs/dsfd/iter_60000.pth dsfd_r152.pth [--config C] [--force]

Only a checkpoint of our DSFD is published: its weights without the first shot must fit the test graph of the
config it was trained with (the tool's default: the release config, whose model the R152 training config shares),
key for key and shape for shape, so an SCRFD, RetinaFace or release-layout file is refused, naming what it is.

What stays: every other weight, unchanged, and the checkpoint's ``meta`` (plus what was dropped). A checkpoint
without first-shot weights (already published, or trained without a first shot) is written the same way, minus the
optimizer; the log line says that nothing was dropped. The written ``meta['dsfd_publish']`` keeps the name of the
command (``tools/model_converters/dsfd_publish.py``) that published checkpoints already carry.
"""
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import List, Mapping, Tuple

import torch

from mmdet_face.utils.output_file import check_output_path
from .release_checkpoint import (check_family, check_fits_config, load_checkpoint_file, save_converted_checkpoint,
                                 strip_wrappers)

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


EXPECTED = 'a DSFD training checkpoint of mmdet-face (mmengine checkpoint or bare state dict)'


def publish_dsfd_checkpoint(src: str, dst: str, config, overwrite: bool = False, logger=None) -> dict:
    """Read ``src`` (an mmengine checkpoint ``{'state_dict', 'meta', ...}`` or a bare state dict of our DSFD), drop
    the first-shot weights and everything but the weights and ``meta``, write ``dst`` atomically.

    ``config`` (a path or ``Config``: the DSFD config the checkpoint was trained with, or the release config that
    shares its model) says what a right input is: the kept weights must have exactly the keys and shapes of its
    model without the first shot (``bbox_head.first_shot=None``, the test graph), so a checkpoint of another
    family or size is refused, naming what it is, before anything is written.

    Raises:
        FileNotFoundError: ``src`` does not exist. ValueError: ``src`` is not a checkpoint torch.load reads safely,
            holds no state dict of tensors, is of another model family (named: "an mmengine checkpoint of an
            mmdet-face SCRFD model", "the DSFD release layout", ...), has weights that are not finite (NaN / inf),
            or does not fit ``config``'s test graph (the message lists what is missing / unexpected / mis-shaped);
            ``config`` is not a DSFD config.
        OutputExistsError: ``dst`` exists and ``overwrite`` is False (it is left unchanged).
        OutputIsInputError: ``dst`` is ``src`` (whatever ``overwrite`` says).

    Returns:
        the written checkpoint (``meta['dsfd_publish']`` records the source and the dropped keys' count).
    """
    from mmengine.logging import print_log

    from mmdet_face.apis.checkpoint import checkpoint_origin, non_finite_keys
    from mmdet_face.apis.inference import load_config

    src = str(src)
    check_output_path(dst, overwrite, inputs=(src,))  # fail before reading a large file
    checkpoint = load_checkpoint_file(src, EXPECTED)
    state = checkpoint.get('state_dict', checkpoint)
    if (not isinstance(state, Mapping) or not state
            or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items())):
        raise ValueError(f'{src}: expected a checkpoint with a state_dict of tensors (or a bare state dict)')
    state = strip_wrappers(state)  # ``module.`` prefixes
    check_family(src, checkpoint, state, 'dsfd', EXPECTED)
    kept, dropped = strip_first_shot(state)
    non_finite = non_finite_keys(kept)
    if non_finite:  # a diverged run: its checkpoint would be refused at load time anyway; say so here
        raise ValueError(f'{src}: {len(non_finite)} weights are not finite ({", ".join(non_finite[:3])}'
                         f'{", ..." if len(non_finite) > 3 else ""}); not publishing it')
    config_name = os.fspath(config) if isinstance(config, (str, os.PathLike)) else 'the given config'
    test_graph = load_config(config)
    head_type = (test_graph.model.get('bbox_head') or {}).get('type')
    if head_type != 'DSFDHead':
        raise ValueError(f'{config_name}: its head is {head_type}, not DSFDHead; expected the DSFD config {src} '
                         'was trained with')
    test_graph.model.bbox_head.first_shot = None
    origin = checkpoint_origin(dict(checkpoint))
    check_fits_config(test_graph, kept,
                      f'{src}: is not a checkpoint of the DSFD model of {config_name}'
                      + (f' (it records: {origin}; pass the config it was trained with)' if origin else '')
                      + '; its weights without the first shot differ from that model\'s test graph')
    meta = dict(checkpoint.get('meta') or {}) if 'state_dict' in checkpoint else {}
    meta['dsfd_publish'] = dict(source=osp.basename(src), dropped_first_shot_tensors=len(dropped))
    published = save_converted_checkpoint(dst, kept, meta, overwrite)
    what = (f'dropped the {len(dropped)} first-shot tensors (train-only: Progressive Anchor Loss)' if dropped else
            'no first-shot tensors to drop')
    print_log(f'{src} -> {dst}: {what}; kept {len(kept)} tensors', logger=logger or 'current')
    return published
