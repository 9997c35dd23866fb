"""How fast the search samples, and how often a raw sample already meets the budget before projection.

    python search_tools/benchmark_sampling.py                       # the default table (about a minute)
    python search_tools/benchmark_sampling.py --raw 20000 --candidates 200 --seed 0

For each (space, step, budget) it prints:
- raw/s: raw samples drawn and counted analytically per second (what rejection sampling would evaluate; for
  ``scrfd``, drawn and judged in one numpy batch as its sampler does, its look-up tables built beforehand);
- met raw: the share of raw samples inside ``budget * (1 +- tolerance)`` before any projection (for ``scrfd``,
  the released rejection sampler, also with its step-2 stage-ratio lock: "accepted");
- cand/s and infeasible: projected, de-duplicated candidates per second (drawing, projection and the FLOPs
  breakdown: everything ``search.py sample`` does before it writes the configs; the best of ``--repeats`` runs) and
  the share of raw samples the projection could not bring inside the band;
- cand/CPU-s: the same per second of the process's CPU time, what one core does when other jobs share it.

The process runs on one core (``--cpu``, default the first core it may use): the search samples in one thread,
and a second core would only add noise from other jobs.
"""
import argparse
import os
import sys
import time

import numpy as np

if __package__ in (None, ''):  # run as a script: import search_tools from the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmdet_face.engine.cli import non_negative_int, positive_float, positive_int, seed_int  # noqa: E402
from search_tools.arguments import tolerance  # noqa: E402
from search_tools.candidates import sample_candidates  # noqa: E402
from search_tools.flops import total_flops  # noqa: E402
from search_tools.projection import raw_arch  # noqa: E402
from search_tools.scrfd_replay import ReleasedRulesBatch  # noqa: E402
from search_tools.space import STEPS, RandomSuggester, load_space  # noqa: E402

DEFAULT_CASES = [('resnet', 'backbone', 0.5), ('resnet', 'backbone', 2.5), ('resnet', 'backbone', 10.0),
                 ('resnet', 'full', 2.5), ('mobilenet', 'backbone', 0.5), ('mobilenet', 'backbone', 1.0),
                 ('mobilenet', 'backbone', 2.5), ('mobilenet', 'full', 0.5), ('scrfd', 'backbone', 2.5),
                 ('scrfd', 'full', 2.5)]


def case(text: str):
    """argparse type: ``SPACE:STEP:GFLOPS`` -> ``(space, step, gflops)``."""
    parts = text.split(':')
    if len(parts) != 3 or parts[1] not in STEPS:
        raise argparse.ArgumentTypeError(f'expected SPACE:STEP:GFLOPS with STEP one of {STEPS}, such as '
                                         f'resnet:backbone:2.5, got {text!r}')
    return parts[0], parts[1], positive_float(parts[2])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--raw', type=positive_int, default=20000,
                        help='raw samples per case for raw/s and met raw')
    parser.add_argument('--candidates', type=positive_int, default=100, help='projected candidates per case')
    parser.add_argument('--scrfd-full-candidates', type=positive_int, default=50,
                        help='candidates for the released step 2 (1 in ~6,000 raw samples accepted; about 110 '
                             'distinct architectures pass at 2.5 GF, so far fewer than --candidates)')
    parser.add_argument('--tolerance', type=tolerance, default=0.02)
    parser.add_argument('--input', type=positive_int, nargs=2, default=[480, 640], metavar=('H', 'W'))
    parser.add_argument('--seed', type=seed_int, default=0)
    parser.add_argument('--repeats', type=positive_int, default=3,
                        help='runs of the candidate sampling per case; the fastest is printed (default 3)')
    parser.add_argument('--cpu', type=non_negative_int, help='the core to run on (default: the first allowed one)')
    parser.add_argument('--case', action='append', type=case, default=None, metavar='SPACE:STEP:GFLOPS',
                        help='e.g. resnet:backbone:2.5 (repeatable; default: the table of the README)')
    return parser.parse_args(argv)


