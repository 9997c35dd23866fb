"""Train-time config decisions the training tools share.

The shared runtime (``configs/_base_/default_runtime.py``) keeps the best checkpoint by ``widerface/hard``. That key
exists only when the validation ``WiderFaceMetric`` reads the official Easy / Medium / Hard lists (``gt_dir``);
without them (the users' own data, a COCO / VOC / YOLO-face / labelme set) the metric reports one AP over every
annotated face, ``widerface/all``, and mmengine's ``CheckpointHook`` would stop the run at the first validation
with ``KeyError: 'widerface/hard'``. :func:`fit_save_best` keeps the best checkpoint by the AP the metric gives.
"""
from typing import Optional

WIDER_SETTING_KEYS = ('widerface/easy', 'widerface/medium', 'widerface/hard')


def _metrics(evaluator) -> list:
    if evaluator is None:
        return []
    if isinstance(evaluator, dict) and 'metrics' in evaluator:  # dict(type='Evaluator', metrics=[...])
        evaluator = evaluator['metrics']
    return list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]


def fit_save_best(cfg) -> Optional[str]:
    """Make ``default_hooks.checkpoint.save_best`` a key the validation gives: a WIDER FACE setting
    (``widerface/easy|medium|hard``) becomes ``widerface/all`` when the validation ``WiderFaceMetric`` (the first, with
    the default prefix) has no ``gt_dir``. Returns the sentence saying so, or None when nothing changed (no
    validation, another key, or the official lists are given)."""
    hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    if not hook or hook.get('save_best') not in WIDER_SETTING_KEYS:
        return None
    if cfg.get('val_dataloader') is None or cfg.get('val_cfg') is None:
        return None
    wider = [m for m in _metrics(cfg.get('val_evaluator'))
             if str(m.get('type', '')).split('.')[-1] == 'WiderFaceMetric' and m.get('prefix') in (None, 'widerface')]
    if not wider or wider[0].get('gt_dir'):
        return None
    old = hook['save_best']
    hook['save_best'] = 'widerface/all'
    return (f"the validation WiderFaceMetric has no gt_dir (the official Easy / Medium / Hard lists), so it reports "
            f"widerface/all, the AP over every annotated face: the best checkpoint is kept by widerface/all instead of "
            f"{old} (set default_hooks.checkpoint.save_best to choose another key)")


__all__ = ['fit_save_best', 'WIDER_SETTING_KEYS']
