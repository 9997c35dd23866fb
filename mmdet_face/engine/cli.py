"""Command-line pieces shared by the tools (kept here so that they are tested once). Light on purpose: importing it
imports no torch or mmengine."""
import argparse
import math


class ConfigOptionsAction(argparse.Action):
    """``--cfg-options key=value ...`` parsed by mmengine's ``DictAction`` (values become numbers, tuples, lists),
    with an argparse error naming the item when it has no ``=`` (mmengine raises a bare "not enough values to
    unpack"). mmengine is imported only when the option is given."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = values if isinstance(values, (list, tuple)) else [values]
        for item in items:
            if '=' not in item or not item.split('=', 1)[0]:
                parser.error(f'{option_string} {item!r}: expected key=value (e.g. train_cfg.max_epochs=12)')
        from mmengine.config import DictAction
        DictAction(self.option_strings, self.dest, nargs=self.nargs)(parser, namespace, items, option_string)


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f'expected {what}, got {text!r}') from None


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    value = _integer(text, 'a positive integer')
    if value <= 0:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {value}')
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _integer(text, 'an integer >= 0')
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected an integer >= 0, got {value}')
    return value


def int_in(low: int, high: int):
    """argparse type factory: an integer in ``[low, high]`` (e.g. a repeat count with an upper bound); the error
    reads "expected an integer in [low, high]"."""
    what = f'an integer in [{low}, {high}]'

    def parse(text: str) -> int:
        value = _integer(text, what)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f'expected {what}, got {value}')
        return value

    parse.__name__ = f'integer in [{low}, {high}]'
    return parse


SEED_MAX = 2**32 - 1  # numpy's and the dataloader workers' seed range


def seed_int(text: str) -> int:
    """argparse type: a random seed, an integer in 0..2**32-1 (what numpy and the data-loader workers accept)."""
    value = _integer(text, f'a seed (an integer in 0..{SEED_MAX})')
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f'expected a seed (an integer in 0..{SEED_MAX}), got {value}')
    return value


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f'expected {what}, got {text!r}') from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError(f'expected {what}, got {text!r}')
    return value


def real_number(text: str) -> float:
    """argparse type: a number, not NaN (infinities allowed: a score threshold of inf keeps nothing)."""
    return _number(text, 'a number')


def finite_float(text: str) -> float:
    """argparse type: a finite number."""
    value = _number(text, 'a finite number')
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f'expected a finite number, got {text!r}')
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = _number(text, 'a finite number > 0')
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f'expected a finite number > 0, got {text!r}')
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = _number(text, 'a finite number >= 0')
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f'expected a finite number >= 0, got {text!r}')
    return value


def float_in(low: float, high: float, low_open: bool = False, high_open: bool = False, what: str = 'a number'):
    """argparse type factory: a number in the interval from ``low`` to ``high`` (each end closed unless ``*_open``),
    e.g. ``float_in(0, 1, low_open=True, what='an IoU threshold')`` for an IoU threshold in (0, 1]; the error
    reads "expected <what> in <interval>"."""
    interval = f'{"(" if low_open else "["}{low:g}, {high:g}{")" if high_open else "]"}'

    def parse(text: str) -> float:
        value = _number(text, 'a number')
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        if not (above and below):
            raise argparse.ArgumentTypeError(f'expected {what} in {interval}, got {text!r}')
        return value

    parse.__name__ = f'{what} in {interval}'
    return parse


def read_tool_config(config: str, cfg_options=None):
    """The config file a tool was given, with ``--cfg-options`` merged
    (:func:`mmdet_face.utils.config_file.merge_cfg_options`: a misspelt key, or an override that would change
    nothing that runs, is refused). A config that cannot be read (a syntax error in it or in a ``_base_`` file, a
    missing ``_base_`` file, an exception in its code: the message names the file and line), a missing file or a
    refused override ends the tool with ``error: ...`` on stderr, without a traceback, before anything is built."""
    from mmdet_face.utils.config_file import CfgOptionsError, ConfigFileError, merge_cfg_options, read_config
    try:
        return merge_cfg_options(read_config(config), cfg_options)
    except (ConfigFileError, CfgOptionsError, FileNotFoundError) as err:
        raise SystemExit(f'error: {err}') from None


def tool_config(config: str, launcher: str = 'none', cfg_options=None, work_dir=None):
    """The config a train / test tool runs: ``config`` with ``--cfg-options`` merged (:func:`read_tool_config`), the
    launcher set and the work dir chosen (``--work-dir``, else the config's, else ``work_dirs/<config name>``)."""
    import os.path as osp

    for key, option in (('launcher', '--launcher'), ('work_dir', '--work-dir')):
        if key in (cfg_options or {}) and (key == 'launcher' or work_dir):
            raise SystemExit(f'error: --cfg-options {key}: set by {option}, which the tool applies after the '
                             f'overrides; give {option} only')
    cfg = read_tool_config(config, cfg_options)
    cfg.launcher = launcher
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join('work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg


def release_converter_parser(description: str,
                             src_help: str = 'released .pth (plain state dict, `module.` prefix or state_dict '
                                             'wrapper ok)',
                             config_help: str = 'build this config and load the result strictly'
                             ) -> argparse.ArgumentParser:
    """The arguments every checkpoint converter tool takes: ``SRC DST [--config CONFIG] [--force]``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help=src_help)
    parser.add_argument('dst', help='output mmengine checkpoint')
    parser.add_argument('--config', default=None, help=config_help)
    parser.add_argument('--force', action='store_true', help='replace DST if it exists')
    return parser


def run_release_converter(convert, args: argparse.Namespace) -> dict:
    """``convert(args.src, args.dst, args.config, overwrite=args.force)`` -> the written checkpoint; its
    ``OSError`` / ``ValueError`` (whose messages name the file and what was expected) end the tool as
    ``SystemExit('error: ...')``, without a traceback."""
    try:
        return convert(args.src, args.dst, args.config, overwrite=args.force)
    except (OSError, ValueError) as err:
        raise SystemExit(f'error: {err}') from None
