"""Test-tool options that would do nothing in the combination given are refused, naming the option."""
import pytest

from tests.helpers.tools import load_tool

tool = load_tool('tools/test.py')


@pytest.mark.parametrize('argv, message', [
    (['c.py', 'k.pth', '--size', '800'], '--size sets the test size of --mode vga'),
    (['c.py', 'k.pth', '--mode', 'origin', '--size', '800'], '--mode origin it would do nothing'),
    (['c.py', 'k.pth', '--tta-scales', '0.5', '1'], '--tta-scales applies to --tta'),
    (['c.py', 'k.pth', '--tta-merge', 'vote'], '--tta-merge applies to --tta'),
    (['c.py', 'k.pth', '--tta-iou', '0.5'], '--tta-iou applies to --tta'),
    (['c.py', 'k.pth', '--tta', '--mode', 'vga'], '--mode vga sets a single test scale, which --tta replaces'),
    (['c.py', 'k.pth', '--mode', 'origin', '--max-size-mode', 'side'], '--max-size-mode applies to --max-size'),
    (['c.py', 'k.pth', '--overwrite'], '--overwrite applies to --out'),
    (['c.py', 'k.pth', '--json', 'ap.json'], '--json applies to --pred-dir'),
    (['--pred-dir', 'p', '--gt-dir', 'g', '--tta'], '--tta: not used with --pred-dir'),
    (['--pred-dir', 'p', '--gt-dir', 'g', '--cfg-options', 'a=1'], '--cfg-options: not used with --pred-dir'),
    (['c.py', 'k.pth', '--pred-dir', 'p', '--gt-dir', 'g'], 'not both'),
])
def test_ignored_option_is_refused(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        tool.parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_defaults_filled_after_the_checks():
    args = tool.parse_args(['c.py', 'k.pth', '--tta'])
    assert args.tta_scales == [1.0] and args.tta_merge == 'nms' and args.tta_iou is None
    assert args.max_size_mode == 'area'
    args = tool.parse_args(['c.py', 'k.pth', '--mode', 'origin', '--max-size', '9', '--max-size-mode', 'side'])
    assert args.max_size_mode == 'side'
    args = tool.parse_args(['--pred-dir', 'p', '--gt-dir', 'g', '--json', 'a.json'])
    assert args.json == 'a.json'
