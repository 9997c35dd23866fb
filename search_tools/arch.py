"""The canonical architecture description the search works on, read from and written into mmengine configs.

An *arch* is a small JSON-able dict (the search's unit of de-duplication and of FLOPs counting, see
``search_tools.flops.count_flops`` for its fields). :func:`arch_from_config` reads one from an SCRFD-style config
(ResNetV1e, MobileNetV1 or DamoFDNet + PAFPN on C3..C5 + SCRFDHead), :func:`model_config` writes one into a
template config's ``model``, and :func:`arch_key` names it. A ``DamoFDNet`` backbone is its structure string
(DamoFD, Liu et al., ICLR 2023), written canonically (``damofd_structure.format_structure``) so that equal
networks have equal keys.
"""
import copy
import hashlib
import json
from typing import Optional, Union

from search_tools.flops import BLOCK_EXPANSION, HEAD_STRIDES, backbone_out_channels

HEAD_DEFAULTS = dict(dw_conv=False, strides_share=True, cls_reg_share=True, scale_mode=2, use_kps=False,
                     num_keypoints=5, num_anchors=2)


def read_config(path):
    """A config the search reads (space file, template, candidate): the package's reader, every failure a
    ``ValueError`` (:class:`mmdet_face.utils.config_file.ConfigFileError`) naming the file (and the line)."""
    from mmdet_face.utils.config_file import read_config as read_config_file
    return read_config_file(path, name_any_error=True)


def read_option_config(path: str, option: str):
    """:func:`read_config` of the config file a command-line ``option`` names (``--template``, ``--config``); a
    missing or broken file is a ``StudyError`` naming the option, before anything is written."""
    import os.path as osp

    from search_tools.study import StudyError
    if not osp.isfile(path):
        raise StudyError(f'{option} {path}: no such config file')
    try:
        return read_config(path)
    except ValueError as exc:
        raise StudyError(f'{option} {exc}') from None


def _load(cfg):
    from mmengine.config import Config
    if isinstance(cfg, Config):
        return cfg
    if isinstance(cfg, dict):
        return Config(copy.deepcopy(cfg))
    return read_config(cfg)


def _where(cfg) -> str:
    return getattr(cfg, 'filename', None) or '<config>'


def _fail(cfg, field: str, message: str):
    raise ValueError(f'{_where(cfg)}: model.{field}: {message}')


