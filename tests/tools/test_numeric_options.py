"""Every numeric option of every tool is checked when the command line is parsed (finite, in range, NaN refused):
an argparse error naming the option, exit status 2, before any config is read or model built."""
import argparse

import pytest

from mmdet_face.engine import cli
from tests.helpers.tools import load_tool


def _parse(relpath, entry, argv):
    return getattr(load_tool(relpath), entry)(argv)


WT = 'tools/test.py'
BAD = [
    # (tool, entry point, argv, option named in the error)
    (WT, 'parse_args', ['c.py', 'k.pth', '--tta', '--tta-iou', '0'], '--tta-iou'),
    (WT, 'parse_args', ['c.py', 'k.pth', '--tta', '--tta-iou', '1.5'], '--tta-iou'),
    (WT, 'parse_args', ['c.py', 'k.pth', '--tta', '--tta-iou', 'nan'], '--tta-iou'),
    (WT, 'parse_args', ['c.py', 'k.pth', '--tta', '--tta-scales', '1', '0'], '--tta-scales'),
    (WT, 'parse_args', ['c.py', 'k.pth', '--tta', '--tta-scales', '-1'], '--tta-scales'),
    (WT, 'parse_args', ['c.py', 'k.pth', '--tta', '--tta-scales', 'nan'], '--tta-scales'),
    (WT, 'parse_args', ['c.py', 'k.pth', '--tta', '--tta-scales', 'inf'], '--tta-scales'),
    (WT, 'parse_args', ['c.py', 'k.pth', '--mode', 'vga', '--size', '0'], '--size'),
    (WT, 'parse_args', ['c.py', 'k.pth', '--mode', 'fixed', '--size', '-640'], '--size'),
    (WT, 'parse_args', ['c.py', 'k.pth', '--tta', '--max-size', '-5'], '--max-size'),
    (WT, 'parse_args', ['c.py', 'k.pth', '--local-rank', '-1'], '--local_rank'),
    ('tools/train.py', 'parse_args', ['c.py', '--local-rank', '-2'], '--local_rank'),
    ('tools/toy_demo.py', 'parse_args', ['--seed', '-1'], '--seed'),
    ('tools/toy_demo.py', 'parse_args', ['--seed', str(2**32)], '--seed'),
    ('tools/toy_demo.py', 'parse_args', ['--epochs', '0'], '--epochs'),
    ('tools/toy_demo.py', 'parse_args', ['--threads', '0'], '--threads'),
    ('tools/image_demo.py', 'parse_args', ['c.py', 'k.pth', 'in.jpg', '--score-thr', 'nan'], '--score-thr'),
    ('tools/image_demo.py', 'parse_args', ['c.py', 'k.pth', 'in.jpg', '--nms-thr', '1.01'], '--nms-thr'),
    ('tools/image_demo.py', 'parse_args', ['c.py', 'k.pth', 'in.jpg', '--max-size', '0'], '--max-size'),
    ('tools/checks/check_train_steps.py', 'parse_args', ['c.py', '--iters', '0'], '--iters'),
    ('tools/checks/check_train_steps.py', 'parse_args', ['c.py', '--batch', '-1'], '--batch'),
    ('tools/checks/check_train_steps.py', 'parse_args', ['c.py', '--lr', 'nan'], '--lr'),
    ('tools/checks/check_train_steps.py', 'parse_args', ['c.py', '--lr', '0'], '--lr'),
    ('tools/checks/check_train_steps.py', 'parse_args', ['c.py', '--threads', '0'], '--threads'),
    ('tools/checks/check_train_steps.py', 'parse_args', ['c.py', '--seed', '-1'], '--seed'),
    ('tools/checks/check_train_steps.py', 'parse_args', ['c.py', '--cfg-options', 'lr'], '--cfg-options'),
    ('tools/analysis/benchmark_train.py', 'parse_args', ['c.py', '--batch', '0'], '--batch'),
    ('tools/analysis/benchmark_train.py', 'parse_args', ['c.py', '--warmup', '-1'], '--warmup'),
    ('tools/analysis/benchmark_train.py', 'parse_args', ['c.py', '--workers', '-1'], '--workers'),
    ('tools/analysis/benchmark_pipeline.py', 'main', ['--iters', '0'], '--iters'),
    ('tools/analysis/benchmark_pipeline.py', 'main', ['--seed', '-1'], '--seed'),
    ('tools/analysis/benchmark_dsfd_release.py', 'main', ['--size', '0', '640'], '--size'),
    ('tools/analysis/benchmark_dsfd_release.py', 'main', ['--repeat', '0'], '--repeat'),
    ('tools/analysis/benchmark_inference.py', 'main', ['c.py', '--threads', '1', '0'], '--threads'),
    ('tools/analysis/benchmark_inference.py', 'main', ['c.py', '--repeat', '0'], '--repeat'),
    ('tools/analysis/benchmark_inference.py', 'main', ['c.py', '--score-thr', 'nan'], '--score-thr'),
    ('tools/analysis/benchmark_widerface_eval.py', 'main', ['--fp-per-image', '-1'], '--fp-per-image'),
    ('tools/analysis/benchmark_widerface_eval.py', 'main', ['--fp-per-image', 'nan'], '--fp-per-image'),
    ('tools/analysis/get_flops.py', 'parse_args', ['c.py', '--shape', '0', '640'], '--shape'),
    ('tools/analysis/get_flops.py', 'parse_args', ['c.py', '--shape', '1', '2', '3'], '--shape'),
    ('tools/deployment/export_onnx.py', 'main', ['c.py', 'o.onnx', '--shape', '-1', '640'], '--shape'),
    ('tools/deployment/export_onnx.py', 'main', ['c.py', 'o.onnx', '--batch', '0'], '--batch'),
    ('tools/deployment/export_onnx.py', 'main', ['c.py', 'o.onnx', '--opset', '0'], '--opset'),
    ('tools/deployment/quantize_onnx.py', 'parse_args', ['a.onnx', 'b.onnx', '--calib', 'd', '--num', '0'], '--num'),
    ('tools/deployment/quantize_onnx.py', 'parse_args', ['a.onnx', 'b.onnx', '--calib', 'd', '--input-size', '0',
                                                         '64'], '--input-size'),
    ('tools/deployment/quantize_onnx.py', 'parse_args', ['a.onnx', 'b.onnx', '--calib', 'd', '--time', '-1'], '--time'),
    ('tools/dataset_converters/prepare_widerface.py', 'main', ['--expect-counts', '0', '5'], '--expect-counts'),
    ('tools/dataset_converters/prepare_widerface.py', 'main', ['--expect-test-count', '0'], '--expect-test-count'),
    ('tools/make_toy_widerface.py', 'main', ['--seed', '-1'], '--seed'),
    ('tools/make_toy_widerface.py', 'main', ['--num-val', '0'], '--num-val'),
    ('tools/check_widerface_submission.py', 'parse_args', ['d', '--list', 'l', '--score-range', '0', 'nan'],
     '--score-range'),
    ('tools/check_widerface_submission.py', 'parse_args', ['d', '--list', 'l', '--score-range', '1', '0'],
     '--score-range'),
]
AFW = ['--dataset', 'afw', '--pred', 'd.txt']
BAD += [
    ('tools/test_afw_pascal.py', 'parse_args', AFW + ['--iterations', '0'], '--iterations'),
    ('tools/test_afw_pascal.py', 'parse_args', AFW + ['--iou-thresh', '1'], '--iou-thresh'),
    ('tools/test_afw_pascal.py', 'parse_args', AFW + ['--iou-thresh', 'nan'], '--iou-thresh'),
    ('tools/test_afw_pascal.py', 'parse_args', AFW + ['--min-width', '-1'], '--min-width'),
    ('tools/test_afw_pascal.py', 'parse_args', AFW + ['--min-height', 'nan'], '--min-height'),
    ('tools/dataset_converters/prepare_afw_pascal.py', 'main', ['--expect-count', '0'], '--expect-count'),
]


