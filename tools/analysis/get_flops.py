"""Parameters (M) and FLOPs (G, multiply-accumulates as in SCRFD's table) of a config's model at VGA.

    python tools/analysis/get_flops.py configs/scrfd/scrfd_2.5g_4xb8-640e_widerface.py [--shape 480 640]
"""
import argparse

from mmdet_face.models.utils import get_model_complexity


def parse_args():
    parser = argparse.ArgumentParser(description='Count parameters and FLOPs of a detector')
    parser.add_argument('config', help='config file')
    parser.add_argument('--shape', type=int, nargs='+', default=[480, 640], help='input H W (or one side)')
    return parser.parse_args()


def main():
    args = parse_args()
    if len(args.shape) not in (1, 2):
        raise SystemExit(f'--shape takes 1 or 2 integers, got {args.shape}')
    result = get_model_complexity(args.config, tuple(args.shape))
    shape = args.shape * 2 if len(args.shape) == 1 else args.shape
    print(f'Input shape: {shape[0]}x{shape[1]}')
    print(f'Params: {result["params_m"]:.4f} M')
    print(f'FLOPs:  {result["gflops"]:.4f} G')


if __name__ == '__main__':
    main()
