"""Write the synthetic toy WIDER FACE used by the demo and the tests.

    python tools/make_toy_widerface.py --out data/toy_widerface [--num-train 400 --num-val 100 --size 320 --seed 0]

OUT must be new, empty or an earlier toy set; a folder holding anything else (a real WIDER FACE, other files) is
refused, naming what it holds, and nothing is written. The logic lives in :mod:`mmdet_face.datasets.toy`.
"""
import argparse
from typing import List, Optional

from mmdet_face.datasets.toy import make_toy_widerface
from mmdet_face.engine.cli import positive_int, seed_int


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description='Write a small synthetic WIDER FACE (real layout).')
    parser.add_argument('--out', default='data/toy_widerface')
    parser.add_argument('--num-train', type=positive_int, default=400)
    parser.add_argument('--num-val', type=positive_int, default=100)
    parser.add_argument('--size', type=positive_int, default=320)
    parser.add_argument('--seed', type=seed_int, default=0)
    parser.add_argument('--num-events', type=positive_int, default=4)
    args = parser.parse_args(argv)
    try:
        stats = make_toy_widerface(args.out, args.num_train, args.num_val, args.size, args.seed, args.num_events)
    except FileExistsError as err:
        parser.exit(1, f'make_toy_widerface: error: {err}\n')
    print(f'wrote {args.out}: ' + ', '.join(f'{k}={v}' for k, v in stats.items()))


if __name__ == '__main__':
    main()
