"""Command-line pieces shared by the tools (kept here so that they are tested once). Light on purpose: importing it
imports no torch or mmengine."""
import argparse


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


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {text!r}') from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {value}')
    return value


def tool_config(config: str, launcher: str = 'none', cfg_options=None, work_dir=None):
    """The config a train / test tool runs: ``config`` with ``--cfg-options`` merged, the launcher set and the work
    dir chosen (``--work-dir``, else the config's, else ``work_dirs/<config name>``)."""
    import os.path as osp

    from mmdet_face.apis.inference import load_config
    cfg = load_config(config, cfg_options)
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
