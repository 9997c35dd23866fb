"""Released SCRFD ONNX file -> our checkpoint: the weights of a (BN-folded) SCRFD graph copied into our model.

Released files (insightface ``detection/scrfd/tools/scrfd2onnx.py``) have BatchNorm folded into the convs
(``w' = w * gamma / sqrt(var + eps)``, ``b' = beta - mean * gamma / sqrt(var + eps)``). We load each ONNX conv into
our conv executed at the same position (ONNX node order is the traced execution order); a conv followed by BN gets
the folded bias through an identity BN (weight 1, bias b', running mean 0, running var ``1 - eps``), so the
converted model computes exactly what the file computes (in evaluation mode; to fine-tune, the training hook
:class:`mmdet_face.engine.hooks.FoldedBNCalibrationHook` first gives those BNs statistics). GroupNorm (the GN-head
models) cannot be folded: its affine parameters come from the ``GroupNormalization`` node or, in files exported by
older torch, from the ``Reshape -> InstanceNormalization -> Reshape -> Mul -> Add`` chain after the conv; the
per-level box ``Scale`` (``scale_mode``) is the scalar ``Mul`` after the box conv.

Output layout (released, and what :mod:`mmdet_face.deployment.scrfd_onnx_export` writes): ``score_8/16/32`` ``(B, N, 1)`` sigmoid scores, ``bbox_8/16/32``
``(B, N, 4)`` distances (left, top, right, bottom) in stride units, ``kps_8/16/32`` ``(B, N, 10)`` offsets in stride
units; row r is location ``divmod(r // A, W / s)``, anchor ``r % A``. Older model-pack files use numeric output
names and no batch dimension; they hold the same convs and are converted the same way.

When the graph does not fit the requested config, the error names the configs among ``candidate_configs`` (paths
the caller passes in; the command-line tool passes the repository's ``configs/scrfd``) whose convs and norms match.
"""
import os
import os.path as osp
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from mmdet_face.utils.output_file import atomic_output, check_output_path


class SCRFDOnnxMismatch(ValueError):
    """The ONNX graph does not have the convs (or norms, or scales) of the requested config."""


def _execution_order(model: nn.Module, input_hw=(64, 64)) -> List[nn.Module]:
    """Convs, norms and ``Scale`` multipliers in the order ``model._forward`` runs them (the order an ONNX trace
    writes them); a module shared by several strides appears once per call."""
    from mmcv.cnn import Scale
    order = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m)) for m in model.modules()
             if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.GroupNorm, Scale))]
    try:
        with torch.no_grad():
            model._forward(torch.zeros(1, 3, *input_hw))
    finally:
        for h in hooks:
            h.remove()
    return order


