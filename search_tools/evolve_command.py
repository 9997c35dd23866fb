"""``search.py evolve`` and ``search.py prerank``: the searches ranked by a training-free proxy
(``search_tools.evolution``), their options, and what they write.

Both end as ``sample`` ends: a study folder (``study.json``, the candidate configs and their FLOPs table, the
Optuna study) whose queued candidates are the ``--keep`` best by the proxy, so ``run`` / ``report`` / ``export``
work on it unchanged; ``evolve`` adds its checkpoint (``evolve_state.json``) and log (``evolve_log.jsonl``). On the
DamoFD block spaces (``damofd-0.5g`` ...) a candidate is the evolved ``DamoFDNet`` structure under the template's
neck and head (default template: the space's ``configs/damofd/`` model), and ``evolve`` also writes the ranked
structures (``evolve.json``, ``best_structures.txt``); the workers of such a study train its queue only (the
block space is not one they draw from).
"""
import os
import os.path as osp
import sys
import time

from search_tools.evolution import (LOG_FILE, STATE_FILE, DamoFDProblem, EvolveError, EvolveInterrupted, SpaceProblem,
                                    evolve, prerank)
from search_tools.study import (DAMOFD_PREFIX, StudyError, is_damofd_space, write_json_atomic,
                                write_text_atomic)

__all__ = ['add_parsers', 'cmd_evolve', 'cmd_prerank', 'RESUMABLE_FILES']

RESUMABLE_FILES = (STATE_FILE, LOG_FILE)


def _common(p, input_type, positive_float, positive_int, seed_int, tolerance, finite_float, proxies, samplers,
            steps):
    p.add_argument('--space', required=True,
                   help='resnet | mobilenet | scrfd | a space file' + (' | damofd-0.5g | damofd-2.5g | '
                                                                        'damofd-10g | damofd-34g'
                                                                        if p.prog.endswith('evolve') else ''))
    p.add_argument('--gflops', type=positive_float, required=True, help='FLOPs budget in G (MACs, at --input)')
    p.add_argument('--tolerance', type=tolerance, default=0.02, help='relative budget tolerance (default 0.02)')
    p.add_argument('--input', type=input_type, metavar='WxH',
                   help='input size the budget is counted at (default 640x480; damofd-*: 224x224, the released '
                   'search resolution)')
    p.add_argument('--step', choices=steps, default='backbone', help='SCRFD step (default backbone)')
    p.add_argument('--proxy', required=True, choices=proxies, help='the training-free score candidates are ranked by')
    p.add_argument('--proxy-input', type=input_type, default=(224, 224), metavar='WxH',
                   help='input size the proxy scores at (default 224, as DamoFD searches; damofd-*: the FLOPs are '
                   'counted there too)')
    p.add_argument('--alpha', type=finite_float, help='ddsar: weight of the kernel-size term (default 0.005)')
    p.add_argument('--keep', type=positive_int, default=16, help='candidates queued in the study (default 16)')
    p.add_argument('--seed', type=seed_int, default=0, help='random seed in [0, 2**32 - 1] (default 0)')
    p.add_argument('--template', help='config the candidates are written from (default: the published SCRFD '
                   'config of the space' + ('; damofd-*: its configs/damofd model, whose neck and head the '
                                            'structures get' if p.prog.endswith('evolve') else '') + ')')
    p.add_argument('--sampler', choices=samplers, default='random', help='how workers draw beyond the queue')
    p.add_argument('--proxy-epochs', type=positive_int, help='proxy training epochs of the study\'s trials')
    p.add_argument('--proxy-batch', type=positive_int, help='images per GPU of the study\'s trials')
    p.add_argument('--proxy-lr', type=positive_float, help='base learning rate of the study\'s trials')
    p.add_argument('--proxy-checkpoint-interval', type=positive_int, help='epochs between trial checkpoints')
    p.add_argument('--data-root', help='dataset root for the template (WIDER layout)')
    p.add_argument('--export-bases', nargs='+', metavar='CONFIG', help='bases an exported winner inherits')
    p.add_argument('--name', help='study name (default: <space>-<gflops>g-<step>)')
    p.add_argument('--storage', help='database URL for the Optuna study (default: DIR/optuna.journal)')
    p.add_argument('--out', required=True, help='the folder to create')
    p.add_argument('--force', action='store_true', help='move an existing --out aside (DIR.<time>) and start anew')


