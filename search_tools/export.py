"""Export a searched architecture: the rank-k trial of a study as a full-schedule config named by the
repository's convention (``scrfd_2.5g-searched_4xb8-640e_widerface.py``), inheriting the full dataset, schedule and
runtime bases and recording where it came from (study, trial, proxy result, FLOPs) in its header.

SCRFD (Guo et al., ICLR 2022) trained its searched models for 640 epochs after an 80-epoch proxy search; the
bases a study exports to are recorded in its ``study.json`` (``export_bases``).
"""
import os
import os.path as osp
import time
from typing import Any, Dict, List, Optional, Sequence

from mmdet_face.utils.output_file import move_aside
from search_tools.study import REPO_ROOT, StudyError, load_spec, write_text_atomic

DEFAULT_EXPORT_BASES = ('configs/_base_/datasets/widerface.py', 'configs/_base_/schedules/scrfd_640e.py',
                        'configs/_base_/default_runtime.py')


def budget_name(gflops: float) -> str:
    """SCRFD's size names: 0.5 -> ``500m``, 2.5 -> ``2.5g``, 10 -> ``10g``."""
    if gflops < 1:
        return f'{int(round(gflops * 1000))}m'
    return f'{round(gflops, 2):g}g'


def resolve_bases(bases: Sequence[str]) -> List[str]:
    """Absolute paths of the export bases (repository-relative ones are taken from the repository root)."""
    out = []
    for base in bases:
        path = base if osp.isabs(base) else osp.join(REPO_ROOT, base)
        if not osp.isfile(path):
            raise StudyError(f'export base {base}: no such config file')
        out.append(osp.abspath(path))
    return out