class _OnnxGraph:
    """Constant values and consumers of an ONNX graph's tensors."""

    def __init__(self, onnx_model):
        graph = onnx_model.graph
        self.nodes = list(graph.node)
        self._inits = {i.name: i for i in graph.initializer}
        self._consts = {n.output[0]: n for n in self.nodes if n.op_type == 'Constant' and n.attribute}
        # exporters alias shared weights through Identity nodes
        self._alias = {n.output[0]: n.input[0] for n in self.nodes if n.op_type == 'Identity'}
        self._consumers: Dict[str, list] = {}
        for node in self.nodes:
            for name in node.input:
                self._consumers.setdefault(name, []).append(node)

    def const(self, name: str):
        """The value of a constant tensor (initializer, Constant node, or an Identity of one) or None."""
        import numpy as np
        from onnx import helper, numpy_helper
        while name in self._alias and name not in self._inits:
            name = self._alias[name]
        if name in self._inits:
            return numpy_helper.to_array(self._inits[name])
        node = self._consts.get(name)
        if node is None:
            return None
        attr = node.attribute[0]
        value = helper.get_attribute_value(attr)
        return numpy_helper.to_array(value) if attr.name == 'value' else np.asarray(value)

    def readers(self, name: str) -> list:
        """Nodes that read ``name``'s values (``Shape`` only reads its shape)."""
        return [n for n in self._consumers.get(name, []) if n.op_type != 'Shape']

    def _single(self, name: str, op_type: str):
        nodes = self.readers(name)
        return nodes[0] if len(nodes) == 1 and nodes[0].op_type == op_type else None

    @staticmethod
    def _attr(node, name, default):
        from onnx import helper
        for attr in node.attribute:
            if attr.name == name:
                return helper.get_attribute_value(attr)
        return default

    def _const_input(self, node):
        """The constant operand of a binary node, or None."""
        for name in node.input:
            value = self.const(name)
            if value is not None:
                return value
        return None

    def group_norm_after(self, name: str, channels: int):
        """``(weight (C,), bias (C,), eps, groups)`` of a group normalisation reading ``name``, or None.

        Recognises the single ``GroupNormalization`` node (opset 21 per-channel scale; opsets 18-20 per-group,
        our export adds the per-channel ``Mul`` + ``Add`` after it) and the decomposition older exporters write:
        ``Reshape(0, G, -1) -> InstanceNormalization(s, b) -> Reshape -> Mul(w) -> Add(b)`` (insightface's
        released GN-head files)."""
        import numpy as np
        nodes = self.readers(name)
        if len(nodes) != 1:
            return None
        node = nodes[0]
        if node.op_type == 'GroupNormalization':
            groups = int(self._attr(node, 'num_groups', 0))
            scale, shift = self.const(node.input[1]), self.const(node.input[2])
            if scale is None or shift is None or groups <= 0:
                return None
            if scale.size == groups and groups != channels:  # opsets 18-20: one scale per group
                scale, shift = np.repeat(scale, channels // groups), np.repeat(shift, channels // groups)
            weight, bias, tail = scale.reshape(-1), shift.reshape(-1), node.output[0]
            eps_node = node
        else:
            inorm = self._single(node.output[0], 'InstanceNormalization') if node.op_type == 'Reshape' else None
            back = inorm is not None and self._single(inorm.output[0], 'Reshape')
            if not back:
                return None
            s, b = self.const(inorm.input[1]), self.const(inorm.input[2])
            if s is None or b is None or channels % s.size:
                return None
            groups = s.size
            weight, bias = np.repeat(s, channels // groups), np.repeat(b, channels // groups)
            tail, eps_node = back.output[0], inorm
        # the per-channel affine as Mul + Add (torch's decomposition, our opset-18 export)
        mul = self._single(tail, 'Mul')
        w = None if mul is None else self._const_input(mul)
        if w is not None:
            weight, bias, tail = weight * w.reshape(-1), bias * w.reshape(-1), mul.output[0]
        add = self._single(tail, 'Add')
        shift = None if add is None else self._const_input(add)
        if shift is not None:
            bias = bias + shift.reshape(-1)
        if weight.shape != (channels,) or bias.shape != (channels,):
            return None
        return weight, bias, float(self._attr(eps_node, 'epsilon', 1e-5)), groups

    def scale_after(self, name: str) -> Optional[float]:
        """The scalar a single ``Mul`` multiplies ``name`` by (SCRFD's per-level box ``Scale``), or None."""
        nodes = self.readers(name)
        if len(nodes) == 1 and nodes[0].op_type == 'Mul':
            value = self._const_input(nodes[0])
            if value is not None and value.size == 1:
                return float(value.reshape(-1)[0])
        return None


def _onnx_convs(graph: _OnnxGraph) -> List[Tuple[str, torch.Tensor, Optional[torch.Tensor], str]]:
    """``(node name, weight, bias or None, output name)`` for every Conv node in graph order."""
    out = []
    for node in graph.nodes:
        if node.op_type != 'Conv':
            continue
        weight = graph.const(node.input[1])
        bias = graph.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if weight is None or (len(node.input) > 2 and node.input[2] and bias is None):
            raise SCRFDOnnxMismatch(f'conv {node.name or node.output[0]!r} reads non-constant weights: '
                                    'not a plain exported SCRFD graph')
        out.append((node.name or node.output[0], torch.from_numpy(weight.copy()),
                    None if bias is None else torch.from_numpy(bias.copy()), node.output[0]))
    return out


def _onnx_signature(graph: _OnnxGraph) -> List[Tuple[Tuple[int, ...], bool]]:
    """Per ONNX conv: weight shape and whether a group normalisation reads its output."""
    return [(tuple(w.shape), graph.group_norm_after(out, w.shape[0]) is not None)
            for _, w, _, out in _onnx_convs(graph)]


def _model_signature(model: nn.Module) -> List[Tuple[Tuple[int, ...], bool]]:
    order = _execution_order(model)
    return [(tuple(m.weight.shape), i + 1 < len(order) and isinstance(order[i + 1], nn.GroupNorm))
            for i, m in enumerate(order) if isinstance(m, nn.Conv2d)]


def find_matching_configs(onnx_model, candidate_configs: Sequence[str]) -> List[str]:
    """The configs among ``candidate_configs`` (paths) whose convs (weight shapes, in execution order) and
    GroupNorms after them equal the ONNX file's, in the order given."""
    from mmdet_face.apis.inference import init_face_detector
    signature = _onnx_signature(_OnnxGraph(onnx_model))
    matches = []
    for path in candidate_configs:
        try:
            model = init_face_detector(path)
        except Exception:  # a config that does not build here is simply not a candidate
            continue
        if _model_signature(model) == signature:
            matches.append(os.fspath(path))
    return matches


def _plan_onnx_load(model: nn.Module, graph: _OnnxGraph, config_name: str):
    """What to copy where: ``[(module, {param name: tensor})]`` in execution order, or a problem description."""
    import numpy as np
    from mmcv.cnn import Scale
    convs_onnx = _onnx_convs(graph)
    order = _execution_order(model)
    convs = [i for i, m in enumerate(order) if isinstance(m, nn.Conv2d)]
    if len(convs) != len(convs_onnx):
        return f'the ONNX graph has {len(convs_onnx)} convs, {config_name} has {len(convs)}'
    plan = []
    for index, ((name, w, b, out), pos) in enumerate(zip(convs_onnx, convs)):
        conv = order[pos]
        nxt = order[pos + 1] if pos + 1 < len(order) else None
        where = f'conv #{index} ({name})'
        if tuple(w.shape) != tuple(conv.weight.shape):
            return f'{where} has weight shape {tuple(w.shape)} in the ONNX graph, ' \
                   f'{tuple(conv.weight.shape)} in {config_name}'
        gn = graph.group_norm_after(out, w.shape[0])
        if isinstance(nxt, nn.GroupNorm) != (gn is not None):
            return (f'{where} is followed by GroupNorm in ' + ('the ONNX graph' if gn is not None else config_name)
                    + ' but not in ' + (config_name if gn is not None else 'the ONNX graph'))
        if isinstance(nxt, nn.GroupNorm):
            weight, bias, eps, groups = gn
            if groups != nxt.num_groups:
                return f'the GroupNorm after {where} has {groups} groups in the ONNX graph, ' \
                       f'{nxt.num_groups} in {config_name}'
            if abs(eps - nxt.eps) > 1e-3 * nxt.eps:
                return f'the GroupNorm after {where} has eps {eps:g} in the ONNX graph, {nxt.eps:g} in {config_name}'
            if b is not None and conv.bias is None and b.abs().max() > 0:
                return f'{where} has a bias in the ONNX graph; in {config_name} a GroupNorm follows it without one'
            plan.append((conv, dict(weight=w, bias=b if conv.bias is not None else None)))
            plan.append((nxt, dict(weight=torch.from_numpy(np.array(weight, np.float32)),
                                   bias=torch.from_numpy(np.array(bias, np.float32)))))
            continue
        b = torch.zeros(conv.out_channels) if b is None else b
        if conv.bias is not None:
            plan.append((conv, dict(weight=w, bias=b)))
        elif isinstance(nxt, nn.BatchNorm2d):  # the folded bias goes into an identity BN
            plan.append((conv, dict(weight=w)))
            plan.append((nxt, dict(weight=torch.ones_like(nxt.weight), bias=b,
                                   running_mean=torch.zeros_like(nxt.running_mean),
                                   running_var=torch.full_like(nxt.running_var, 1.0 - nxt.eps))))
        else:
            return f'{config_name} has a conv without bias or BN after it ({name}): cannot hold a folded bias'
        scale = graph.scale_after(out)
        if isinstance(nxt, Scale):
            plan.append((nxt, dict(scale=torch.tensor(1.0 if scale is None else scale))))
        elif scale is not None and scale != 1.0:
            return f'the ONNX graph multiplies the output of {where} by {scale:g}; {config_name} has no Scale there'
    return plan


def _proportional(value: torch.Tensor, first: torch.Tensor) -> Optional[float]:
    """``r`` with ``value == r * first`` (to float rounding), or None."""
    denom = float((first * first).sum())
    if denom == 0.0:
        return None
    r = float((value * first).sum()) / denom
    tol = 1e-5 * float(value.abs().max()) + 1e-7
    return r if float((value - r * first).abs().max()) <= tol else None


def _merge_shared_uses(plan, config_name: str):
    """One set of values per module of the plan; a module our config shares between strides must get the same
    values at each use. Exception: a shared box conv followed by per-level ``Scale`` s, whose Mul an optimiser
    (onnxsim) folded into per-level copies ``s_l * w`` of the conv: the conv keeps the first level's weights and
    each level's ``Scale`` the ratio. Returns the merged plan or a problem description."""
    from mmcv.cnn import Scale
    seen = {}
    merged = []
    for k, (module, values) in enumerate(plan):
        first = seen.get(id(module))
        if first is None:
            seen[id(module)] = values
            merged.append((module, values))
            continue
        keys = [key for key, v in values.items() if v is not None]
        if all(first[key].shape == values[key].shape and
               torch.allclose(first[key], values[key], rtol=1e-5, atol=1e-6) for key in keys):
            continue
        ratios = [_proportional(values[key], first[key]) for key in keys]
        if (isinstance(module, nn.Conv2d) and k + 1 < len(plan) and isinstance(plan[k + 1][0], Scale)
                and None not in ratios and max(ratios) - min(ratios) <= 1e-5 * abs(ratios[0])):
            # the ratio goes into this level's Scale (a distinct module per level, planned next)
            plan[k + 1][1]['scale'] = plan[k + 1][1]['scale'] * ratios[0]
            continue
        return (f'{config_name} shares a {type(module).__name__} between strides, the ONNX graph has different '
                'values at its uses')
    return merged


def load_scrfd_onnx_weights(model: nn.Module, onnx_model, config_name: str = 'the config',
                            candidate_configs: Sequence[str] = ()) -> None:
    """Copy a released SCRFD ONNX model's weights into ``model`` (in place; see the module docstring).

    Convs (BN folded in the file: the bias goes through an identity BN), the affine parameters of head GroupNorms
    (a single ``GroupNormalization`` node or the InstanceNormalization decomposition) and the per-level box
    ``Scale`` multipliers (also when an optimiser folded them into the box convs). A module our config shares
    between strides must hold the same values at every use.

    Args:
        candidate_configs: config paths to search for the one the graph fits when it does not fit ``model``.

    Raises:
        SCRFDOnnxMismatch: conv count, a conv shape, a norm or a scale differs; the message names the matching
            config(s) among ``candidate_configs``.
    """
    plan = _plan_onnx_load(model, _OnnxGraph(onnx_model), config_name)
    if not isinstance(plan, str):
        plan = _merge_shared_uses(plan, config_name)
    if isinstance(plan, str):
        candidate_configs = list(candidate_configs)
        if candidate_configs:
            matches = find_matching_configs(onnx_model, candidate_configs)
            hint = ('; use ' + ' or '.join(osp.relpath(m) for m in matches)) if matches else \
                f'; none of the {len(candidate_configs)} candidate configs matches its convs and norms'
        else:
            hint = ''
        raise SCRFDOnnxMismatch(plan + hint)
    with torch.no_grad():
        for module, values in plan:
            for key, value in values.items():
                if value is not None:
                    getattr(module, key).copy_(value.reshape(getattr(module, key).shape))


def read_onnx_model(src: str, expected: str = 'a released SCRFD .onnx model'):
    """``onnx.load(src)`` with errors that name the file and say what was expected.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        ValueError: ``src`` is not an ONNX model (not a ModelProto, or one without a graph of nodes: protobuf
            parses some non-ONNX bytes, an empty file among them, as an empty model).
    """
    import onnx
    src = str(src)
    if not osp.isfile(src):
        raise FileNotFoundError(f'{src}: file not found (expected {expected})')
    try:
        model = onnx.load(src)
    except Exception as err:  # protobuf DecodeError, external-data errors, ...
        hint = (' (it is a zip archive, as PyTorch checkpoints are: a .pth of our model needs no conversion)'
                if zipfile.is_zipfile(src) else '')
        raise ValueError(f'{src}: not an ONNX model ({type(err).__name__}: {err}){hint}; expected {expected}') \
            from err
    if not model.graph.node or not model.opset_import:
        raise ValueError(f'{src}: not an ONNX model (it parses as a protobuf message without an ONNX graph: '
                         f'{len(model.graph.node)} nodes, {len(model.opset_import)} opset imports); '
                         f'expected {expected}')
    return model


def other_family_export(onnx_model) -> Optional[str]:
    """The family whose export layout an ONNX model's output names are (``'RetinaFace'``, ``'DSFD'``: what
    :mod:`.retinaface_onnx_export` / :mod:`.dsfd_onnx_export` and those releases write), or None."""
    from .dsfd_onnx_export import OUTPUT_NAMES as DSFD_OUTPUTS
    from .retinaface_onnx_export import OUTPUT_NAMES as RETINAFACE_OUTPUTS
    outputs = tuple(output.name for output in onnx_model.graph.output)
    return {RETINAFACE_OUTPUTS: 'RetinaFace', DSFD_OUTPUTS: 'DSFD'}.get(outputs)


def convert_scrfd_onnx(src: str, config: str, dst: Optional[str] = None, overwrite: bool = False,
                       candidate_configs: Sequence[str] = ()) -> dict:
    """Released SCRFD ONNX file + our matching config -> mmengine checkpoint dict (saved to ``dst`` if given).

    ``dst`` is written atomically (temporary file + rename); an existing ``dst`` is refused unless ``overwrite``.
    ``candidate_configs``: config paths the mismatch error searches for the ones the graph fits.

    Raises:
        OutputExistsError: ``dst`` exists and ``overwrite`` is False (checked before anything is read).
        OutputIsInputError: ``dst`` is ``src`` or ``config`` (whatever ``overwrite`` says).
        FileNotFoundError / ValueError: ``src`` is missing or not an ONNX model (see :func:`read_onnx_model`), or is
            another family's export (:func:`other_family_export`).
        SCRFDOnnxMismatch: the graph does not fit ``config``.
    """
    from mmdet_face.apis.inference import init_face_detector
    if dst is not None:
        check_output_path(dst, overwrite, inputs=(src, config))
    onnx_model = read_onnx_model(src)
    family = other_family_export(onnx_model)
    if family is not None:
        outputs = ', '.join(output.name for output in onnx_model.graph.output)
        raise ValueError(f'{src}: is a {family} ONNX export (outputs {outputs}), not an SCRFD model (outputs '
                         f'score_8/16/32, bbox_8/16/32[, kps_8/16/32]); this converter reads SCRFD graphs only, '
                         'and nothing was written')
    model = init_face_detector(config)
    load_scrfd_onnx_weights(model, onnx_model, config_name=osp.relpath(config), candidate_configs=candidate_configs)
    ckpt = dict(state_dict=model.state_dict(),
                meta=dict(source=osp.basename(src), converted_by=__name__, config=config))
    if dst is not None:
        with atomic_output(dst, overwrite) as tmp:
            torch.save(ckpt, tmp)
    return ckpt


__all__ = ['SCRFDOnnxMismatch', 'convert_scrfd_onnx', 'find_matching_configs', 'load_scrfd_onnx_weights',
           'other_family_export', 'read_onnx_model']