def arch_from_config(cfg) -> dict:
    """Read the architecture of an SCRFD-style config.

    Args:
        cfg: A config path, an ``mmengine.Config`` or a dict with a ``model`` entry.

    Returns:
        dict: the canonical arch (see ``search_tools.flops.count_flops``).

    Raises:
        ValueError: naming the config file and the field when the model is not ResNetV1e/MobileNetV1/DamoFDNet
            + PAFPN (start_level 1, 3 outputs, no norm) + SCRFDHead with anchors at strides 8/16/32.
    """
    cfg = _load(cfg)
    if 'model' not in cfg:
        raise ValueError(f'{_where(cfg)}: no model in the config')
    model = cfg.model
    bb = model.get('backbone', {})
    if bb.get('type') == 'ResNetV1e':
        block_cfg = bb.get('block_cfg') or {}
        if bb.get('num_stages', 4) != 4 or tuple(bb.get('out_indices', (0, 1, 2, 3))) != (0, 1, 2, 3):
            _fail(cfg, 'backbone', 'the search handles 4 stages with out_indices (0, 1, 2, 3)')
        if tuple(bb.get('strides', (1, 2, 2, 2))) != (1, 2, 2, 2) or bb.get('style', 'pytorch') != 'pytorch':
            _fail(cfg, 'backbone', "strides must be (1, 2, 2, 2) and style 'pytorch'")
        if (bb.get('norm_cfg') or {}).get('type', 'BN') != 'BN':
            _fail(cfg, 'backbone.norm_cfg', 'the FLOPs count assumes BN in the backbone')
        block = block_cfg.get('block', 'BasicBlock')
        if block not in BLOCK_EXPANSION:
            _fail(cfg, 'backbone.block_cfg.block', f'expected one of {sorted(BLOCK_EXPANSION)}, got {block!r}')
        stem = bb.get('stem_channels') or bb.get('base_channels', 64)
        planes = list(block_cfg.get('stage_planes', [bb.get('base_channels', 64) * 2**i for i in range(4)]))
        backbone = dict(type='ResNetV1e', block=block, stem_channels=int(stem),
                        stage_blocks=[max(1, int(b)) for b in block_cfg['stage_blocks']][:4],
                        stage_planes=[int(p) for p in planes[:4]])
    elif bb.get('type') == 'MobileNetV1':
        block_cfg = bb.get('block_cfg') or dict(stage_blocks=(2, 4, 4, 2), stage_planes=(8, 16, 32, 64, 128, 256))
        if tuple(bb.get('out_indices', (0, 1, 2, 3))) != (0, 1, 2, 3):
            _fail(cfg, 'backbone.out_indices', 'the search handles out_indices (0, 1, 2, 3)')
        backbone = dict(type='MobileNetV1', stage_blocks=[int(b) for b in block_cfg['stage_blocks']],
                        stage_planes=[int(p) for p in block_cfg['stage_planes']])
    elif bb.get('type') == 'DamoFDNet':
        backbone = _damofd_backbone(cfg, bb)
    else:
        _fail(cfg, 'backbone.type', f"expected 'ResNetV1e', 'MobileNetV1' or 'DamoFDNet', got {bb.get('type')!r}")
    if backbone['type'] != 'DamoFDNet' and len(backbone['stage_blocks']) != 4:
        _fail(cfg, 'backbone.block_cfg.stage_blocks', f"expected 4 stages, got {backbone['stage_blocks']}")

    neck = model.get('neck', {})
    outs = backbone_out_channels(backbone)
    if neck.get('type') != 'PAFPN':
        _fail(cfg, 'neck.type', f"expected 'PAFPN', got {neck.get('type')!r}")
    if list(neck.get('in_channels', [])) != outs:
        _fail(cfg, 'neck.in_channels', f'{list(neck.get("in_channels", []))} does not match the backbone '
                                       f'outputs {outs}')
    if neck.get('start_level', 0) != 1 or neck.get('num_outs') != 3 or neck.get('end_level', -1) != -1:
        _fail(cfg, 'neck', 'the search handles PAFPN on C3..C5: start_level=1, end_level=-1, num_outs=3')
    if neck.get('norm_cfg') or neck.get('act_cfg'):
        _fail(cfg, 'neck', 'the FLOPs count assumes a PAFPN without norm_cfg/act_cfg')

    head_cfg = model.get('bbox_head', {})
    if head_cfg.get('type') != 'SCRFDHead':
        _fail(cfg, 'bbox_head.type', f"expected 'SCRFDHead', got {head_cfg.get('type')!r}")
    if head_cfg.get('in_channels') != neck.get('out_channels'):
        _fail(cfg, 'bbox_head.in_channels', f"{head_cfg.get('in_channels')} != neck.out_channels "
                                            f"{neck.get('out_channels')}")
    anchors = head_cfg.get('anchor_generator', {})
    if tuple(anchors.get('strides', HEAD_STRIDES)) != HEAD_STRIDES:
        _fail(cfg, 'bbox_head.anchor_generator.strides', f'expected {HEAD_STRIDES}')
    if not isinstance(head_cfg.get('stacked_convs', 4), int) or head_cfg.get('feat_mults') is not None:
        _fail(cfg, 'bbox_head.stacked_convs', 'per-stride depths/widths (lists, feat_mults) are not searched')
    norm = head_cfg.get('norm_cfg') or {}
    if norm.get('type') not in ('GN', 'BN'):
        _fail(cfg, 'bbox_head.norm_cfg.type', f"expected 'GN' or 'BN', got {norm.get('type')!r}")
    head = dict(feat_channels=int(head_cfg.get('feat_channels', 256)),
                stacked_convs=int(head_cfg.get('stacked_convs', 4)),
                norm=norm['type'], num_groups=int(norm['num_groups']) if norm['type'] == 'GN' else None,
                dw_conv=bool(head_cfg.get('dw_conv', False)),
                strides_share=bool(head_cfg.get('strides_share', True)),
                cls_reg_share=bool(head_cfg.get('cls_reg_share', False)),
                scale_mode=int(head_cfg.get('scale_mode', 1)),
                use_kps=bool(head_cfg.get('use_kps', False)),
                num_keypoints=int(head_cfg.get('num_keypoints', 5)),
                num_anchors=len(anchors.get('scales', [1, 2])) * len(anchors.get('ratios', [1.0])))
    return dict(backbone=backbone, neck=dict(type='PAFPN', out_channels=int(neck['out_channels'])), head=head)