def schedule_of(bases: Sequence[str]) -> Dict[str, Any]:
    """What the name says about the full schedule: GPUs x images per GPU and epochs (from the bases' train
    dataloader, ``auto_scale_lr.base_batch_size`` and ``train_cfg``) and the dataset (the dataset base's name)."""
    import tempfile

    from mmengine.config import Config
    with tempfile.TemporaryDirectory() as tmp:
        probe = osp.join(tmp, 'probe.py')
        with open(probe, 'w', encoding='utf-8') as f:
            f.write(f'_base_ = {list(bases)!r}\n')
        cfg = Config.fromfile(probe)
    batch = int(cfg.train_dataloader.batch_size)
    total = int((cfg.get('auto_scale_lr') or {}).get('base_batch_size', batch))
    dataset = next((osp.splitext(osp.basename(b))[0] for b in bases if '/datasets/' in b.replace(os.sep, '/')),
                   'data')
    return dict(gpus=max(1, total // batch), batch=batch, epochs=int(cfg.train_cfg.max_epochs),
                dataset=dataset.replace('_', '-'))


def is_damofd(arch: Optional[Dict[str, Any]]) -> bool:
    """Whether ``arch`` has a DamoFD structure-string backbone (a study of ``evolve --space damofd-<model>``)."""
    return bool(arch) and arch.get('backbone', {}).get('type') == 'DamoFDNet'


def conventional_name(spec: Dict[str, Any], arch: Optional[Dict[str, Any]], bases: Sequence[str]) -> str:
    """``<family>_<budget>-searched[_kps]_<gpus>xb<batch>-<epochs>e_<dataset>.py`` for a study's winner: family
    ``damofd`` for a DamoFDNet backbone, else ``scrfd``; the budget is the study's ``gflops`` (at its input)."""
    sched = schedule_of(bases)
    kps = '_kps' if arch and arch.get('head', {}).get('use_kps') else ''
    family = 'damofd' if is_damofd(arch) else 'scrfd'
    return (f'{family}_{budget_name(spec["gflops"])}-searched{kps}_{sched["gpus"]}xb{sched["batch"]}'
            f'-{sched["epochs"]}e_{sched["dataset"]}.py')


def pick_row(rows: List[Dict[str, Any]], study_dir: str, rank: Optional[int] = None,
             trial: Optional[int] = None) -> Dict[str, Any]:
    """The completed row (of :func:`search_tools.report.collect`) to export: the one of rank ``rank``, or trial
    number ``trial``.

    Equal Hard APs share a rank (1, 1, 3), so a rank held by several trials is a tie and is refused with the
    trials that share it (the proxy did not order them; choose one with ``trial``), and a rank inside a tie (2
    here) is no rank at all.
    """
    if trial is not None:
        row = next((r for r in rows if r['trial'] == trial), None)
        if row is None:
            raise StudyError(f'{study_dir}: --trial {trial} is not a completed trial (completed: '
                             f'{", ".join(str(r["trial"]) for r in sorted(rows, key=lambda r: r["trial"])) or "none"})')
        return row
    if rank is None or rank < 1:
        raise StudyError(f'--rank must be >= 1, got {rank}')
    if rank > len(rows):
        raise StudyError(f'{study_dir}: --rank {rank} asked, but the study has {len(rows)} completed trial(s)')
    holders = [r for r in rows if r['rank'] == rank]
    if len(holders) > 1:
        trials = ', '.join(str(r['trial']) for r in holders)
        raise StudyError(f'{study_dir}: --rank {rank} is a tie: trials {trials} share it (Hard '
                         f'{holders[0]["hard"]:.4f}, ranks {rank}-{rank + len(holders) - 1}); the proxy does not '
                         'order them, so export one of them by --trial N (nothing was written)')
    if not holders:
        shared = rows[rank - 1]
        trials = ', '.join(str(t) for t in sorted([shared['trial']] + shared['tied_with']))
        raise StudyError(f'{study_dir}: there is no rank {rank}: trials {trials} tie at rank {shared["rank"]} '
                         f'(Hard {shared["hard"]:.4f}); export one of them by --trial N (nothing was written)')
    return holders[0]


def export(study_dir: str, rank: Optional[int] = 1, out: str = 'configs/scrfd', force: bool = False,
           storage: Optional[str] = None, bases: Optional[Sequence[str]] = None, trial: Optional[int] = None,
           log=print) -> str:
    """Write the rank-``rank`` completed trial of the study (or trial number ``trial``; see :func:`pick_row`
    for ties) as a full-schedule config at ``out`` (a ``.py`` path, or a folder that gets the conventional name).
    An existing file is refused; with ``force`` it is moved aside (``NAME.<time>``). Returns the path."""
    from search_tools.arch import read_config
    from search_tools.report import collect
    spec = load_spec(study_dir)
    rows = [r for r in collect(study_dir, storage) if r['state'] == 'COMPLETE']
    row = pick_row(rows, study_dir, rank=rank, trial=trial)
    rank = row['rank']
    bases = resolve_bases(bases or spec.get('export_bases') or DEFAULT_EXPORT_BASES)
    if out.endswith(('/', os.sep)) or osp.isdir(out):
        out = osp.join(out, conventional_name(spec, row.get('arch'), bases))
    elif not out.endswith('.py'):
        raise StudyError(f'--out {out}: expected a .py config path or an existing folder')
    if osp.lexists(out) and not force:
        raise StudyError(f'--out {out} exists; give --force to move it aside (NAME.<time>) (nothing was written)')
    trial_config = osp.join(study_dir, row['config']) if row.get('config') else None
    if not trial_config or not osp.isfile(trial_config):
        raise StudyError(f'trial {row["trial"]}: its config {trial_config} is missing')
    try:
        model = read_config(trial_config).model.to_dict()
    except ValueError as exc:
        raise StudyError(f'trial {row["trial"]}: {exc}') from None
    out_dir = osp.dirname(osp.abspath(out))
    rel_bases = [osp.relpath(b, out_dir) for b in bases]
    shares = ', '.join(f'{k} {v:.0%}' for k, v in row['shares'].items())
    medium = f'{row["medium"]:.4f}' if row.get('medium') is not None else '-'
    easy = f'{row["easy"]:.4f}' if row.get('easy') is not None else '-'
    proxy = row.get('proxy') or spec['proxy']  # what this trial trained on
    found_by = ('# DamoFD backbone found by search_tools evolve (DDSAR-ranked evolution, Liu et al., ICLR 2023) under '
                'an SCRFD neck and head:' if is_damofd(row.get('arch')) else
                '# SCRFD-style face detector found by search_tools (SCRFD computation redistribution, Guo et al., '
                'ICLR 2022):')
    budget_of = (' (the backbone, as the released DamoFD search counts it: study.json sampling.flops_rule)'
                 if is_damofd(row.get('arch')) else '')
    header = [
        found_by,
        f'# rank {rank} of {len(rows)} completed trials of study {spec["name"]!r} ({osp.abspath(study_dir)}),',
        f'# trial {row["trial"]} (key {row["key"]}), space {spec["space"]}, step {spec["step"]}.',
        f'# Budget {spec["gflops"]} GFLOPs +- {spec["tolerance"]:.0%} at {spec["input_shape"][0]}x'
        f'{spec["input_shape"][1]} (HxW){budget_of}; this model: {row["gflops"]:.4f} GFLOPs, '
        f'{row["params_m"]:.4f} M params '
        f'(analytic).' if row.get('gflops') is not None else f'# Budget {spec["gflops"]} GFLOPs.',
        f'# FLOPs shares: {shares}.' if shares else '#',
        f'# Proxy result ({proxy["epochs"]} epochs, {proxy["batch_size"]} images/GPU, lr {proxy["lr"]}): '
        f'WIDER FACE val Hard {row["hard"]:.4f}, Medium {medium}, Easy {easy}.',
        f'# Exported {time.strftime("%Y-%m-%d")} from git {spec.get("git_sha", "unknown")}; the full schedule below '
        'comes from the bases.',
    ]
    from mmengine.config import Config
    body = Config(dict(model=model)).pretty_text
    text = '\n'.join(header) + f'\n_base_ = {rel_bases!r}\n\n' + body
    os.makedirs(out_dir, exist_ok=True)
    if osp.lexists(out):
        log(f'moved the existing {out} to {move_aside(out)}')
    write_text_atomic(out, text)
    log(f'exported trial {row["trial"]} (rank {rank}, Hard {row["hard"]:.4f}) to {out}')
    return out
