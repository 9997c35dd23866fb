"""What the checkpoint converters (``retinaface_pth_import``, ``dsfd_pth_import``, ``dsfd_strip_first_shot``) share: reading
a ``.pth`` safely, telling which model family a state dict is, the ``num_batches_tracked`` filler, and writing the
converted mmengine checkpoint atomically.

Each converter keeps its own key mapping and checks; these functions take the converter's ``expected`` description
(what a right input is) and family, so every error names the file, what it holds and what was expected.
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict, Mapping, NamedTuple, Optional, Tuple

import torch

from mmdet_face.utils.output_file import atomic_output


def strip_wrappers(checkpoint: Mapping) -> Dict[str, torch.Tensor]:
    """Accept a bare state dict, ``{'state_dict': ...}`` / ``{'model': ...}`` and ``module.`` prefixes."""
    state = checkpoint
    for key in ('state_dict', 'model'):
        if isinstance(state, Mapping) and key in state and isinstance(state[key], Mapping):
            state = state[key]
    out = OrderedDict()
    for name, value in state.items():
        if name.startswith('module.'):
            name = name[len('module.'):]
        out[name] = value
    return out


class Family(NamedTuple):
    """A kind of state dict the converters tell apart: what it is, the key prefixes (``module.`` removed) only it
    has, and what to do with such a file instead."""
    description: str
    key_prefixes: Tuple[str, ...]
    advice: str


_USE_DIRECTLY = ('it needs no conversion: use it with the config it was trained or converted for (tools/test.py, '
                 'FaceDetector, tools/deployment/export_onnx.py)')
# Ours by the head / neck module names of each family's config (every config of a family shares them), the
# releases by their own layouts. The first family with a matching key wins (AInnoFace's head extends SRN's).
FAMILIES: Dict[str, Family] = OrderedDict(
    dsfd=Family('an mmdet-face DSFD model', ('neck.enhance_blocks.', 'bbox_head.cls_branches.'),
                _USE_DIRECTLY + '; a two-shot training checkpoint goes through '
                'tools/model_converters/dsfd_publish.py first'),
    scrfd=Family('an mmdet-face SCRFD model', ('bbox_head.stride_cls.', 'bbox_head.cls_stride_convs.'),
                 _USE_DIRECTLY),
    retinaface=Family('an mmdet-face RetinaFace model', ('bbox_head.kps_convs.', 'neck.1.levels.'), _USE_DIRECTLY),
    ainnoface=Family('an mmdet-face AInnoFace model', ('bbox_head.cls_second_maxout.',), _USE_DIRECTLY),
    srn=Family('an mmdet-face SRN model', ('bbox_head.cls_first.',), _USE_DIRECTLY),
    retinaface_release=Family('the RetinaFace release layout (biubug6/Pytorch_Retinaface)',
                              ('ClassHead.', 'BboxHead.', 'LandmarkHead.', 'body.stage1.', 'ssh1.'),
                              'convert it with tools/model_converters/retinaface_pth2mmdet.py'),
    dsfd_release=Family('the DSFD release layout (Tencent/FaceDetection-DSFD)',
                        ('cpm3_3.', 'latlayer1.', 'smooth1.'),
                        'convert it with tools/model_converters/dsfd_pth2mmdet.py'),
)


def guess_family(state: Mapping[str, object]) -> Optional[str]:
    """The :data:`FAMILIES` key of the first family one of whose key prefixes starts a key of ``state``
    (``module.`` prefixes removed), or None. Cheap: key names only, no model is built."""
    names = [name[len('module.'):] if name.startswith('module.') else name for name in map(str, state)]
    for family, spec in FAMILIES.items():
        if any(name.startswith(spec.key_prefixes) for name in names):
            return family
    return None


def _is_training_checkpoint(checkpoint: Mapping) -> bool:
    """What mmengine's ``Runner.save_checkpoint`` writes besides the weights."""
    return any(key in checkpoint for key in ('message_hub', 'optimizer', 'param_schedulers'))


def describe_checkpoint(checkpoint: Mapping, state: Mapping[str, object]) -> str:
    """What a loaded checkpoint is, in words: its kind (mmengine training checkpoint, mmdet-face checkpoint, bare
    state dict), its family (:func:`guess_family`) and, where it records it, where it comes from."""
    from mmdet_face.apis.checkpoint import checkpoint_origin
    family = guess_family(state)
    what = FAMILIES[family].description if family else 'no model family this project knows'
    if _is_training_checkpoint(checkpoint):
        kind = 'an mmengine training checkpoint'
    elif 'state_dict' in checkpoint:
        kind = 'an mmengine checkpoint'
    else:
        kind = 'a bare state dict'
    origin = checkpoint_origin(dict(checkpoint))
    return f'{kind} of {what}' + (f' ({origin})' if origin else '')


def check_family(src: str, checkpoint: Mapping, state: Mapping[str, object], family: str, expected: str) -> None:
    """Raise ``ValueError`` naming ``src``, what it is (:func:`describe_checkpoint`) and what to do with it when
    ``state`` is recognisably of a family other than ``family``; a state dict of no known family passes (the
    caller's own key / shape checks name what differs)."""
    found = guess_family(state)
    if found is not None and found != family:
        raise ValueError(f'{src}: is {describe_checkpoint(checkpoint, state)}, not {FAMILIES[family].description}; '
                         f'{FAMILIES[found].advice}. Expected {expected}; nothing was written')


