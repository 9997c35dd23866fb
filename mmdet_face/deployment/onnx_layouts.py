"""What our ONNX files hold, family by family, and how their outputs map back to a head's ``predict_by_feat`` inputs.

Each family's exporter module (``<family>_onnx_export.py``) states its output layout and provides its inverse:

* ``onnx_output_names(head) -> list[str]``: the outputs its export of ``head`` has;
* ``onnx_outputs_to_head_inputs(outputs, head, input_hw) -> tuple``: ``{name: (B, N, C) array}`` of one run on an
  input batch of height / width ``input_hw`` -> what ``head.forward`` returns (lists over levels of
  ``(B, A * C, h, w)`` float32 tensors), so the head's own ``predict_by_feat`` (candidates, decoding, the face tail)
  turns them into detections exactly as it does for the PyTorch network;
* optionally ``onnx_outputs_to_candidates(outputs, head, input_hw, cfg) -> list | None``: per image the candidates
  ``head.decode_image`` gives for those maps, read from the rows directly (only the rows above the score threshold
  decoded), or None for a test config it does not cover (SCRFD has it; the onnxruntime backend uses it when present).

This module finds the exporter of a head (:func:`exporter_module`), recognises the family of an ONNX file from its
output names (:func:`family_of_outputs`, :func:`check_output_names`) and holds what the inverses share: the level
grids (:func:`level_grids`), rows back to maps (:func:`rows_to_maps`) and the inverse activations.

Inverse activations. The files hold activated scores (sigmoid for SCRFD and SRN, a 2-way softmax for RetinaFace and
DSFD), the heads read logits. :func:`logit` computes ``log(p) - log(1 - p)`` in float64 from the float32
probability and rounds once to float32; the head's sigmoid of it gives ``p`` back to float32 rounding (relative
error ``<= 5e-7``, the few ulps float32's own sigmoid rounds by; ``p = 1`` gives ``+inf`` and back exactly 1,
``p = 0`` gives ``-inf`` and back 0), so nothing of the file's score is lost. A softmax is inverted by
:func:`log_probs` (``log p`` per class, float64 then float32): the head's softmax of ``log p`` is ``p / sum(p)``,
i.e. ``p`` to float32 rounding (absolute error ``<= 1e-7``).

Level grids. A level of stride ``s`` on an ``H x W`` input has ``ceil(H / s) x ceil(W / s)`` locations in every
network here (stride-2 convs and pools with ``padding = kernel // 2``); the row count of each output is checked
against it, so a file of another input size or another anchor layout is an error, never a shifted decoding.
"""
import importlib
import math
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

# head class -> (family, exporter module of this package, its export function)
EXPORTERS: Dict[str, Tuple[str, str, str]] = {
    'SCRFDHead': ('SCRFD', 'scrfd_onnx_export', 'export_scrfd_onnx'),
    'RetinaFaceHead': ('RetinaFace', 'retinaface_onnx_export', 'export_retinaface_onnx'),
    'DSFDHead': ('DSFD', 'dsfd_onnx_export', 'export_dsfd_onnx'),
    'SRNHead': ('SRN / AInnoFace', 'srn_onnx_export', 'export_srn_onnx'),
}


class OnnxLayoutError(ValueError):
    """An ONNX file's outputs are not the layout its config's family exports (another family, another variant, or
    another input size)."""


def exporter_module(head):
    """The exporter module of ``head``'s family (see :data:`EXPORTERS`).

    Raises:
        OnnxLayoutError: no exporter exists for the head's class.
    """
    name = type(head).__name__
    if name not in EXPORTERS:
        raise OnnxLayoutError(f'ONNX export and the onnxruntime backend cover the heads {", ".join(EXPORTERS)}; '
                              f'this config has a {name}')
    return importlib.import_module(f'mmdet_face.deployment.{EXPORTERS[name][1]}')


def export_function(head):
    """The export function of ``head``'s family (``export_<family>_onnx(model, out_file, shape, dynamic, opset,
    simplify, batch_size, overwrite, check)``) and its default opset."""
    module = exporter_module(head)
    return getattr(module, EXPORTERS[type(head).__name__][2]), module.DEFAULT_OPSET


def family_of_outputs(names: Sequence[str]) -> Optional[str]:
    """The family whose export layout the output ``names`` are (any order), or None."""
    names = set(names)
    if names and all(re.fullmatch(r'(score|bbox|kps)_\d+', n) for n in names):
        return 'SCRFD' + (' with keypoints' if any(n.startswith('kps_') for n in names) else ' without keypoints')
    from .srn_onnx_export import OUTPUT_NAMES as SRN_OUTPUTS
    known = {('conf', 'landms', 'loc'): 'RetinaFace', ('conf', 'loc'): 'DSFD',
             tuple(sorted(SRN_OUTPUTS)): 'SRN / AInnoFace'}
    return known.get(tuple(sorted(names)))


