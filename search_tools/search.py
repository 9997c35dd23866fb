"""FLOPs-constrained architecture search for SCRFD-style face detectors (Guo et al., "Sample and Computation
Redistribution for Efficient Face Detection", ICLR 2022): the one entry point.

    python search_tools/search.py sample --space resnet|mobilenet|scrfd --gflops X [--tolerance 0.02]
            [--input 640x480] [--step backbone|full] [--template CONFIG | --template-from STEP1_DIR
            [--pick best|bootstrap]] [--num N] [--seed S] [--sampler random|qmc|tpe] [--proxy-epochs E]
            [--proxy-batch B] [--proxy-lr LR] [--prune-every K] [--data-root DIR] [--storage URL] --out DIR [--force]
    python search_tools/search.py run     --study DIR [--storage URL] [--trials N] [--gpus K] [--proxy-epochs E]
            [--sampler random|qmc|tpe] [--pruner none|median|hyperband] [--pruner-warmup E] [--pruner-startup N]
            [--heartbeat S] [--stale-after S]
    python search_tools/search.py report  --study DIR [DIR ...] [--storage URL] [--out DIR] [--repeats N] [--force]
    python search_tools/search.py export  --study DIR [--rank 1 | --trial N] --out configs/scrfd/[NAME.py] [--force]
    python search_tools/search.py score   --proxy ddsar|zen|naswot|params|flops (--struct STRING | --config FILE |
            --study DIR --trial N) [--input 224 | 640x480] [--alpha A] [--seed S]
    python search_tools/search.py calibrate --study DIR [--against DIR2 ...] [--scores FILE ...] [--proxy NAME ...]
            [--top-k K] [--bootstrap N] [--seed S] --out DIR [--force]
    python search_tools/search.py evolve  --space SPACE|damofd-0.5g|... --gflops X --proxy NAME [--population P]
            [--iterations N] [--keep K] [--proxy-input 224] [--at-most] [--init STRUCT] [sample's options] --out DIR
    python search_tools/search.py prerank --space SPACE --gflops X --proxy NAME --num M --keep K [sample's options]
            --out DIR

``sample`` creates the study folder (``study.json``, the sampled configs and their FLOPs table, the Optuna study
with those candidates queued); ``run`` is one worker (start as many as you have GPUs, on any machine that sees the
folder and the storage); ``report`` ranks and plots; ``export`` writes a winner as a full-schedule config;
``score`` prints one training-free proxy of one architecture (its last line is JSON); ``calibrate`` measures how
far one ranking of the candidates agrees with another (Kendall tau-b, Spearman rho, top-k overlap).
``evolve`` searches by a proxy (population, mutations, the budget band) and ``prerank`` scores M sampled candidates:
both queue the K best in a study as ``sample`` does (``evolve`` on the DamoFD block spaces also writes the ranked
structures).
See search_tools/README.md.
"""
import argparse
import os
import os.path as osp
import signal
import sys
import threading
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from mmdet_face.engine.cli import (finite_float, int_in, non_negative_int, positive_float, positive_int,  # noqa: E402
                                   seed_int)
from mmdet_face.utils.output_file import move_aside  # noqa: E402
from search_tools.arguments import input_size, tolerance  # noqa: E402
from search_tools.study import (PRUNERS, SAMPLERS, SPEC_VERSION, STEPS, StudyError, enqueue,  # noqa: E402
                                git_sha, is_damofd_space, open_storage, open_study, spec_path, storage_label,
                                template_path, validate_spec, versions, write_json_atomic)