@pytest.mark.parametrize('relpath, entry, argv, option', BAD, ids=[f'{b[0].split("/")[-1]}:{" ".join(b[2])}'
                                                                    for b in BAD])
def test_bad_numeric_option_is_an_argparse_error(capsys, relpath, entry, argv, option):
    with pytest.raises(SystemExit) as exc:
        _parse(relpath, entry, argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f'argument {option}' in err or err.splitlines()[-1].split('error: ')[1].startswith(option), err


def test_seed_message_says_what_is_expected(capsys):
    with pytest.raises(SystemExit):
        _parse('tools/toy_demo.py', 'parse_args', ['--seed', '-1'])
    assert 'argument --seed: expected a seed (an integer in 0..4294967295), got -1' in capsys.readouterr().err


def test_helpers_accept_and_refuse():
    assert cli.seed_int('0') == 0 and cli.seed_int(str(2**32 - 1)) == 2**32 - 1
    assert cli.non_negative_int('0') == 0 and cli.positive_int('3') == 3
    assert cli.positive_float('0.5') == 0.5 and cli.non_negative_float('0') == 0.0
    assert cli.real_number('inf') == float('inf') and cli.finite_float('-2.5') == -2.5
    iou = cli.float_in(0, 1, low_open=True)
    assert iou('1') == 1.0 and iou('1e-3') == 1e-3
    for parse, text in [(cli.seed_int, '1.5'), (cli.positive_int, 'x'), (cli.non_negative_int, '-1'),
                        (cli.positive_float, 'inf'), (cli.positive_float, '0'), (cli.finite_float, 'nan'),
                        (cli.finite_float, '-inf'), (cli.real_number, 'nan'), (cli.non_negative_float, '-0.1'),
                        (iou, '0'), (iou, 'nan'), (iou, '1.0001'), (cli.float_in(0, 1, high_open=True), '1')]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected a number in \(0, 1\], got '0'"):
        iou('0')


def test_int_in_accepts_the_ends_and_refuses_outside():
    repeats = cli.int_in(1, 1000)
    assert repeats('1') == 1 and repeats('1000') == 1000
    for text, shown in (('0', '0'), ('1001', '1001'), ('2.5', "'2.5'"), ('x', "'x'")):
        with pytest.raises(argparse.ArgumentTypeError, match=rf'^expected an integer in \[1, 1000\], got {shown}$'):
            repeats(text)


def test_good_values_parse():
    tw = load_tool(WT)
    args = tw.parse_args(['c.py', 'k.pth', '--tta', '--tta-iou', '1', '--tta-scales', '0.5', '2', '--max-size', '9'])
    assert args.tta_iou == 1.0 and args.tta_scales == [0.5, 2.0] and args.max_size == 9
    args = load_tool('tools/toy_demo.py').parse_args(['--seed', '4294967295', '--epochs', '1', '--threads', '1'])
    assert (args.seed, args.epochs, args.threads) == (2**32 - 1, 1, 1)
