"""SCRFD <-> ONNX: import released (BN-folded) SCRFD ONNX files as our checkpoints, export ours in their layout.

Released files (insightface ``detection/scrfd/tools/scrfd2onnx.py``) have BatchNorm folded into the convs
(``w' = w * gamma / sqrt(var + eps)``, ``b' = beta - mean * gamma / sqrt(var + eps)``). We load each ONNX conv into
our conv executed at the same position (ONNX node order is the traced execution order); a conv followed by BN gets
the folded bias through an identity BN (weight 1, bias b', running mean 0, running var ``1 - eps``), so the
converted model computes exactly what the file computes.

Output layout (released and exported): ``score_8/16/32`` ``(B, N, 1)`` sigmoid scores, ``bbox_8/16/32``
``(B, N, 4)`` distances (left, top, right, bottom) in stride units, ``kps_8/16/32`` ``(B, N, 10)`` offsets in stride
units; row r is location ``divmod(r // A, W / s)``, anchor ``r % A``. Older model-pack files use numeric output
names and no batch dimension; they hold the same convs and are converted the same way.
"""
import contextlib
import copy
import glob
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs', 'scrfd')


class SCRFDOnnxMismatch(ValueError):
    """The ONNX graph does not have the convs of the requested config."""


def _execution_order(model: nn.Module, input_hw=(64, 64)) -> List[nn.Module]:
    """Convs and BNs in the order ``model._forward`` runs them (the order an ONNX trace writes them)."""
    order = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m)) for m in model.modules()
             if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.GroupNorm))]
    try:
        with torch.no_grad():
            model._forward(torch.zeros(1, 3, *input_hw))
    finally:
        for h in hooks:
            h.remove()
    return order


def onnx_conv_weights(onnx_model) -> List[Tuple[str, torch.Tensor, Optional[torch.Tensor]]]:
    """``(node name, weight, bias or None)`` for every Conv node in graph order."""
    from onnx import numpy_helper
    graph = onnx_model.graph
    inits = {i.name: i for i in graph.initializer}
    # some exports keep weights in Constant nodes instead of initializers
    consts = {n.output[0]: n.attribute[0].t for n in graph.node if n.op_type == 'Constant' and n.attribute}

    def tensor(name):
        proto = inits.get(name, consts.get(name))
        if proto is None:
            raise SCRFDOnnxMismatch(f'conv input {name!r} is not a constant: not a plain exported SCRFD graph')
        return torch.from_numpy(numpy_helper.to_array(proto).copy())

    out = []
    for node in graph.node:
        if node.op_type == 'Conv':
            bias = tensor(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            out.append((node.name or node.output[0], tensor(node.input[1]), bias))
    return out


def _conv_shapes(model: nn.Module) -> List[Tuple[int, ...]]:
    return [tuple(m.weight.shape) for m in _execution_order(model) if isinstance(m, nn.Conv2d)]


def find_matching_configs(onnx_model, config_dir: str = CONFIG_DIR) -> List[str]:
    """Configs in ``config_dir`` whose conv weight shapes (in execution order) equal the ONNX file's."""
    from mmdet_face.models.utils.complexity import build_detector_from_config
    shapes = [tuple(w.shape) for _, w, _ in onnx_conv_weights(onnx_model)]
    matches = []
    for path in sorted(glob.glob(osp.join(config_dir, '*.py'))):
        try:
            model = build_detector_from_config(path).eval()
        except Exception:  # a config that does not build here is simply not a candidate
            continue
        if _conv_shapes(model) == shapes:
            matches.append(path)
    return matches


def load_scrfd_onnx_weights(model: nn.Module, onnx_model, config_name: str = 'the config') -> None:
    """Copy a BN-folded SCRFD ONNX model's conv weights into ``model`` (in place; see the module docstring).

    Raises:
        SCRFDOnnxMismatch: the conv count or a conv shape differs; the message names the matching config(s).
    """
    convs_onnx = onnx_conv_weights(onnx_model)
    order = _execution_order(model)
    convs = [m for m in order if isinstance(m, nn.Conv2d)]
    problem = None
    if len(convs) != len(convs_onnx):
        problem = f'the ONNX graph has {len(convs_onnx)} convs, {config_name} has {len(convs)}'
    else:
        for index, ((name, w, _), conv) in enumerate(zip(convs_onnx, convs)):
            if tuple(w.shape) != tuple(conv.weight.shape):
                problem = (f'conv #{index} ({name}) has weight shape {tuple(w.shape)} in the ONNX graph, '
                           f'{tuple(conv.weight.shape)} in {config_name}')
                break
    if problem is None:
        for (name, w, b), conv in zip(convs_onnx, convs):
            nxt = order[order.index(conv) + 1] if order.index(conv) + 1 < len(order) else None
            if conv.bias is None and not isinstance(nxt, nn.BatchNorm2d):
                problem = f'{config_name} has a conv without bias or BN after it ({name}): cannot hold a folded bias'
                break
    if problem is not None:
        matches = find_matching_configs(onnx_model)
        hint = ('use ' + ' or '.join(osp.relpath(m) for m in matches)) if matches else \
            'no config in configs/scrfd matches its conv shapes'
        raise SCRFDOnnxMismatch(f'{problem}; {hint}')

    for (name, w, b), conv in zip(convs_onnx, convs):
        b = torch.zeros(conv.out_channels) if b is None else b
        conv.weight.data.copy_(w)
        if conv.bias is not None:
            conv.bias.data.copy_(b)
            continue
        bn = order[order.index(conv) + 1]
        bn.weight.data.fill_(1.0)
        bn.bias.data.copy_(b)
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)  # (x - 0) / sqrt(1 - eps + eps) == x