def add_parsers(sub, types: dict) -> None:
    """Add ``evolve`` and ``prerank`` to ``search.py``'s subparsers; ``types`` holds the argparse types and choice
    lists ``search.py`` uses for the same options (``positive_int`` ... ``steps``)."""
    e = sub.add_parser('evolve', help='evolutionary search ranked by a training-free proxy; queue the K best')
    _common(e, **types)
    e.add_argument('--population', type=types['positive_int'], default=512,
                   help='population size (default 512, as DamoFD)')
    e.add_argument('--iterations', type=types['positive_int'], default=96000,
                   help='children drawn, rejected ones included (default 96000, as DamoFD)')
    e.add_argument('--init', help='damofd-*: the structure string to start from (default: the released one)')
    e.add_argument('--at-most', action='store_true',
                   help='damofd-*: accept every child of at most --gflops x (1 + --tolerance), the released '
                   'DamoFD rule, instead of the band --gflops +- --tolerance')
    e.add_argument('--checkpoint-every', type=types['positive_int'], default=1000,
                   help='iterations between checkpoints a killed search resumes from (default 1000)')
    p = sub.add_parser('prerank', help='sample M candidates, score them with a proxy, queue the K best')
    _common(p, **types)
    p.add_argument('--num', type=types['positive_int'], default=256, help='candidates sampled and scored')


def check_args(args, parser) -> None:
    """Option combinations argparse cannot see (a parser error, exit 2, before anything is read or written); fills
    in what ``sample``'s code path reads and these commands do not take."""
    args.template_from, args.pick = None, 'best'
    if args.input is None and not is_damofd_space(args.space):
        args.input = (480, 640)
    if args.alpha is not None and args.proxy != 'ddsar':
        parser.error(f'--alpha is an option of --proxy ddsar, not of {args.proxy}')
    if args.command == 'evolve' and args.population < args.keep:
        parser.error(f'--population {args.population} is smaller than --keep {args.keep}: the search keeps at '
                     f'most {args.population} candidates')
    if args.command == 'prerank' and args.num < args.keep:
        parser.error(f'--num {args.num} is smaller than --keep {args.keep}')
    if args.command == 'evolve' and (args.init or args.at_most) and not is_damofd_space(args.space):
        parser.error('--init and --at-most are options of the damofd-* spaces (the SCRFD spaces project every '
                     'candidate into the band)')


def _proxy_options(args) -> dict:
    return {} if args.alpha is None else dict(alpha=args.alpha)


def _settings(args, **extra) -> dict:
    keys = ('space', 'gflops', 'tolerance', 'input', 'step', 'proxy', 'proxy_input', 'alpha', 'population',
            'iterations', 'seed', 'template', 'init', 'at_most', 'checkpoint_every')
    settings = {k: getattr(args, k, None) for k in keys}
    if settings['template']:
        settings['template'] = osp.abspath(settings['template'])
    settings.update(extra)
    return settings


def _speed_note(args) -> None:
    if args.proxy in ('zen', 'naswot'):
        print(f'[search] NOTE: --proxy {args.proxy} builds and runs every candidate network (about 10 to 100 '
              'candidates per second on one core at 224; ddsar scores thousands)', flush=True)


def _print_ranked(members, keep, what):
    print(f'[search] the {min(keep, len(members))} best by {what}:')
    for rank, m in enumerate(members[:keep], 1):
        print(f'[search]   {rank:3d}  score {m.score!r}  {m.flops / 1e9:.4f} GFLOPs  {m.key}')


# --------------------------------------------------------------------------------------------- SCRFD spaces
def _space_problem(args, space, template_arch) -> SpaceProblem:
    _speed_note(args)
    if args.step == 'full':
        print(f'[search] NOTE: --proxy {args.proxy} scores the backbone only; with --step full it sees nothing of '
              'the neck and head, and favours candidates that give the budget to the backbone', flush=True)
    return SpaceProblem(space, args.gflops, args.tolerance, args.input, args.step, template_arch, args.proxy,
                        args.proxy_input, _proxy_options(args), args.seed)


def _evolve_draw(args):
    def draw(space, template_arch, prepare):
        problem = _space_problem(args, space, template_arch)
        try:
            result = evolve(problem, population=args.population, iterations=args.iterations, seed=args.seed,
                            settings=_settings(args), state_dir=args.out, checkpoint_every=args.checkpoint_every,
                            max_initial_draws=200, prepare=prepare, resume=not args.force,
                            log=lambda m: print(m, flush=True))
        except (EvolveError, EvolveInterrupted) as exc:
            raise StudyError(_evolve_error(exc)) from None
        return _as_candidates(result['population'], result['objects'], args.keep,
                              _evolve_stats(result, args), args.proxy)
    return draw


def _evolve_error(exc) -> str:
    if isinstance(exc, EvolveError) and 'no child' in str(exc):
        return f'{exc}; nothing was written'  # raised before the first checkpoint
    return str(exc)