def raw_rate(space, step, gflops, tolerance, input_shape, num, seed):
    """(raw samples/s, share inside the band) over ``num`` draws, without projection; a faithful space's
    (``scrfd``) drawn and judged in batches, as its sampler does."""
    if space.faithful:
        judge = ReleasedRulesBatch(space, step, gflops, tolerance, input_shape)  # its tables: once per run
        start = time.perf_counter()
        _, met, _ = judge(space.sample_batch(np.random.default_rng(seed), step, num))
        return num / (time.perf_counter() - start), float(met.mean())
    suggest = RandomSuggester(np.random.default_rng(seed))
    raw_arch(space, space.sample(RandomSuggester(0), step), gflops, input_shape)  # warm the template cache
    met = 0
    start = time.perf_counter()
    for _ in range(num):
        raw = space.sample(suggest, step)
        try:
            flops = total_flops(raw_arch(space, raw, gflops, input_shape), input_shape)
        except ValueError:  # a released step-2 width rounding to 0
            continue
        met += (1 - tolerance) * gflops * 1e9 <= flops <= (1 + tolerance) * gflops * 1e9
    return num / (time.perf_counter() - start), met / num


def pin_to_one_core(cpu=None) -> str:
    """Run this process on one core (``cpu``, default the first one it may use); returns what it runs on."""
    if not hasattr(os, 'sched_setaffinity'):
        return 'all cores (no sched_setaffinity here)'
    allowed = sorted(os.sched_getaffinity(0))
    cpu = allowed[0] if cpu is None else cpu
    if cpu not in allowed:
        sys.exit(f'benchmark_sampling.py: --cpu {cpu}: this process may only run on cores {allowed}')
    os.sched_setaffinity(0, {cpu})
    return f'one core (CPU {cpu})'


def main(argv=None):
    args = parse_args(argv)
    cases = args.case or DEFAULT_CASES
    shape = tuple(args.input)
    where = pin_to_one_core(args.cpu)
    print(f'input {shape[0]}x{shape[1]}, tolerance {args.tolerance:.1%}, seed {args.seed}, {where}')
    header = (f"{'space':10s} {'step':9s} {'GF':>5s} {'raw/s':>8s} {'met raw':>8s} {'accepted':>9s} "
              f"{'cand/s':>8s} {'cand/CPU-s':>10s} {'infeasible':>10s} {'n':>4s}")
    print(header)
    print('-' * len(header))
    for name, step, gflops in cases:
        try:
            space = load_space(name)
        except (ValueError, FileNotFoundError) as exc:
            sys.exit(f'benchmark_sampling.py: --case {name}:{step}:{gflops:g}: {exc}')
        rate, met = raw_rate(space, step, gflops, args.tolerance, shape, args.raw, args.seed)
        num = args.scrfd_full_candidates if (space.faithful and step == 'full') else args.candidates
        runs = []
        for _ in range(args.repeats):
            cpu = time.process_time()
            cands, stats = sample_candidates(space, num, seed=args.seed, gflops=gflops, tolerance=args.tolerance,
                                             input_shape=shape, step=step)
            runs.append((cands, stats, len(cands) / max(time.process_time() - cpu, 1e-9)))
        cands, stats, _ = max(runs, key=lambda run: run[1]['candidates_per_s'])
        per_cpu_second = max(run[2] for run in runs)
        infeasible = stats['infeasible'] / max(1, stats['raw_samples'])
        print(f"{name:10s} {step:9s} {gflops:5.2f} {rate:8.0f} {met:8.3%} {stats['accepted_share']:9.3%} "
              f"{stats['candidates_per_s']:8.1f} {per_cpu_second:10.1f} {infeasible:10.2%} {len(cands):4d}",
              flush=True)


if __name__ == '__main__':
    main()
