"""``search.py score``: one training-free proxy (``search_tools.proxies``) of one architecture, given as a DamoFD
structure string, a config file (a candidate, a trial's config, a published model: its ``model.backbone``) or a
trial of a study. The last line printed is one JSON object, so other tools can read the result::

    {"proxy": "ddsar", "score": 12.041123028661735, "per_stage": [11.63..., ...], "input": [224, 224],
     "backbone": "DamoFDNet", "source": "--struct SuperConvK3BNRELU(3,56,2,2)..."}

``input`` is ``[H, W]``; ``per_stage`` is empty for proxies without stages (``params``, ``flops``); floats are
written with all their digits (``repr``).
"""
import json
import os.path as osp
from typing import Any, Dict, Optional, Tuple

from search_tools.study import StudyError

__all__ = ['backbone_from_args', 'score_architecture', 'result_line']


def _backbone_of_config(path: str, what: str) -> dict:
    from search_tools.arch import read_option_config
    cfg = read_option_config(path, what)
    backbone = (cfg.get('model') or {}).get('backbone')
    if not backbone or 'type' not in backbone:
        raise StudyError(f'{what} {path}: the config has no model.backbone with a type')
    return backbone.to_dict() if hasattr(backbone, 'to_dict') else dict(backbone)


def _trial_config(study_dir: str, number: int, storage: Optional[str]) -> str:
    from search_tools.study import open_study
    if not osp.isdir(study_dir):
        raise StudyError(f'--study {study_dir}: no such folder')
    study = open_study(study_dir, storage)
    for trial in study.get_trials(deepcopy=False):
        if trial.number == number:
            config = trial.user_attrs.get('config')
            if not config:
                raise StudyError(f'--study {study_dir} --trial {number}: the trial records no config')
            return osp.join(study_dir, config)
    raise StudyError(f'--study {study_dir}: no trial number {number}')


def backbone_from_args(struct: Optional[str] = None, config: Optional[str] = None, study: Optional[str] = None,
                       trial: Optional[int] = None, storage: Optional[str] = None) -> Tuple[dict, str]:
    """(backbone config, a short description of where it came from) for exactly one of the three sources.
    A structure string is parsed here, so a malformed one is refused before any proxy runs."""
    if struct is not None:
        from mmdet_face.models.backbones.damofd_structure import StructureError, parse_structure
        try:
            parse_structure(struct, source='--struct')
        except StructureError as exc:
            raise StudyError(str(exc)) from None
        return dict(type='DamoFDNet', structure=struct), f'--struct {struct}'
    if config is not None:
        return _backbone_of_config(config, '--config'), f'--config {config}'
    if study is None or trial is None:
        raise StudyError('give --struct STRING, --config FILE, or --study DIR with --trial N')
    path = _trial_config(study, trial, storage)
    return _backbone_of_config(path, f'--study {study} --trial {trial}:'), f'--study {study} --trial {trial}'


def score_architecture(proxy: str, backbone: dict, input_size: Tuple[int, int], seed: int = 0,
                       **options) -> Dict[str, Any]:
    """Run one proxy; a ValueError (bad structure, unknown option, unmappable backbone) becomes a StudyError."""
    from search_tools.proxies import get_proxy
    try:
        result = get_proxy(proxy)(backbone, input_size=tuple(input_size), seed=seed, **options)
    except ValueError as exc:
        raise StudyError(f'--proxy {proxy}: {exc}') from None
    return dict(proxy=proxy, score=result.total, per_stage=list(result.per_stage), input=list(input_size),
                backbone=backbone.get('type'))


def result_line(record: Dict[str, Any]) -> str:
    """The machine-readable last line (JSON; floats keep every digit)."""
    return json.dumps(record, allow_nan=True)