def _as_candidates(members, cands, keep, stats, what):
    kept = []
    for member, cand in zip(members[:keep], cands[:keep]):
        cand.info['proxy_score'] = member.score
        kept.append(cand)
    stats['kept'] = [dict(key=m.key, score=m.score, gflops=m.flops / 1e9) for m in members[:keep]]
    _print_ranked(members, keep, what)
    return kept, stats


def _evolve_stats(result, args) -> dict:
    counts = result['counts']
    rejected = sum(v for k, v in counts.items() if k not in ('scored', 'duplicates'))
    print(f'[search] evolve: {result["iterations"]} iterations in {result["seconds"]:.2f} s '
          f'({result["iterations_per_s"]:.0f} children/s drawn, checked and, inside the band, scored); '
          f'{counts["scored"]} scored by {args.proxy} in {result["score_seconds"]:.2f} s '
          f'({result["scored_per_s"]:.0f}/s), {rejected} rejected ({_counts_text(counts)}), '
          f'{counts["duplicates"]} duplicates' + (f'; resumed at iteration {result["resumed_from"]}'
                                                  if result['resumed_from'] else ''), flush=True)
    return dict(method='evolve', proxy=args.proxy, proxy_input=list(args.proxy_input), alpha=args.alpha,
                population=args.population, iterations=args.iterations, counts=counts,
                seconds=result['seconds'], score_seconds=result['score_seconds'],
                resumed_from=result['resumed_from'],
                scored_per_s=result['scored_per_s'], iterations_per_s=result['iterations_per_s'],
                history_file=LOG_FILE, rejected=rejected, duplicates=counts['duplicates'])


def _counts_text(counts) -> str:
    return ', '.join(f'{k} {v}' for k, v in sorted(counts.items()) if k not in ('scored', 'duplicates')) or 'none'


def _prerank_draw(args):
    def draw(space, template_arch, prepare):
        from search_tools.candidates import sample_candidates
        problem = _space_problem(args, space, template_arch)
        cands, stats = sample_candidates(space, args.num, seed=args.seed, gflops=args.gflops,
                                         tolerance=args.tolerance, input_shape=tuple(args.input), step=args.step,
                                         template=template_arch)
        if not cands:
            return cands, stats
        result = prerank(problem, cands, args.keep)
        print(f'[search] prerank: {len(cands)} candidates drawn in {stats["seconds"]:.2f} s '
              f'({stats["candidates_per_s"]:.0f}/s), scored with {args.proxy} in {result["seconds"]:.2f} s '
              f'({result["scored_per_s"]:.0f}/s)', flush=True)
        stats.update(method='prerank', proxy=args.proxy, proxy_input=list(args.proxy_input), alpha=args.alpha,
                     sampled=len(cands), score_seconds=result['seconds'], scored_per_s=result['scored_per_s'],
                     scores=[dict(key=m.key, score=m.score) for m in result['ranked']])
        return _as_candidates(result['ranked'], result['objects'], args.keep, stats, args.proxy)
    return draw


# --------------------------------------------------------------------------------------------- DamoFD blocks
def _damofd_budget(args, resolution: int) -> float:
    """The band's centre at the square search resolution: ``--gflops`` counted at ``--input``, scaled by area as
    the released scripts scale the VGA budget (``DamoFd_500M.sh``: 403 M x 224^2 / (640 x 480) -> 65 M)."""
    h, w = args.input
    return args.gflops * 1e9 * resolution * resolution / (h * w)


FLOPS_RULE = ('gflops is the backbone budget of the released DamoFD search: --gflops at input_shape, scaled by '
              'area to the square search resolution R (x R^2 / (H W), as DDSAR/scripts/DamoFd_*.sh scale the VGA '
              'budget) and compared with the backbone FLOPs as DDSAR/Masternet.get_FLOPs counts them at R '
              '(search_tools/damofd_flops.py); the candidates\' FLOPs tables count the whole detector (backbone, '
              'neck, head) at input_shape as tools/analysis/get_flops.py does')


def _damofd_candidate(member, template_arch: dict, args, resolution: int):
    """The study candidate of an evolved structure: a ``DamoFDNet`` backbone under the template's neck and head,
    its FLOPs/params table counted at ``--input`` (``search_tools.flops``)."""
    from search_tools.arch import check_arch
    from search_tools.flops import count_flops
    from search_tools.projection import Candidate
    from search_tools.space import canonical_arch
    arch = canonical_arch(dict(backbone=dict(type='DamoFDNet', structure=member.key),
                               neck=template_arch['neck'], head=template_arch['head']))
    check_arch(arch)
    return Candidate(arch=arch, breakdown=count_flops(arch, tuple(args.input)), raw=None,
                     info=dict(space=args.space, step='backbone', input_shape=list(args.input),
                               structure=member.key, search_flops=member.flops, search_resolution=resolution))