DEFAULT_TEMPLATES = {
    'resnet': 'configs/scrfd/scrfd_2.5g_4xb8-640e_widerface.py',
    'scrfd': 'configs/scrfd/scrfd_2.5g_4xb8-640e_widerface.py',
    'mobilenet': 'configs/scrfd/scrfd_500m_4xb8-640e_widerface.py',
    # evolve's DamoFD block spaces: the published model of the space, whose neck and head the candidates keep
    'damofd-0.5g': 'configs/damofd/damofd_0.5g_4xb8-640e_widerface.py',
    'damofd-2.5g': 'configs/damofd/damofd_2.5g_4xb8-640e_widerface.py',
    'damofd-10g': 'configs/damofd/damofd_10g_4xb8-640e_widerface.py',
    'damofd-34g': 'configs/damofd/damofd_34g_4xb8-640e_widerface.py',
}
CANDIDATES_DIR = 'candidates'
MAX_REPEATS = 10 ** 6  # bootstrap resamples: the draws take repeats x (n / 4) integers of memory


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog='search_tools/search.py', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)

    s = sub.add_parser('sample', help='create a study: sample N candidates on the budget and queue them')
    s.add_argument('--space', required=True, help='resnet | mobilenet | scrfd, or a space file')
    s.add_argument('--gflops', type=positive_float, required=True, help='FLOPs budget in G (MACs, at --input)')
    s.add_argument('--tolerance', type=tolerance, default=0.02, help='relative budget tolerance (default 0.02)')
    s.add_argument('--input', type=input_size, default=(480, 640), metavar='WxH',
                   help='input size the FLOPs are counted at (default 640x480, VGA)')
    s.add_argument('--step', choices=STEPS, default='backbone',
                   help='backbone: stem/C2..C5 split (SCRFD step 1); full: backbone/neck/head (step 2)')
    s.add_argument('--template', help='config the candidates are written from (data, schedule, runtime, model '
                   'defaults); default: the published SCRFD config of the space')
    s.add_argument('--template-from', metavar='STEP1_DIR',
                   help='step 2: take the template architecture (and config) from a step-1 study')
    s.add_argument('--pick', choices=('best', 'bootstrap'), default='best',
                   help='with --template-from: the best trial, or the best one inside the bootstrap intervals')
    s.add_argument('--num', type=positive_int, default=64, help='candidates to sample and queue (default 64)')
    s.add_argument('--seed', type=seed_int, default=0, help='random seed in [0, 2**32 - 1] (default 0)')
    s.add_argument('--sampler', choices=SAMPLERS, default='random',
                   help='how workers draw trials beyond the queued ones (default random, as SCRFD)')
    s.add_argument('--proxy-epochs', type=positive_int,
                   help='proxy training epochs (default: the template\'s / 8, SCRFD\'s 80 of 640)')
    s.add_argument('--proxy-batch', type=positive_int, help='images per GPU (default: the template\'s)')
    s.add_argument('--proxy-lr', type=positive_float, help='base learning rate (default: the template\'s)')
    s.add_argument('--proxy-checkpoint-interval', type=positive_int,
                   help='epochs between checkpoints a resumed trial continues from (default epochs/16, >= 1)')
    s.add_argument('--prune-every', type=non_negative_int, metavar='K',
                   help='validate the proxy training every K epochs and report its Hard AP to the study, so that '
                   'run --pruner can stop trials early (default: epochs/8, >= 1; 0: only at the end, no pruning); '
                   'each validation costs one pass over the validation set')
    s.add_argument('--data-root', help='dataset root for the template (WIDER layout: train/, val/, val/gt/)')
    s.add_argument('--export-bases', nargs='+', metavar='CONFIG',
                   help='dataset / schedule / runtime bases an exported winner inherits (default: WIDER FACE, '
                   'the 640-epoch SCRFD schedule, the default runtime)')
    s.add_argument('--name', help='study name (default: <space>-<gflops>g-<step>)')
    s.add_argument('--storage', help='database URL for the Optuna study (default: DIR/optuna.journal)')
    s.add_argument('--out', required=True, help='the study folder to create')
    s.add_argument('--force', action='store_true', help='move an existing --out aside (DIR.<time>) and start anew')

    r = sub.add_parser('run', help='one worker: take trials from the study and train them until it is done')
    r.add_argument('--study', required=True)
    r.add_argument('--storage', help='database URL (default: the study folder\'s journal file)')
    r.add_argument('--trials', type=positive_int,
                   help='completed (or pruned) trials the study should reach, all workers together (failed ones do not '
                   'count; default: the queued N)')
    r.add_argument('--gpus', type=positive_int, default=1, help='GPUs per trial (>1: torchrun --standalone)')
    r.add_argument('--proxy-epochs', type=positive_int, help='only before any trial ran: change the proxy epochs')
    r.add_argument('--sampler', choices=SAMPLERS, help='override the study\'s sampler for new draws')
    r.add_argument('--pruner', choices=PRUNERS, default='none',
                   help='stop trials that cannot catch up (Optuna\'s MedianPruner / HyperbandPruner on the Hard AP '
                   'reported at every validation; needs a study sampled with --prune-every > 0; default none)')
    r.add_argument('--pruner-warmup', type=non_negative_int, default=0, metavar='E',
                   help='epochs before which no trial is pruned (median: n_warmup_steps; hyperband: min_resource, '
                   'at least the validation interval; default 0)')
    r.add_argument('--pruner-startup', type=non_negative_int, default=5, metavar='N',
                   help='completed trials the median pruner waits for before it prunes (n_startup_trials, '
                   'default 5)')
    r.add_argument('--heartbeat', type=positive_float, default=60.0, help='seconds between lease heartbeats')
    r.add_argument('--stale-after', type=positive_float, default=600.0,
                   help='seconds without a heartbeat before another worker takes a trial over (default 600)')
    r.add_argument('--max-attempts', type=positive_int, default=3,
                   help='attempts a candidate gets (killed or failed trials are queued again) before it stays '
                   'failed (default 3)')

    p = sub.add_parser('report', help='rank the trials, plot Pareto front / EDF, bootstrap the FLOPs shares')
    p.add_argument('--study', required=True, nargs='+', help='one study folder, or step 1 and step 2 to compare')
    p.add_argument('--storage')
    p.add_argument('--out', help='report folder (default: DIR/report)')
    p.add_argument('--repeats', type=int_in(1, MAX_REPEATS), default=10000,
                   help=f'bootstrap resamples, 1 to {MAX_REPEATS:.0e} (default 10^4)')
    p.add_argument('--force', action='store_true',
                   help='--out holds report files search.py report did not write: move them aside (NAME.<time>)')

    e = sub.add_parser('export', help='write the rank-k trial as a full-schedule config')
    e.add_argument('--study', required=True)
    which = e.add_mutually_exclusive_group()
    which.add_argument('--rank', type=positive_int, default=1,
                       help='the rank to export (default 1); a rank several trials share (equal Hard AP) is '
                       'refused as a tie')
    which.add_argument('--trial', type=non_negative_int, help='export this trial number instead (e.g. one of a tie)')
    e.add_argument('--out', required=True, help='a .py path, or a folder (the conventional name is used)')
    e.add_argument('--storage')
    e.add_argument('--force', action='store_true', help='move an existing --out aside (NAME.<time>)')
    add_score_parser(sub)
    c = sub.add_parser('calibrate', help='how far rankings of the same candidates agree: Kendall tau-b, Spearman '
                       'rho (bootstrap 95 %% intervals), top-k overlap, scatter plots')
    c.add_argument('--study', required=True, help='a study: the Hard AP of its completed trials is one ranking')
    c.add_argument('--against', nargs='+', default=[], metavar='DIR',
                   help='other studies of the same candidates (matched by architecture key), e.g. a longer training')
    c.add_argument('--scores', nargs='+', default=[], metavar='FILE',
                   help='scores files: CSV with columns candidate_key,score, or JSON {key: score}')
    c.add_argument('--proxy', nargs='+', default=[], metavar='NAME',
                   help='training-free proxies (search_tools.proxies) scored on the study\'s candidates')
    c.add_argument('--top-k', type=positive_int, default=5, help='k of the top-k overlap (default 5, capped at n)')
    c.add_argument('--bootstrap', type=int_in(1, MAX_REPEATS), default=1000,
                   help='bootstrap resamples of the candidates for the 95 %% intervals (default 1000)')
    c.add_argument('--seed', type=seed_int, default=0, help='seed of the bootstrap (and of the proxies)')
    c.add_argument('--storage', help='database URL of --study (default: its journal file)')
    c.add_argument('--out', required=True, help='the report folder to create')
    c.add_argument('--force', action='store_true', help='move an existing --out aside (DIR.<time>)')
    from search_tools.evolve_command import add_parsers, check_args
    from search_tools.proxies import PROXIES
    add_parsers(sub, dict(input_type=input_size, positive_float=positive_float, positive_int=positive_int,
                          seed_int=seed_int, tolerance=tolerance, finite_float=finite_float, proxies=PROXIES,
                          samplers=SAMPLERS, steps=STEPS))
    args = parser.parse_args(argv)
    if args.command in ('evolve', 'prerank'):
        check_args(args, parser)
    if args.command == 'score' and args.alpha is not None and args.proxy != 'ddsar':
        parser.error(f'--alpha is an option of --proxy ddsar, not of {args.proxy}')
    if args.command == 'score' and (args.trial is not None) != (args.study is not None):
        parser.error('--study and --trial go together')
    if args.command == 'run' and args.heartbeat >= args.stale_after:
        # a lease refreshed less often than other workers consider it stale is reaped while its worker trains
        parser.error(f'--heartbeat {args.heartbeat:g} must be shorter than --stale-after {args.stale_after:g} '
                     '(other workers take over a trial whose lease is older than --stale-after)')
    return args


