"""docs/model_zoo.md stays in step with the code: its table lists exactly the released models the converters take,
every config exists and builds, every conversion command's tool exists and accepts the command's options, and every
sha256 given for a file that is present under ../shared/real equals that file's hash."""
import argparse
import hashlib
import re
import shlex

import pytest

from tests.helpers.paths import REPO_ROOT, shared_path
from tests.helpers.tools import load_tool

DOC = REPO_ROOT / 'docs' / 'model_zoo.md'
COLUMNS = ['model', 'published file', 'sha256', 'conversion', 'config', 'params (M) / GFLOPs', 'WIDER val AP',
           'parity', 'CPU latency']


def table_rows():
    """The model table as ``[{column: cell text}]`` (the first table of the page whose header starts with
    ``| model |``)."""
    lines = DOC.read_text(encoding='utf-8').splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('| model |'))
    header = [c.strip() for c in lines[start].strip('|').split('|')]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith('|'):
            break
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        assert len(cells) == len(header), line
        rows.append(dict(zip(header, cells)))
    return header, rows


def code_spans(text):
    return re.findall(r'`([^`]+)`', text)


def released_configs():
    """The configs the converters convert released weights for: every SCRFD config (the ONNX converter takes any of
    configs/scrfd but the fine-tuning recipes ``*_finetune_*``, which start from a release and are no model of
    their own), the RetinaFace releases' configs and the DSFD release config."""
    from mmdet_face.deployment.retinaface_pth_import import RELEASE_CONFIGS
    scrfd = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / 'configs' / 'scrfd').glob('*.py')
             if '_finetune_' not in p.name}
    dsfd = load_tool('tools/model_converters/dsfd_pth2mmdet.py').RELEASE_CONFIG
    return scrfd | set(RELEASE_CONFIGS.values()) | {REPO_ROOT.joinpath(dsfd).relative_to(REPO_ROOT).as_posix()}


def test_the_table_has_the_columns_and_one_row_per_released_model():
    header, rows = table_rows()
    assert header == COLUMNS
    configs = [code_spans(row['config'])[0] for row in rows]
    assert len(configs) == len(set(configs))
    assert set(configs) == released_configs()


def test_every_config_builds():
    from mmdet_face.apis.inference import init_face_detector
    for row in table_rows()[1]:
        config = REPO_ROOT / code_spans(row['config'])[0]
        assert config.is_file(), config
        assert init_face_detector(str(config)) is not None


class _Parsed(Exception):
    """Raised instead of running the tool once its arguments parsed."""


def test_every_conversion_command_parses(monkeypatch):
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        raise _Parsed(original(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', parse_then_stop)
    for row in table_rows()[1]:
        commands = [c for c in code_spans(row['conversion']) if c.startswith('python ')]
        assert commands, row['model']
        for command in commands:
            program, tool, *argv = shlex.split(command)
            assert (REPO_ROOT / tool).is_file(), command
            config = code_spans(row['config'])[0]
            if 'onnx2mmdet' in tool:  # the SCRFD converter takes the config as an argument: the row's own
                assert config in argv, command
            with pytest.raises(_Parsed) as parsed:
                load_tool(tool).main(argv)
            namespace = parsed.value.args[0]
            if getattr(namespace, 'config', None) is not None:  # the row's config, given or the tool's default
                assert REPO_ROOT.joinpath(namespace.config).resolve() == (REPO_ROOT / config).resolve(), command


def test_listed_sha256_values_match_the_files_here():
    checked = 0
    for row in table_rows()[1]:
        values = re.findall(r'\b[0-9a-f]{64}\b', row['sha256'])
        if not values:
            assert 'unverified' in row['sha256'], row['model']
            continue
        files = [c for c in code_spans(row['sha256']) if c.startswith('real/')]
        assert len(files) == len(values) == 1, row['model']
        path = shared_path(*files[0].split('/'))
        assert hashlib.sha256(path.read_bytes()).hexdigest() == values[0], files[0]
        checked += 1
    assert checked == 2  # the SCRFD-0.5GF-kps ONNX file and the RetinaFace MobileNet-0.25 weights