def _damofd_backbone(cfg, bb) -> dict:
    """The arch backbone of a config's ``DamoFDNet``: its structure, canonical; only what the FLOPs count models
    (RGB input, the default C2..C5 outputs, BN and ReLU) is accepted."""
    from search_tools.flops import damofd_layout
    if bb.get('in_channels', 3) != 3:
        _fail(cfg, 'backbone.in_channels', f"expected 3 (RGB), got {bb.get('in_channels')!r}")
    if (bb.get('norm_cfg') or {}).get('type', 'BN') != 'BN':
        _fail(cfg, 'backbone.norm_cfg', 'the FLOPs count assumes BN in the backbone')
    if (bb.get('act_cfg') or {}).get('type', 'ReLU') != 'ReLU':
        _fail(cfg, 'backbone.act_cfg', 'the FLOPs count assumes ReLU in the backbone')
    structure = bb.get('structure')
    if not isinstance(structure, str):
        _fail(cfg, 'backbone.structure', f'expected a DamoFD structure string, got {structure!r}')
    try:
        blocks, out_indices, _ = damofd_layout(structure)
    except ValueError as exc:
        _fail(cfg, 'backbone.structure', str(exc))
    if bb.get('out_indices') is not None and tuple(bb['out_indices']) != out_indices:
        _fail(cfg, 'backbone.out_indices', f'the search handles the default C2..C5 (the first blocks at total '
                                           f'stride 4/8/16/32: {out_indices}), got {tuple(bb["out_indices"])}')
    from mmdet_face.models.backbones.damofd_structure import format_structure
    return dict(type='DamoFDNet', structure=format_structure(blocks))


def arch_key(arch: dict) -> str:
    """A stable 12-hex-digit name of ``arch`` (sha1 of its sorted JSON)."""
    return hashlib.sha1(json.dumps(arch, sort_keys=True).encode()).hexdigest()[:12]


def check_arch(arch: dict) -> None:
    """Raise ``ValueError`` naming the field when ``arch`` would not build (zero widths, GN divisibility...)."""
    bb = arch['backbone']
    if bb['type'] == 'DamoFDNet':
        from search_tools.flops import damofd_layout
        damofd_layout(bb['structure'])  # a StructureError (ValueError) naming the block and the field
    elif any(int(w) < 1 for w in bb['stage_planes']) or any(int(d) < 1 for d in bb['stage_blocks']):
        raise ValueError(f'arch.backbone: widths and depths must be >= 1, got {bb}')
    if bb['type'] == 'ResNetV1e' and bb['stem_channels'] < 2:
        raise ValueError(f"arch.backbone.stem_channels must be >= 2, got {bb['stem_channels']}")
    head = arch['head']
    if arch['neck']['out_channels'] < 1 or head['feat_channels'] < 1:
        raise ValueError(f"arch: neck/head widths must be >= 1, got {arch['neck']} / {head['feat_channels']}")
    if head['norm'] == 'GN':
        g = head['num_groups']
        if not g or head['feat_channels'] % g or (head['dw_conv'] and arch['neck']['out_channels'] % g):
            raise ValueError(f"arch.head.num_groups {g} must divide feat_channels {head['feat_channels']}"
                             + (f" and the neck width {arch['neck']['out_channels']} (dw_conv)"
                                if head['dw_conv'] else ''))