def convert_scrfd_onnx(src: str, config: str, dst: Optional[str] = None) -> dict:
    """Released SCRFD ONNX file + our matching config -> mmengine checkpoint dict (saved to ``dst`` if given)."""
    import onnx

    from mmdet_face.models.utils.complexity import build_detector_from_config
    model = build_detector_from_config(config).eval()
    load_scrfd_onnx_weights(model, onnx.load(src), config_name=osp.relpath(config))
    ckpt = dict(state_dict=model.state_dict(),
                meta=dict(source=osp.basename(src), converted_by='mmdet_face.deployment.scrfd_onnx', config=config))
    if dst is not None:
        torch.save(ckpt, dst)
    return ckpt


# ----------------------------------------------------------------------------------------------------- export
class _GroupNormFunction(torch.autograd.Function):
    """GroupNorm that the TorchScript exporter writes as one ``GroupNormalization`` (opset >= 21, per-channel
    scale/bias) node instead of its reshape/InstanceNormalization decomposition."""

    @staticmethod
    def forward(ctx, x, weight, bias, num_groups, eps):
        return nn.functional.group_norm(x, num_groups, weight, bias, eps)

    @staticmethod
    def symbolic(g, x, weight, bias, num_groups, eps):
        return g.op('GroupNormalization', x, weight, bias, epsilon_f=eps, num_groups_i=num_groups)


@contextlib.contextmanager
def _single_op_group_norm():
    """Temporarily route every affine ``nn.GroupNorm`` through ``_GroupNormFunction`` (modules stay in place, so
    code that reads ``norm.weight`` keeps working)."""
    original = nn.GroupNorm.forward

    def forward(self, x):
        if not self.affine:
            return original(self, x)
        return _GroupNormFunction.apply(x, self.weight, self.bias, self.num_groups, self.eps)

    nn.GroupNorm.forward = forward
    try:
        yield
    finally:
        nn.GroupNorm.forward = original


class SCRFDExportWrapper(nn.Module):
    """Image batch ``(B, 3, H, W)`` (normalised RGB) -> the released outputs (see the module docstring)."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector
        self.head = detector.bbox_head
        self.strides = [s[0] if isinstance(s, (tuple, list)) else s for s in self.head.prior_generator.strides]

    def output_names(self) -> List[str]:
        kinds = ['score', 'bbox'] + (['kps'] if self.head.use_kps else [])
        return [f'{kind}_{s}' for kind in kinds for s in self.strides]

    def forward(self, x):
        cls_scores, bbox_preds, kps_preds = self.detector._forward(x)
        b = x.shape[0]

        def flat(t, c):
            return t.permute(0, 2, 3, 1).reshape(b, -1, c)

        outs = [flat(t, self.head.cls_out_channels).sigmoid() for t in cls_scores]
        outs += [flat(t, 4) for t in bbox_preds]
        if self.head.use_kps:
            outs += [flat(t, 2 * self.head.num_keypoints) for t in kps_preds]
        return tuple(outs)


DEFAULT_OPSET = 21  # first opset whose GroupNormalization has per-channel scale/bias (= torch's GroupNorm)


def export_scrfd_onnx(model: nn.Module, out_file: str, shape: Sequence[int] = (640, 640), dynamic: bool = False,
                      opset: int = DEFAULT_OPSET, simplify: bool = False, batch_size: int = 1) -> List[str]:
    """Export a built SCRFD detector (weights loaded) to ``out_file``; returns the output names.

    ``dynamic``: batch, height and width are symbolic; otherwise only the batch is. GroupNorm becomes a single
    ``GroupNormalization`` node when ``opset >= 21``; below that (or if the exporter refuses it) torch's own
    decomposition is kept. ``simplify``: see :func:`mmdet_face.deployment.onnx_utils.simplify_onnx`.
    """
    model = copy.deepcopy(model).cpu().eval()
    wrapper = SCRFDExportWrapper(model).eval()
    names = wrapper.output_names()
    x = torch.zeros(batch_size, 3, *shape)
    axes = {'input.1': {0: 'batch'}}
    if dynamic:
        axes['input.1'].update({2: 'height', 3: 'width'})
    axes.update({n: {0: 'batch', 1: f'num_{n}'} if dynamic else {0: 'batch'} for n in names})

    def _export(m, opset_version):
        with torch.no_grad():
            torch.onnx.export(m, x, out_file, input_names=['input.1'], output_names=names, opset_version=opset_version,
                              dynamic_axes=axes, do_constant_folding=True, dynamo=False)

    has_gn = any(isinstance(m, nn.GroupNorm) for m in model.modules())
    if has_gn and opset >= 21:
        try:
            with _single_op_group_norm():
                _export(wrapper, opset)
        except Exception as err:  # an exporter without opset 21: keep torch's decomposition
            warnings.warn(f'single-op GroupNormalization export failed ({type(err).__name__}: {err}); '
                          'exporting the InstanceNormalization decomposition at opset 17')
            _export(wrapper, 17)
    else:
        _export(wrapper, opset)
    if simplify:  # onnxsim when installed, else onnxruntime's basic offline optimisation
        from .onnx_utils import simplify_onnx
        simplify_onnx(out_file)
    return names


def head_outputs_flat(model: nn.Module, x: torch.Tensor) -> Dict[str, torch.Tensor]:
    """PyTorch reference of the exported outputs: ``{name: tensor}`` in export order."""
    wrapper = SCRFDExportWrapper(model).eval()
    with torch.no_grad():
        return dict(zip(wrapper.output_names(), wrapper(x)))