def check_output_names(names: Sequence[str], head, path: str, config_name: str = 'the config') -> None:
    """Refuse an ONNX file (``path``, outputs ``names``) that is not ``head``'s family's layout.

    Raises:
        OnnxLayoutError: the message names the file's outputs and family, the outputs ``config_name`` expects, and
            which config to use instead.
    """
    expected = exporter_module(head).onnx_output_names(head)
    if set(names) == set(expected):
        return
    family = family_of_outputs(names)
    own = EXPORTERS[type(head).__name__][0]
    what = f'a {family} export' if family else 'not a layout of this package\'s exporters'
    use = (f'use the {family} config the file was exported from' if family
           else f'export the model with tools/deployment/export_onnx.py')
    raise OnnxLayoutError(f'{path}: the ONNX file has outputs {", ".join(names)} ({what}); {config_name} builds a '
                          f'{type(head).__name__} ({own}), whose export has outputs {", ".join(expected)}; {use}')


def level_grids(input_hw: Sequence[int], strides: Sequence, anchors: int, rows: Sequence[int],
                what: str) -> List[Tuple[int, int]]:
    """``(h, w)`` per level of stride ``s``: ``(ceil(H / s), ceil(W / s))``.

    Args:
        input_hw: ``(H, W)`` of the network input.
        strides: per level an int or an ``(sx, sy)`` pair (mmdet's prior generators).
        anchors: priors per location.
        rows: the row counts found: one per level, or one total for outputs that concatenate the levels.
        what: the output(s) named in an error.

    Raises:
        OnnxLayoutError: the counts differ from the grids'.
    """
    height, width = int(input_hw[0]), int(input_hw[1])
    grids = []
    for stride in strides:
        sx, sy = (stride, stride) if isinstance(stride, (int, float)) else (stride[0], stride[1])
        grids.append((math.ceil(height / sy), math.ceil(width / sx)))
    counts = [h * w * anchors for h, w in grids]
    if list(rows) != (counts if len(rows) == len(counts) else [sum(counts)]):
        raise OnnxLayoutError(f'{what}: {list(rows)} rows for an input of {height} x {width}, expected '
                              f'{counts if len(rows) == len(counts) else sum(counts)} ({anchors} priors per location '
                              f'at strides {list(strides)}): the file was exported from a config with other levels or '
                              'anchors')
    return grids


def batched(rows: np.ndarray, name: str, channels: int) -> np.ndarray:
    """``(B, N, C)`` rows; a ``(N, C)`` output (older files without a batch dimension) gets ``B = 1``."""
    rows = np.asarray(rows)
    if rows.ndim == 2:
        rows = rows[None]
    if rows.ndim != 3 or rows.shape[2] != channels:
        raise OnnxLayoutError(f'output {name}: shape {rows.shape}, expected (B, N, {channels})')
    return rows


def rows_to_maps(rows, grids: Sequence[Tuple[int, int]], anchors: int) -> List[torch.Tensor]:
    """``(B, N, C)`` rows (levels concatenated, per level row-major over locations, anchors of a location
    consecutive) -> per level ``(B, A * C, h, w)`` with channel ``a * C + c`` = anchor ``a``, value ``c``: the
    layout of the heads' conv outputs."""
    rows = torch.as_tensor(rows)
    b, _, c = rows.shape
    maps, start = [], 0
    for h, w in grids:
        n = h * w * anchors
        maps.append(rows[:, start:start + n].reshape(b, h, w, anchors * c).permute(0, 3, 1, 2))
        start += n
    return maps


def logit_array(probability) -> np.ndarray:
    """float32 logits whose sigmoid is ``probability``, as a numpy array (see the module docstring)."""
    p = np.asarray(probability, dtype=np.float64)
    with np.errstate(divide='ignore'):
        return (np.log(p) - np.log1p(-p)).astype(np.float32)


def logit(probability) -> torch.Tensor:
    """:func:`logit_array` as a tensor."""
    return torch.from_numpy(logit_array(probability))


def log_probs(probability) -> torch.Tensor:
    """float32 ``log p`` whose softmax (over the last axis) is ``probability`` (see the module docstring)."""
    with np.errstate(divide='ignore'):
        return torch.from_numpy(np.log(np.asarray(probability, dtype=np.float64)).astype(np.float32))


def strides_of(head) -> list:
    """The head's level strides as ints (its prior generator's, an ``(sx, sy)`` pair read as ``sx``)."""
    return [int(s[0]) if isinstance(s, (tuple, list)) else int(s) for s in head.prior_generator.strides]


__all__ = ['EXPORTERS', 'OnnxLayoutError', 'batched', 'check_output_names', 'export_function', 'exporter_module',
           'family_of_outputs',
           'level_grids', 'log_probs', 'logit', 'logit_array', 'rows_to_maps', 'strides_of']