def model_config(arch: dict, template_model: dict) -> dict:
    """``template_model`` (a config's ``model`` dict: data preprocessor, anchors, losses, train/test cfg) with
    its backbone, neck and head shaped as ``arch``. Returns a new plain dict."""
    check_arch(arch)
    model = copy.deepcopy(template_model)
    bb = arch['backbone']
    old = model.get('backbone') or {}
    if bb['type'] == 'ResNetV1e':
        backbone = dict(old) if old.get('type') == 'ResNetV1e' else dict(
            type='ResNetV1e', depth=0, num_stages=4, out_indices=(0, 1, 2, 3),
            norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False, style='pytorch')
        backbone.pop('stem_channels', None)  # SCRFD's configs tie the stem width to base_channels
        backbone.update(block_cfg=dict(block=bb['block'], stage_blocks=tuple(bb['stage_blocks']),
                                       stage_planes=list(bb['stage_planes'])),
                        base_channels=bb['stem_channels'])
    elif bb['type'] == 'DamoFDNet':
        # a DamoFDNet template keeps its other settings (norm, init); the outputs are the default C2..C5
        backbone = dict(old) if old.get('type') == 'DamoFDNet' else dict(type='DamoFDNet')
        backbone.pop('out_indices', None)
        backbone['structure'] = bb['structure']
    else:
        backbone = dict(old) if old.get('type') == 'MobileNetV1' else dict(type='MobileNetV1')
        backbone.update(block_cfg=dict(stage_blocks=tuple(bb['stage_blocks']),
                                       stage_planes=list(bb['stage_planes'])))
    model['backbone'] = backbone
    neck = dict(model.get('neck') or {})
    if neck.get('type') != 'PAFPN':
        neck = dict(type='PAFPN', add_extra_convs='on_output')
    neck.update(in_channels=backbone_out_channels(bb), out_channels=arch['neck']['out_channels'],
                start_level=1, num_outs=3)
    model['neck'] = neck
    head = arch['head']
    bbox_head = dict(model.get('bbox_head') or {})
    if bbox_head.get('type') != 'SCRFDHead':
        raise ValueError(f"template model.bbox_head.type must be 'SCRFDHead' (its anchors, losses and assigner "
                         f"are kept), got {bbox_head.get('type')!r}")
    anchors = bbox_head.get('anchor_generator', {})
    if len(anchors.get('scales', [1, 2])) * len(anchors.get('ratios', [1.0])) != head['num_anchors'] or \
            tuple(anchors.get('strides', HEAD_STRIDES)) != HEAD_STRIDES:
        raise ValueError(f"template model.bbox_head.anchor_generator gives a different number of anchors or "
                         f"strides than the arch ({head['num_anchors']} anchors at {HEAD_STRIDES})")
    norm_cfg = (dict(type='GN', num_groups=head['num_groups'], requires_grad=True) if head['norm'] == 'GN'
                else dict(type='BN', requires_grad=True))
    bbox_head.update(in_channels=arch['neck']['out_channels'], feat_channels=head['feat_channels'],
                     stacked_convs=head['stacked_convs'], norm_cfg=norm_cfg, dw_conv=head['dw_conv'],
                     strides_share=head['strides_share'], cls_reg_share=head['cls_reg_share'],
                     scale_mode=head['scale_mode'], use_kps=head['use_kps'],
                     num_keypoints=head['num_keypoints'])
    bbox_head.pop('feat_mults', None)
    model['bbox_head'] = bbox_head
    return model


def materialise(arch: dict, template_cfg: Union[str, dict, 'object'], header: Optional[str] = None):
    """A complete ``mmengine.Config``: everything (data, schedule, runtime) from ``template_cfg`` (path or
    Config), the model shaped as ``arch``."""
    from mmengine.config import Config
    template = _load(template_cfg)
    if 'model' not in template:
        raise ValueError(f'{_where(template)}: no model in the template config')
    cfg_dict = template.to_dict() if hasattr(template, 'to_dict') else dict(template._cfg_dict)
    cfg_dict['model'] = model_config(arch, template.model.to_dict())
    return Config(cfg_dict)
