"""argparse types only the search tools (``search.py``, ``benchmark_sampling.py``) need; every other number they
take is checked by the shared types of :mod:`mmdet_face.engine.cli` (``positive_int``, ``seed_int``,
``positive_float``, ``int_in``, ...). A bad value is an argparse error naming the option (exit 2) before anything
is built or written. Light: imports neither torch nor mmengine."""
import argparse

from mmdet_face.engine.cli import float_in

__all__ = ['tolerance', 'input_size']

tolerance = float_in(0, 1, low_open=True, high_open=True, what='a relative tolerance (such as 0.02)')
"""argparse type: a relative tolerance in (0, 1)."""


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