def load_checkpoint_file(src: str, expected: str) -> Mapping:
    """Read a ``.pth`` with the safe loader of testing and training (:func:`mmdet_face.apis.checkpoint.read_checkpoint`:
    ``weights_only=True`` with the allow-list of the objects mmengine's training checkpoints hold), so a training
    checkpoint is read and can be named, and a crafted one is refused without advice to load it unsafely.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        ValueError: naming ``src`` and ``expected``: a file holding objects outside the allow-list, not a PyTorch
            checkpoint, or not a mapping.
    """
    from mmdet_face.apis.checkpoint import read_checkpoint
    src = str(src)
    if not osp.isfile(src):
        raise FileNotFoundError(f'{src}: file not found (expected {expected})')
    try:
        checkpoint = read_checkpoint(src)
    except ValueError as err:  # CheckpointMismatchError: names src and says what the file is not
        raise ValueError(f'{err}; expected {expected}') from err
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f'{src}: holds a {type(checkpoint).__name__}, not a state dict; expected {expected}')
    return checkpoint


def read_release_state(src: str, expected: str, family: str) -> 'OrderedDict[str, torch.Tensor]':
    """Read a release ``.pth`` safely (:func:`load_checkpoint_file`) -> its state dict of tensors, wrappers and
    ``module.`` prefixes removed (:func:`strip_wrappers`); the keys are the release's, not yet converted.
    ``family`` is the release's :data:`FAMILIES` key: a file of another known family is refused by name.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        ValueError: naming ``src`` and ``expected``: not a checkpoint ``torch.load`` reads safely, not a mapping,
            a state dict that is empty or has non-tensor entries, or one of another family (e.g. an mmengine
            checkpoint of our model, which needs no conversion).
    """
    checkpoint = load_checkpoint_file(src, expected)
    state = strip_wrappers(checkpoint)
    bad = [name for name, value in state.items() if not isinstance(name, str) or not torch.is_tensor(value)]
    if not state or bad:
        what = 'no entries' if not state else f'non-tensor entries such as {bad[0]!r}'
        raise ValueError(f'{src}: the state dict has {what}; expected {expected}')
    check_family(src, checkpoint, state, family, expected)
    return state


def with_num_batches_tracked(state: 'OrderedDict[str, torch.Tensor]') -> 'OrderedDict[str, torch.Tensor]':
    """Add ``num_batches_tracked = 0`` after every BatchNorm's ``running_var`` that lacks it (files saved without
    them, e.g. by torch 0.3): torch's BatchNorm fills it in when loading, but our checkpoint loader compares key sets
    strictly, so the converted file has every key of the model. The value only matters to BN layers with
    ``momentum=None``."""
    out = OrderedDict()
    for name, value in state.items():
        out[name] = value
        if name.endswith('.running_var'):
            tracked = name[:-len('running_var')] + 'num_batches_tracked'
            if tracked not in state:
                out[tracked] = torch.tensor(0, dtype=torch.long)
    return out


def save_converted_checkpoint(dst: str, state: Mapping[str, torch.Tensor], meta: dict, overwrite: bool) -> dict:
    """Write ``{'state_dict': state, 'meta': meta}`` to ``dst`` atomically (temporary file + rename; an existing
    ``dst`` is refused unless ``overwrite``). Returns the written checkpoint."""
    checkpoint = dict(state_dict=state, meta=meta)
    with atomic_output(dst, overwrite) as tmp:
        torch.save(checkpoint, tmp)
    return checkpoint


def check_fits_config(config: str, state: Mapping[str, torch.Tensor], message: str) -> None:
    """Raise ``ValueError(message + what differs)`` unless ``state`` has exactly the keys and shapes of the model
    that ``config`` builds: a short list of the missing / unexpected / mis-shaped keys (torch's own message lists
    every key, hundreds for the ResNet releases) and of non-finite tensors. The model is built on the ``meta``
    device: nothing is allocated for its weights (DSFD-R152 would take 480 MB)."""
    from mmdet_face.apis.checkpoint import compare_state_dicts
    from mmdet_face.apis.inference import init_face_detector
    with torch.device('meta'):
        ours = init_face_detector(config, device='meta').state_dict()
    report = compare_state_dicts(ours, state)
    shapes = [f'{k} {tuple(state[k].shape)} (model: {tuple(ours[k].shape)})' for k in report['shape']]
    problems = [f'{len(items)} {what}: {", ".join(items[:3])}{" ..." if len(items) > 3 else ""}'
                for what, items in (('missing', report['missing']), ('unexpected', report['unexpected']),
                                    ('wrong shape', shapes), ('not finite', report['non_finite']))
                if items]
    if problems:
        raise ValueError(message + ': ' + '; '.join(problems))


__all__ = ['FAMILIES', 'Family', 'check_family', 'check_fits_config', 'describe_checkpoint',
           'guess_family', 'load_checkpoint_file', 'read_release_state', 'save_converted_checkpoint', 'strip_wrappers',
           'with_num_batches_tracked']