def _evolve_damofd(args, cmd_sample) -> str:
    """``evolve --space damofd-<model>``: the block-space search, then the study of its ``--keep`` best (written
    by ``cmd_sample``, as for the SCRFD spaces), plus ``evolve.json`` and ``best_structures.txt``."""
    from mmdet_face.models.backbones.damofd_structure import StructureError
    model = args.space[len(DAMOFD_PREFIX):]
    if args.proxy_input[0] != args.proxy_input[1]:
        raise StudyError(f'--proxy-input {args.proxy_input[1]}x{args.proxy_input[0]}: the DamoFD search counts '
                         'FLOPs and scores at a square resolution')
    resolution = args.proxy_input[0]
    if args.input is None:
        args.input = (resolution, resolution)
    if args.step != 'backbone':
        raise StudyError(f'--space {args.space}: --step full is an option of the SCRFD spaces (the DamoFD block '
                         'spaces search the backbone; the neck and head are the template\'s)')
    try:
        problem = DamoFDProblem(model, _damofd_budget(args, resolution), args.tolerance, resolution, args.proxy,
                                _proxy_options(args), init=args.init, seed=args.seed, at_most=args.at_most)
    except (EvolveError, StructureError) as exc:
        raise StudyError(f'--space {args.space}: {exc}' if isinstance(exc, EvolveError) else f'--init {exc}') \
            from None
    found = {}

    def draw(space, template_arch, prepare):
        _speed_note(args)
        info = problem.describe()
        print(f'[search] evolve {args.space}: {info["rules"]} rules, at most {info["max_layers"]} layers, band '
              f'{info["band"][0] / 1e9:.6g}..{info["band"][1] / 1e9:.6g} GFLOPs at {resolution}x{resolution}, '
              f'population {args.population}, {args.iterations} iterations, proxy {args.proxy}', flush=True)
        try:
            result = evolve(problem, population=args.population, iterations=args.iterations, seed=args.seed,
                            settings=_settings(args), state_dir=args.out, checkpoint_every=args.checkpoint_every,
                            prepare=prepare, resume=not args.force, log=lambda m: print(m, flush=True))
        except (EvolveError, EvolveInterrupted) as exc:
            raise StudyError(_evolve_error(exc)) from None
        members = result['population']
        cands = [_damofd_candidate(m, template_arch, args, resolution) for m in members[:args.keep]]
        kept, stats = _as_candidates(members, cands, args.keep, _evolve_stats(result, args), args.proxy)
        for entry, cand in zip(stats['kept'], kept):  # the study's keys; the structures' search FLOPs
            entry.update(key=cand.key(), structure=cand.info['structure'], search_flops=cand.info['search_flops'],
                         gflops=cand.breakdown['total']['gflops'])
        stats.update(search=info, flops_rule=FLOPS_RULE, search_resolution=resolution)
        found.update(info=info, stats=stats, kept=kept)
        return kept, stats

    out = cmd_sample(args, draw=draw, resumable=() if args.force else RESUMABLE_FILES, space=problem)
    from search_tools.candidates import candidate_name
    best = [dict(rank=i + 1, structure=c.info['structure'], key=c.key(), score=c.info['proxy_score'],
                 flops=c.info['search_flops'], config=f'candidates/{candidate_name(i, c)}.py')
            for i, c in enumerate(found['kept'])]
    record = dict(space=args.space, search=found['info'], settings=_settings(args), result=found['stats'],
                  best=best, study=osp.join(out, 'study.json'), flops_rule=FLOPS_RULE,
                  created=time.strftime('%Y-%m-%dT%H:%M:%S%z'), command=' '.join(sys.argv))
    write_json_atomic(osp.join(out, 'evolve.json'), record)
    write_text_atomic(osp.join(out, 'best_structures.txt'), ''.join(b['structure'] + '\n' for b in best))
    print(f'[search] wrote {osp.join(out, "evolve.json")} and best_structures.txt (the {len(best)} best, best '
          'first); score one with: python search_tools/search.py score --proxy ddsar --struct "..."')
    return out


# --------------------------------------------------------------------------------------------- commands
def cmd_evolve(args, cmd_sample):
    args.num = args.keep
    if is_damofd_space(args.space):
        return _evolve_damofd(args, cmd_sample)
    return cmd_sample(args, draw=_evolve_draw(args), resumable=() if args.force else RESUMABLE_FILES)


def cmd_prerank(args, cmd_sample):
    if is_damofd_space(args.space):
        raise StudyError(f'--space {args.space}: prerank samples the SCRFD spaces; the DamoFD block spaces are '
                         'searched by evolve')
    return cmd_sample(args, draw=_prerank_draw(args))