# --------------------------------------------------------------------------------------------------------------
# sample
# --------------------------------------------------------------------------------------------------------------
def set_data_root(cfg, data_root: str) -> None:
    """Point the template's dataloaders and WIDER FACE metrics at ``data_root`` (WIDER layout)."""
    root = osp.abspath(data_root).rstrip('/') + '/'
    if not osp.isdir(root):
        raise StudyError(f'--data-root {data_root}: no such folder')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if loader in cfg:
            cfg[loader].dataset.data_root = root
    for evaluator in ('val_evaluator', 'test_evaluator'):
        if evaluator not in cfg:
            continue
        metrics = cfg[evaluator] if isinstance(cfg[evaluator], list) else [cfg[evaluator]]
        for metric in metrics:
            if metric.get('type') == 'WiderFaceMetric':
                metric.gt_dir = root + 'val/gt/'


def default_proxy(template_cfg, args) -> dict:
    """The proxy schedule: the options given, else the template's schedule cut to 1/8 (SCRFD: 80 of 640 epochs).

    Raises:
        StudyError: the template lacks what a default is read from, or the checkpoint interval is longer than
            the proxy (no checkpoint a killed trial could resume from).
    """
    try:
        epochs = args.proxy_epochs or max(1, int(template_cfg.train_cfg.max_epochs) // 8)
        proxy = dict(epochs=epochs,
                     batch_size=args.proxy_batch or int(template_cfg.train_dataloader.batch_size),
                     lr=float(args.proxy_lr or template_cfg.optim_wrapper.optimizer.lr),
                     checkpoint_interval=args.proxy_checkpoint_interval or max(1, epochs // 16))
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise StudyError(f'--template {template_cfg.filename}: cannot read the schedule the proxy defaults come '
                         f'from (train_cfg.max_epochs, train_dataloader.batch_size, optim_wrapper.optimizer.lr): '
                         f'{type(exc).__name__}: {exc}; give --proxy-epochs/--proxy-batch/--proxy-lr') from None
    if proxy['checkpoint_interval'] > proxy['epochs']:
        raise StudyError(f'--proxy-checkpoint-interval {proxy["checkpoint_interval"]} is longer than the '
                         f'{proxy["epochs"]}-epoch proxy: a killed trial would have no checkpoint to resume from')
    prune_every = getattr(args, 'prune_every', None)
    if prune_every is not None and prune_every > proxy['epochs']:
        raise StudyError(f'--prune-every {prune_every} is longer than the {proxy["epochs"]}-epoch proxy (give 0 to '
                         'validate only at the end)')
    # intermediate validations for the pruners: 8 by default (SCRFD's 80-epoch proxy: every 10 epochs)
    proxy['val_interval'] = (max(1, proxy['epochs'] // 8) if prune_every is None
                             else prune_every or proxy['epochs'])
    return proxy


def cmd_sample(args, draw=None, resumable=(), space=None) -> str:
    """Create the study folder. ``draw(space, template_arch, prepare) -> (candidates, stats)`` replaces the random
    draw (``evolve``, ``prerank``); it calls ``prepare()`` before it writes into ``--out``. Files named in
    ``resumable`` (a search's own checkpoint) do not make ``--out`` occupied. ``space`` replaces
    ``load_space(args.space)`` (``evolve``'s DamoFD block spaces, whose candidates carry no raw draw)."""
    from search_tools.arch import arch_from_config, read_option_config
    from search_tools.candidates import sample_candidates, write_candidates
    from search_tools.data_check import check_data, data_problems
    from search_tools.export import resolve_bases
    from search_tools.space import load_space
    out = args.out
    # an existing --out is moved aside (--force) only once everything below has been checked: a refused command
    # leaves the user's folder where it was
    occupied = osp.exists(out) and (not osp.isdir(out) or bool(set(os.listdir(out)) - set(resumable)))
    if occupied and not args.force:
        raise StudyError(f'--out {out} exists and is not empty; give --force to move it aside and start a new '
                         'study (nothing was changed)')
    if args.template and args.template_from:
        raise StudyError('give --template or --template-from, not both')
    template_arch, picked = None, None
    if args.template_from:
        from search_tools.report import pick_template
        template_arch, picked = pick_template(args.template_from, args.pick, args.storage)
        template_file = template_path(args.template_from)
    else:
        template_file = args.template or osp.join(REPO_ROOT, DEFAULT_TEMPLATES.get(args.space,
                                                                                  DEFAULT_TEMPLATES['resnet']))
    template_cfg = read_option_config(template_file, '--template')
    if args.data_root:
        set_data_root(template_cfg, args.data_root)
        # a data root that is not in the layout would make every trial fail in its training subprocess
        check_data(template_cfg, f'--data-root {args.data_root}', hint='Nothing was written')
    else:
        problems = data_problems(template_cfg)
        if problems:
            print(f'[search] WARNING: the data of {template_file} is not usable here (' + '; '.join(problems)
                  + '); workers refuse to train until it is (give --data-root DIR to point the study at the data)')
    try:
        if template_arch is None and (args.step == 'full' or args.template
                                      or is_damofd_space(args.space)):
            # step 2 rescales a template; step 1 keeps the neck and head of a template the user gave (SCRFD's
            # mode 1), else the space's own, scaled to the budget; the DamoFD block spaces always keep the
            # template's neck and head
            template_arch = arch_from_config(template_cfg)
    except ValueError as exc:
        raise StudyError(f'--template {exc}') from None
    try:
        space = load_space(args.space) if space is None else space
    except (ValueError, FileNotFoundError) as exc:
        raise StudyError(f'--space {exc}') from None
    family = getattr(space, 'family', None)
    if args.step == 'full' and template_arch is not None and template_arch['backbone']['type'] != family:
        # step 2 rescales the template's own backbone, so it must be one the space searches
        option = '--template-from' if args.template_from else '--template'
        raise StudyError(f'{option} {args.template_from or template_file}: its backbone is '
                         f'{template_arch["backbone"]["type"]}, and --step full rescales a backbone of the space '
                         f'({args.space}: {family}); nothing was written')
    if args.export_bases:  # checked now, not at export time after the whole search
        try:
            resolve_bases(args.export_bases)
        except StudyError as exc:
            raise StudyError(f'--export-bases: {exc}') from None
    if args.storage:  # a storage that cannot be opened is refused before the study folder is written
        open_storage(out, args.storage)
    proxy = default_proxy(template_cfg, args)

    def prepare():
        nonlocal occupied
        if occupied:
            print(f'[search] moved the existing {out} to {move_aside(out)}')
            occupied = False
        os.makedirs(out, exist_ok=True)

    t0 = time.time()
    if draw is None:
        cands, stats = sample_candidates(space, args.num, seed=args.seed, gflops=args.gflops,
                                         tolerance=args.tolerance, input_shape=tuple(args.input), step=args.step,
                                         template=template_arch)
    else:
        cands, stats = draw(space, template_arch, prepare)
    seconds = time.time() - t0
    if not cands:  # an unreachable budget: say so instead of creating an empty study
        reason = stats.get('last_infeasible') or 'none of them meets the budget'
        raise StudyError(f'no candidate of the {args.space} space meets {args.gflops:g} GFLOPs +- '
                         f'{args.tolerance:.0%} at {args.input[1]}x{args.input[0]} in {stats["raw_samples"]} raw '
                         f'samples ({stats["infeasible"]} infeasible; last: {reason}); nothing was written')
    prepare()
    written = write_candidates(osp.join(out, CANDIDATES_DIR), cands, template_cfg)
    with open(template_path(out), 'w', encoding='utf-8') as f:
        f.write(template_cfg.pretty_text)

    space_name = (str(args.space) if is_damofd_space(args.space)
                  else osp.basename(str(args.space)).split(".")[0])
    name = args.name or f'{space_name}-{args.gflops:g}g-{args.step}'
    spec = dict(
        spec_version=SPEC_VERSION, name=name, space=str(args.space), step=args.step, gflops=args.gflops,
        tolerance=args.tolerance, input_shape=list(args.input), seed=args.seed, sampler=args.sampler,
        num=len(cands), proxy=proxy, template_config=osp.abspath(template_file),
        template_arch=template_arch, template_picked=picked, data_root=args.data_root,
        export_bases=args.export_bases, storage=storage_label(out, args.storage),
        sampling=_jsonable(stats, seconds), versions=versions(), git_sha=git_sha(),
        created=time.strftime('%Y-%m-%dT%H:%M:%S%z'), command=' '.join(sys.argv))
    validate_spec(spec, spec_path(out))
    write_json_atomic(spec_path(out), spec)

    import optuna
    try:
        study = open_study(out, args.storage, spec=spec, create=True)
    except optuna.exceptions.DuplicatedStudyError:
        raise StudyError(f'{storage_label(out, args.storage)} already holds a study named {name!r}; give another '
                         '--name (study.json and the candidates were written, nothing was queued)') from None
    for cand, path in zip(cands, written):
        params = raw_params(space, cand.raw) if cand.raw else {}
        enqueue(study, params, dict(
            key=cand.key(), arch=cand.arch, breakdown=cand.breakdown, config=osp.relpath(path, out),
            has_params=bool(params), source=args.command))
    if draw is not None:
        print(f'[search] study {name!r}: the {len(cands)} best by {args.proxy} queued in '
              f'{storage_label(out, args.storage)}')
    else:
        print(f'[search] study {name!r}: {len(cands)} distinct candidates from {stats["raw_samples"]} raw '
              f'samples in {seconds:.2f} s ({stats["raw_per_s"]:.0f} raw samples/s); before projection '
              f'{stats["met_budget_raw_share"]:.2%} of the raw samples met {args.gflops:g} GFLOPs '
              f'+- {args.tolerance:.0%}; {stats["infeasible"]} infeasible, {stats["duplicates"]} '
              f'duplicates; queued in {storage_label(out, args.storage)}')
    # prerank keeps --keep of the --num it drew: the warning is about the draw (evolve has no --num)
    drawn = len(cands) if draw is None else stats.get('sampled')
    if drawn is not None and drawn < args.num:
        print(f'[search] WARNING: only {drawn} of --num {args.num} distinct candidates could be drawn')
    print(f'[search] next: python search_tools/search.py run --study {out}'
          + (f' --storage {args.storage}' if args.storage else ''))
    return out


def raw_params(space, raw) -> dict:
    """A raw sample as the Optuna parameters the space draws it with (``stage_blocks: [3, 5, 3, 2]`` ->
    ``stage_blocks_0 .. stage_blocks_3``): a queued trial re-suggests exactly these, so the study's sampler sees
    the queued candidates' parameters as its own."""
    params = {}
    for key, items in space.dims[raw.get('step', 'backbone')].items():
        values = raw[key] if len(items) > 1 else [raw[key]]
        for (name, _), value in zip(items, values):
            params[name] = value
    return params


def _jsonable(stats, seconds):
    import json
    record = dict(stats, seconds=round(seconds, 4))
    return json.loads(json.dumps(record, default=str))


# --------------------------------------------------------------------------------------------------------------
# run / report / export
# --------------------------------------------------------------------------------------------------------------
def cmd_run(args):
    from search_tools.worker import Worker
    stop = threading.Event()

    def request_stop(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        print(f'[search] signal {signum}: stopping after releasing the current trial (again to abort)', flush=True)
        stop.set()

    # the command line's own process only: SIGTERM (scancel, kill), SIGUSR1 (Slurm --signal=B:USR1@T), Ctrl-C
    for sig in (signal.SIGTERM, signal.SIGINT, getattr(signal, 'SIGUSR1', None)):
        if sig is not None:
            signal.signal(sig, request_stop)
    worker = Worker(args.study, storage=args.storage, target=args.trials, gpus=args.gpus, sampler=args.sampler,
                    proxy_epochs=args.proxy_epochs, heartbeat=args.heartbeat, stale_after=args.stale_after,
                    max_attempts=args.max_attempts, stop=stop, pruner=args.pruner,
                    pruner_warmup=args.pruner_warmup, pruner_startup=args.pruner_startup)
    counts = worker.run()
    print('[search] worker done: ' + ', '.join(f'{v} {k}' for k, v in counts.items()))
    return counts


def cmd_report(args):
    from search_tools.report import write_report
    return write_report(args.study, storage=args.storage, out_dir=args.out, repeats=args.repeats,
                        force=args.force)


def cmd_export(args):
    from search_tools.export import export
    return export(args.study, rank=None if args.trial is not None else args.rank, out=args.out, force=args.force,
                  storage=args.storage, trial=args.trial)


# --------------------------------------------------------------------------------------------------------------
# score
# --------------------------------------------------------------------------------------------------------------
def add_score_parser(sub) -> None:
    from search_tools.proxies import PROXIES
    c = sub.add_parser('score', help='one training-free proxy of one architecture (last line: JSON)')
    c.add_argument('--proxy', required=True, choices=PROXIES)
    source = c.add_mutually_exclusive_group(required=True)
    source.add_argument('--struct', help='a DamoFD structure string, e.g. "SuperConvK3BNRELU(3,32,2,1)..."')
    source.add_argument('--config', help='a config file whose model.backbone is scored (a candidate, a trial)')
    source.add_argument('--study', help='a study folder; with --trial N, score that trial\'s config')
    c.add_argument('--trial', type=non_negative_int, help='trial number within --study')
    c.add_argument('--storage', help='with --study: its database URL (default: the folder\'s journal file)')
    c.add_argument('--input', type=input_size, default=(224, 224), metavar='WxH',
                   help='input size (default 224, the released DDSAR search resolution; ddsar uses the height)')
    c.add_argument('--alpha', type=finite_float, help='ddsar: weight of the kernel-size term (default 0.005, '
                   'as released)')
    c.add_argument('--seed', type=seed_int, default=0, help='zen/naswot: weights and inputs (default 0)')


def cmd_score(args) -> dict:
    from search_tools.scoring import backbone_from_args, result_line, score_architecture
    backbone, source = backbone_from_args(args.struct, args.config, args.study, args.trial, args.storage)
    options = {} if args.alpha is None else dict(alpha=args.alpha)
    record = score_architecture(args.proxy, backbone, args.input, seed=args.seed, **options)
    record['source'] = source
    h, w = args.input
    print(f'[search] {args.proxy} of {source} at {w}x{h}: {record["score"]!r}')
    for i, value in enumerate(record['per_stage']):
        print(f'[search]   stage {i + 1}: {value!r}')
    print(result_line(record))
    return record


def cmd_calibrate(args):
    from search_tools.calibrate import calibrate
    return calibrate(args.study, args.out, against=args.against, scores=args.scores, proxies=args.proxy,
                     top_k=args.top_k, repeats=args.bootstrap, seed=args.seed, force=args.force,
                     storage=args.storage)


def cmd_evolve(args):
    from search_tools.evolve_command import cmd_evolve as run
    return run(args, cmd_sample)


def cmd_prerank(args):
    from search_tools.evolve_command import cmd_prerank as run
    return run(args, cmd_sample)


def main(argv=None):
    args = parse_args(argv)
    try:
        return dict(sample=cmd_sample, run=cmd_run, report=cmd_report, export=cmd_export,
                    score=cmd_score, calibrate=cmd_calibrate, evolve=cmd_evolve,
                    prerank=cmd_prerank)[args.command](args)
    except StudyError as exc:
        sys.exit(f'search.py {args.command}: {exc}')


if __name__ == '__main__':
    main()
