"""Annotation and detection text files read line by line so that errors name the file and the line: the helpers
every reader shares, whatever it feeds (a dataset, or an evaluation protocol that imports no framework)."""
from typing import Iterator, List, Sequence, Tuple

__all__ = ['read_lines', 'content_lines', 'numbers']


def read_lines(path: str) -> List[str]:
    """The file's lines as text (UTF-8; a leading byte-order mark is dropped, line ends removed)."""
    with open(path, 'rb') as f:
        data = f.read()
    if data.startswith(b'\xef\xbb\xbf'):
        data = data[3:]
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as e:
        lineno = data.count(b'\n', 0, e.start) + 1
        column = e.start - (data.rfind(b'\n', 0, e.start) + 1) + 1
        raise ValueError(f'{path}:{lineno}: expected UTF-8 text, got the byte 0x{data[e.start]:02x} at column '
                         f'{column} ({e.reason}); re-save the file as UTF-8') from None
    return text.replace('\r\n', '\n').replace('\r', '\n').split('\n')


def content_lines(lines: Sequence[str]) -> Iterator[Tuple[int, str]]:
    """``(1-based line number, stripped line)`` of the non-blank lines of :func:`read_lines`' output."""
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if line:
            yield lineno, line


def numbers(tokens: Sequence[str], path: str, lineno: int, expected: str) -> List[float]:
    """The tokens as floats; ``ValueError`` naming ``path:lineno`` and ``expected`` when one is not a number."""
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise ValueError(f'{path}:{lineno}: expected {expected}, got non-numeric values {" ".join(tokens)!r}') \
            from None
