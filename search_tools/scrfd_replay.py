"""The faithful replay of SCRFD's released search-space generator, for the ``scrfd`` space (``spaces/scrfd.py``
says which script and which rules).

Nothing is projected: :func:`scrfd_arch` applies the released rounding to a raw sample, and :func:`scrfd_project`
rejects a sample outside the band (or, in step 2, outside the stage-ratio lock) with :class:`InfeasibleBudget`,
as the original rejection loop did. Step 2 effectively freezes the template's depths (the +-10 % stage/stem
FLOPs-ratio lock), so it only moves compute between backbone width, neck and head.
"""
from typing import Optional, Tuple

import numpy as np

from search_tools.flops import printed_module_gflops, total_flops
from search_tools.space import InfeasibleBudget, SearchSpace, in_band

__all__ = ['scrfd_arch', 'scrfd_project']


def scrfd_arch(space: SearchSpace, raw: dict, template: Optional[dict] = None) -> dict:
    """The architecture the released generator builds from ``raw`` (``spaces/scrfd.py`` gives the rules).

    Raises:
        InfeasibleBudget: a width rounds to 0 (the released script would crash building it).
    """
    step = raw.get('step', 'backbone')
    if step == 'backbone':
        tpl = template if template is not None else space.step1_template
        base = max(8, int(raw['base_channels']) // 8 * 8)
        planes = [base]
        for ratio in raw['stage_planes_ratio']:
            planes.append(int(planes[-1] * ratio) // 8 * 8)
        backbone = dict(type='ResNetV1e', block=raw['block'], stem_channels=base,
                        stage_blocks=[max(1, int(d)) for d in raw['stage_blocks']], stage_planes=planes)
        return dict(backbone=backbone, neck=dict(tpl['neck']), head=dict(tpl['head']))
    tpl = template if template is not None else space.reference
    tb = tpl['backbone']
    if tb['type'] != 'ResNetV1e':
        raise ValueError('the scrfd space searches ResNetV1e templates only')
    if tpl['head']['norm'] != 'GN':
        raise ValueError("the released mode 2 sets the head's GN group count: the template head must use GN")
    # numpy.round rounds half to even (2.5 -> 2) and 0 blocks still build one (mmdet's ResLayer)
    depths = [max(1, int(np.round(d * raw['stage_blocks_ratio']))) for d in tb['stage_blocks']]
    widths = [int(np.round(w * raw['base_channels_ratio'])) // 8 * 8
              for w in [tb['stem_channels']] + list(tb['stage_planes'])]
    # the released script scales stage_planes and sets base_channels = stage_planes[0] (the stem follows C2)
    planes = widths[1:]
    head_c = int(raw['head_channel']) // 8 * 8
    groups = 8
    for g in space.data.get('gn_groups_walk', (8, 16, 32, 64)):
        if head_c % g != 0:
            break
        groups = g
    if min(planes) < 1:
        raise InfeasibleBudget(f'a stage width rounds to 0 ({planes}): the released script could not build it')
    backbone = dict(type='ResNetV1e', block=tb['block'], stem_channels=planes[0], stage_blocks=depths,
                    stage_planes=planes)
    head = dict(tpl['head'], feat_channels=head_c, stacked_convs=int(raw['head_stack']), num_groups=groups)
    return dict(backbone=backbone, neck=dict(type='PAFPN', out_channels=int(raw['fpn_channel']) // 8 * 8),
                head=head)


def scrfd_project(space: SearchSpace, raw: dict, gflops: float, tolerance: float, input_shape,
                  template: Optional[dict]) -> Tuple[dict, int]:
    """``(arch, flops)`` of ``raw`` under the released rules; :class:`InfeasibleBudget` when they reject it."""
    arch = scrfd_arch(space, raw, template)
    flops = total_flops(arch, input_shape)
    if raw.get('step') == 'full':
        tpl = template if template is not None else space.reference
        lock = float(space.data.get('ratio_lock', 5)) * tolerance
        ref = printed_module_gflops(tpl, input_shape)
        cand = printed_module_gflops(arch, input_shape)
        for layer in ('layer1', 'layer2', 'layer3', 'layer4'):
            if ref['stem'] == 0 or cand['stem'] == 0:
                raise InfeasibleBudget('stem FLOPs print as 0.000 G: the stage ratios are undefined')
            t_ratio, c_ratio = ref[layer] / ref['stem'], cand[layer] / cand['stem']
            # is_flops_valid(template_ratio, candidate_ratio, 5 * eps)
            if not (1 - lock) * c_ratio <= t_ratio <= (1 + lock) * c_ratio:
                raise InfeasibleBudget(f'stage-ratio lock: {layer}/stem {c_ratio:.3f} vs the template\'s '
                                       f'{t_ratio:.3f} (+-{lock:.0%})')
    if not in_band(flops, gflops, tolerance):
        raise InfeasibleBudget(f'{flops / 1e9:.4f} GFLOPs outside {gflops:g} GF +- {tolerance:.1%} '
                               f'(released rule: rejection, no projection)')
    return arch, flops

