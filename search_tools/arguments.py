"""argparse types of the search tools (``search.py``, ``benchmark_sampling.py``): every number a command takes is
checked when the command line is read, so a bad value is an argparse error naming the option (exit 2) before
anything is built or written. Light: imports neither torch nor mmengine."""
import argparse
import math

from mmdet_face.engine.cli import positive_int

SEED_MAX = 2 ** 32 - 1  # numpy's and Optuna's samplers take seeds in [0, 2**32)

__all__ = ['positive_int', 'non_negative_int', 'bounded_int', 'positive_float', 'tolerance', 'input_size', 'seed',
           'SEED_MAX']


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (NaN and inf refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a positive number, got {text!r}') from None
    if not 0 < value < math.inf:  # NaN fails both comparisons
        raise argparse.ArgumentTypeError(f'expected a positive number, got {value}')
    return value


def tolerance(text: str) -> float:
    """argparse type: a relative tolerance in (0, 1)."""
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f'a relative tolerance in (0, 1) such as 0.02, got {value}')
    return value


def input_size(text: str):
    """``WxH`` (e.g. ``640x480``, as SCRFD writes VGA) -> ``(H, W)``; one number is a square."""
    parts = text.lower().replace('*', 'x').split('x')
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected WIDTHxHEIGHT such as 640x480, got {text!r}') from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) <= 0:
        raise argparse.ArgumentTypeError(f'expected WIDTHxHEIGHT such as 640x480, got {text!r}')
    return values[1], values[0]


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (e.g. a trial number)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an integer >= 0, got {text!r}') from None
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected an integer >= 0, got {value}')
    return value


def bounded_int(low: int, high: int):
    """argparse type factory: an integer in ``[low, high]``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected an integer in [{low}, {high}], got {text!r}') from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f'expected an integer in [{low}, {high}], got {value}')
        return value
    parse.__name__ = f'integer in [{low}, {high}]'
    return parse


def seed(text: str) -> int:
    """argparse type: a random seed, an integer in [0, 2**32 - 1]."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an integer seed in [0, {SEED_MAX}], got {text!r}') from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f'expected an integer seed in [0, {SEED_MAX}], got {value}')
    return value
