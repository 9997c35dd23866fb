"""The package is built in floors: a module imports only from its own subpackage and the floors below it, so that
data flows one way and any floor can be used (and tested) without the ones above it. The floors, lowest first:

0. ``version``, ``keypoints``, ``registry``: conventions and the registries;
1. ``compat``, ``utils``: the stack's shims and small helpers (config files, output files);
2. ``evaluation``: the protocols (pure numpy) and the metrics around them;
3. ``datasets``, ``models``, ``visualization``: data in, networks, drawing;
4. ``apis``: building a detector from a config and running it;
5. ``deployment``: import and export of released and trained models;
6. ``engine``: the pieces the command-line tools share (launch, work dirs, test-time config surgery);
7. ``all_modules`` and the package ``__init__``: register everything;
8. ``register``: the deprecated name of ``all_modules`` that dumped configs still import.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'mmdet_face'
FLOORS = [{'version', 'keypoints', 'registry'}, {'compat', 'utils'}, {'evaluation'},
          {'datasets', 'models', 'visualization'}, {'apis'}, {'deployment'}, {'engine'},
          {'all_modules', '__init__'}, {'register'}]
FLOOR = {name: level for level, names in enumerate(FLOORS) for name in names}


def _room(path: Path) -> str:
    """The first-level name a module belongs to: its subpackage, or its own name for a top-level module."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def _imported_rooms(path: Path, source=None):
    """(line, room) of every import of ``mmdet_face.<room>`` in ``path`` (or in ``source`` as if it were that
    file), relative imports resolved."""
    package = list(path.relative_to(PACKAGE.parent).with_suffix('').parts)
    if path.name != '__init__.py':
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = '.'.join(base + ([node.module] if node.module else []))
            top = not node.module or module == 'mmdet_face'  # ``from . import x``, ``from mmdet_face import x``
            modules = [f'{module}.{alias.name}' for alias in node.names] if top else [module]
        else:
            continue
        for module in modules:
            parts = module.split('.')
            if parts[0] == 'mmdet_face' and len(parts) > 1:
                yield node.lineno, parts[1]


def test_every_room_has_a_floor():
    rooms = {_room(p) for p in PACKAGE.rglob('*.py')}
    assert rooms - set(FLOOR) == set(), 'a new subpackage needs its floor in FLOORS (and in the docstring)'


def test_no_module_imports_from_a_floor_above_its_own():
    upward = []
    for path in sorted(PACKAGE.rglob('*.py')):
        room = _room(path)
        for line, target in _imported_rooms(path):
            if target != room and FLOOR.get(target, -1) >= FLOOR[room]:
                upward.append(f'{path.relative_to(PACKAGE.parent)}:{line} ({room}, floor {FLOOR[room]}) imports '
                              f'{target} (floor {FLOOR.get(target)})')
    assert upward == []


def test_the_reader_resolves_relative_and_absolute_imports():
    source = ('from ...apis import x\nimport mmdet_face.engine.cli\nfrom . import nms\nfrom mmdet_face import utils\n'
              'from ...registry import MODELS\nimport numpy\n')
    found = list(_imported_rooms(PACKAGE / 'models' / 'utils' / 'probe.py', source))
    assert found == [(1, 'apis'), (2, 'engine'), (3, 'models'), (4, 'utils'), (5, 'registry')]
    assert list(_imported_rooms(PACKAGE / 'datasets' / '__init__.py', 'from .formats import x\n')) == [
        (1, 'datasets')]
