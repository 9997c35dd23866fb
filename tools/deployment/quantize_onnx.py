"""Quantise an FP32 ONNX face detector to INT8 with onnxruntime's static quantisation.

    python tools/deployment/quantize_onnx.py FP32.onnx INT8.onnx --calib DIR_OR_CONFIG [--num 100]
        [--per-channel] [--format qdq|qoperator] [--input-size H W] [--reduce-range]
        [--exclude first_conv|heads|depthwise|none|NODE ...] [--no-pre-process] [--time N]
        [--cfg-options KEY=VALUE ...] [--overwrite]

``--calib DIR``: the first ``--num`` images under DIR (any depth, sorted by path), pre-processed as the file's
layout expects: SCRFD files (input ``input.1``; insightface's releases and tools/deployment/export_onnx.py) RGB,
(x - 127.5) / 128; RetinaFace / DSFD files (input ``input``) BGR minus (104, 117, 123); both letterboxed into the
input size as insightface's SCRFD.detect does. ``--calib CONFIG``: the config's test (else val) set through its own
test pipeline and data_preprocessor (the only choice for other graphs). ``--input-size H W`` is required for a
graph with a symbolic height and width. The graph is first prepared by onnxruntime's ``quant_pre_process`` (shape
inference + basic optimisation; ``--no-pre-process`` skips it) and the log says whether it ran. Activations are
uint8, weights int8 (``--per-channel``: one scale per output channel; a per-channel QDQ graph is converted to opset
13 first). The first conv stays in float by default (``--exclude none`` quantises it too): on the 3-channel
full-size image an integer conv is no faster than onnxruntime's float one and needs the input quantised first.

The INT8 file is run on a few calibration blobs before it is kept: same outputs and shapes as FP32, finite values
(the largest difference to FP32 per output is printed). Calibration data without images, a truncated or unreadable
FP32 file, or an INT8 result with non-finite outputs is an error and nothing is written; an existing INT8.onnx is
left alone unless ``--overwrite`` (or ``--force``, as the other
tools spell it) is given. ``--time N`` then prints the median and the best network time of FP32 and INT8 on one
thread over N runs each on the first calibration blob (interleaved; the best run is the steadier figure on a
machine shared with other jobs).
"""
import argparse
import os.path as osp
import sys

from mmdet_face.engine.cli import ConfigOptionsAction, non_negative_int, positive_int, read_tool_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('fp32', help='FP32 ONNX file')
    parser.add_argument('int8', help='INT8 ONNX file to write')
    parser.add_argument('--calib', required=True, metavar='DIR_OR_CONFIG',
                        help='folder of calibration images, or a config whose test / val set calibrates')
    parser.add_argument('--num', type=positive_int, default=100, help='number of calibration images (default 100)')
    parser.add_argument('--per-channel', action='store_true', help='one weight scale per output channel')
    parser.add_argument('--format', choices=('qdq', 'qoperator'), default='qdq',
                        help='QuantizeLinear/DequantizeLinear pairs (default) or QLinear* operators')
    parser.add_argument('--input-size', type=positive_int, nargs=2, metavar=('H', 'W'), default=None,
                        help='calibration input size (required for a graph with symbolic height and width)')
    parser.add_argument('--reduce-range', action='store_true', help='7-bit weights (x86-64 CPUs without VNNI)')
    parser.add_argument('--exclude', nargs='+', default=['first_conv'], metavar='NODE',
                        help="keep these in float: 'first_conv' (default), 'heads' (the convs feeding the outputs), "
                             "'depthwise' (grouped convs) or node names; 'none' quantises every node")
    parser.add_argument('--no-pre-process', action='store_true', help="skip onnxruntime's quant_pre_process")
    parser.add_argument('--time', type=non_negative_int, default=0, metavar='N',
                        help='print FP32 and INT8 network milliseconds (one thread, median and best of N runs)')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction, default=None,
                        help='override settings of the calibration CONFIG (key=value)')
    parser.add_argument('--overwrite', '--force', dest='overwrite', action='store_true',
                        help='replace INT8 if it exists')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmdet_face.utils.output_file import check_output_path
    try:  # fail before reading anything
        check_output_path(args.int8, overwrite=args.overwrite, inputs=(args.fp32,))
    except (OSError, ValueError) as err:
        sys.exit(f'error: {err}')
    if osp.isdir(args.calib):
        if args.cfg_options:
            sys.exit(f'error: --cfg-options: --calib {args.calib} is a folder, not a config')
        calibration = args.calib
    elif osp.isfile(args.calib):
        calibration = read_tool_config(args.calib, args.cfg_options)
    else:
        sys.exit(f'error: --calib {args.calib}: no such folder or config file')

    from mmdet_face.deployment.quantize_onnx import QuantizationError, quantize_onnx
    try:
        report = quantize_onnx(args.fp32, args.int8, calibration, num_images=args.num, per_channel=args.per_channel,
                               quant_format=args.format, input_size=args.input_size, reduce_range=args.reduce_range,
                               exclude=[e for e in args.exclude if e != 'none'],
                               pre_process=not args.no_pre_process, overwrite=args.overwrite)
    except (OSError, QuantizationError) as err:  # the messages name the file and what was expected
        sys.exit(f'error: {err}')
    print(f'calibrated on {report.calibration_source} at {report.input_size[0]}x{report.input_size[1]}; '
          f'pre-processing: {report.pre_process}')
    print(f'wrote {args.int8}: format {report.quant_format}, per-channel {report.per_channel}, reduce-range '
          f'{report.reduce_range}, {len(report.excluded_nodes)} node(s) kept in float')
    print('max |INT8 - FP32| on the checked blobs: '
          + ', '.join(f'{name} {value:.4g}' for name, value in report.max_abs_diff.items()))
    if args.time:
        import onnx

        from mmdet_face.apis.cpu_runtime import cpu_description
        from mmdet_face.deployment.quantize_onnx import folder_blobs, blob_layout, config_blobs, time_networks
        h, w = report.input_size
        layout = blob_layout(onnx.load(args.fp32, load_external_data=False)) if isinstance(calibration, str) else None
        blob = (folder_blobs(calibration, layout, h, w, 1) if layout else config_blobs(calibration, h, w, 1))[0]
        (fp32_med, fp32_best), (int8_med, int8_best) = time_networks([args.fp32, args.int8], blob,
                                                                     repeat=args.time)
        print(f'network at {h}x{w}, one thread, {args.time} runs: FP32 median {fp32_med:.2f} ms (best '
              f'{fp32_best:.2f}), INT8 median {int8_med:.2f} ms (best {int8_best:.2f}); INT8 is '
              f'{fp32_med / int8_med:.2f}x faster (median), {fp32_best / int8_best:.2f}x (best); cpu: '
              f'{cpu_description()}')


if __name__ == '__main__':
    main()
