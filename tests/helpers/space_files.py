"""Space files for tests: a copy of one of ``search_tools/spaces/`` with some of its text replaced."""
from search_tools.space import SPACES_DIR


def edited_space(folder, space: str, replacements: dict, name: str = 'edited.py') -> str:
    """Write ``search_tools/spaces/<space>.py`` with each ``old: new`` of ``replacements`` made into
    ``folder/name`` and return its path. A replacement whose text is not in the file fails the test, so an edit of
    the shipped space cannot silently turn a test into one of the unchanged space."""
    text = (SPACES_DIR / f'{space}.py').read_text()
    for old, new in replacements.items():
        assert old in text, f'{space}.py has no {old!r}'
        text = text.replace(old, new)
    path = folder / name
    path.write_text(text)
    return str(path)
