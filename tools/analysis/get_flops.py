"""Parameters (M) and FLOPs (G, multiply-accumulates as in SCRFD's table) of a config's model at VGA.

    python tools/analysis/get_flops.py configs/scrfd/scrfd_2.5g_4xb8-640e_widerface.py [--shape 480 640]
"""
import argparse

from mmdet_face.engine.cli import positive_int, read_tool_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Count parameters and FLOPs of a detector')
    parser.add_argument('config', help='config file')
    parser.add_argument('--shape', type=positive_int, nargs='+', default=[480, 640], help='input H W (or one side)')
    args = parser.parse_args(argv)
    if len(args.shape) not in (1, 2):
        parser.error(f'--shape takes 1 or 2 integers (H W, or one side), got {len(args.shape)}')
    return args


def main(argv=None):
    from mmdet_face.models.utils import get_model_complexity
    args = parse_args(argv)
    result = get_model_complexity(read_tool_config(args.config), tuple(args.shape))
    shape = args.shape * 2 if len(args.shape) == 1 else args.shape
    print(f'Input shape: {shape[0]}x{shape[1]}')
    print(f'Params: {result["params_m"]:.4f} M')
    print(f'FLOPs:  {result["gflops"]:.4f} G')


if __name__ == '__main__':
    main()
