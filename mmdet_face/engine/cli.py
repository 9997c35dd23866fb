"""Command-line pieces shared by the tools (kept here so that they are tested once)."""
import argparse

from mmengine.config import DictAction


class ConfigOptionsAction(DictAction):
    """mmengine's ``DictAction`` (``key=value`` pairs, values parsed as numbers / tuples / lists), with an argparse
    error naming the item when it has no ``=`` (mmengine raises a bare "not enough values to unpack")."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values if isinstance(values, (list, tuple)) else [values]:
            key = item.split('=', 1)[0]
            if '=' not in item or not key:
                parser.error(f'{option_string} {item!r}: expected key=value (e.g. train_cfg.max_epochs=12)')
        super().__call__(parser, namespace, values, option_string)


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {text!r}') from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {value}')
    return value
