"""docs/custom_data.md: its configs resolve and build their datasets on a tiny COCO copy of the toy set, and its
commands (convert, train, test, export) run as written, with ``data/my_faces/``, ``work_dirs/my_faces`` and the
config path pointing at a temporary folder, the published base model replaced by the toy SCRFD and the schedule
cut to one epoch."""
import re
import shutil
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmdet_face.datasets.formats.convert import convert_faces
from mmdet_face.registry import DATASETS
from tests.helpers.paths import REPO_ROOT

DOC = REPO_ROOT / 'docs' / 'custom_data.md'
CONFIG = 'configs/my_faces/scrfd_500m_bnkps_my_faces.py'


def _blocks(language):
    return re.findall(rf'```{language}\n(.*?)```', DOC.read_text(encoding='utf-8'), re.S)


@pytest.fixture(scope='module')
def my_faces(toy_data, tmp_path_factory):
    """The toy set in the page's layout: annotations/{train,val}.json (COCO) and the images under train/, val/."""
    root = tmp_path_factory.mktemp('custom_data')
    data = root / 'my_faces'
    (data / 'annotations').mkdir(parents=True)
    for split in ('train', 'val'):
        shutil.copytree(toy_data / split / 'images', data / split)
        convert_faces(str(toy_data / split / 'labelv2.txt'), 'labelv2', str(data / 'annotations' / f'{split}.json'),
                      'coco')
    return root


def _localise(text, root):
    return (text.replace('data/my_faces/', f'{root}/my_faces/').replace('work_dirs/my_faces', f'{root}/work')
            .replace(CONFIG, str(root / 'run_config.py')))


def test_the_page_has_the_walk_through():
    commands = _blocks('bash')
    assert [c.split()[1] for c in commands] == ['tools/dataset_converters/convert_faces.py', 'tools/train.py',
                                                 'tools/test.py', 'tools/deployment/export_onnx.py']
    assert len(_blocks('python')) == 2 and '### COCO-style AP' in DOC.read_text()


@pytest.mark.parametrize('block', [0, 1])
def test_the_configs_build_their_datasets(my_faces, block):
    text = _blocks('python')[block]
    base = re.search(r"_base_ = \['\.\./(.*?)'\]", text).group(1)
    assert (REPO_ROOT / 'configs' / base).is_file()
    config = my_faces / f'doc_config_{block}.py'
    config.write_text(_localise(text, my_faces).replace(f"'../{base}'", repr(str(REPO_ROOT / 'configs' / base))))
    cfg = Config.fromfile(str(config))
    for loader, num_images in (('train_dataloader', 8), ('val_dataloader', 4)):
        dataset_cfg = cfg[loader]['dataset'].copy()
        dataset_cfg['pipeline'] = []
        dataset = DATASETS.build(dataset_cfg)
        assert type(dataset).__name__ == 'FaceDataset' and len(dataset) == num_images
    uses_landmarks = cfg.model.bbox_head.get('use_kps', False)
    assert uses_landmarks == (block == 0)
    evaluators = cfg.val_evaluator if isinstance(cfg.val_evaluator, list) else [cfg.val_evaluator]
    expected = ['WiderFaceMetric', 'FaceKeypointMetric', 'FaceCocoMetric'] if block == 0 else ['WiderFaceMetric']
    assert [e['type'] for e in evaluators] == expected
    assert all('gt_dir' not in e for e in evaluators)
    assert cfg.default_hooks.checkpoint.save_best == 'widerface/all'  # the metric the evaluators give


@pytest.mark.slow
def test_the_commands_run(my_faces):
    root = my_faces
    # the page's config with the toy SCRFD as the model, and a one-epoch schedule on top
    page_config = root / 'page_config.py'
    page_config.write_text(_localise(_blocks('python')[0], root).replace(
        "'../scrfd/scrfd_500m_bnkps_4xb16-640e_widerface.py'",
        repr(str(REPO_ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py'))))
    (root / 'run_config.py').write_text(f"""
_base_ = [{str(page_config)!r}]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False)
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1, val_interval=1)
param_scheduler = []
default_hooks = dict(checkpoint=dict(interval=1), visualization=dict(draw=False))  # save_best as the page says
""")
    outputs = []
    for command in _blocks('bash'):
        command = _localise(command.strip(), root).replace('python ', f'{sys.executable} ', 1)
        result = subprocess.run(['bash', '-c', command], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f'{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}'
        outputs.append(result.stdout + result.stderr)
    assert 'read 8 images with' in outputs[0] and (root / 'my_faces' / 'train_labelv2.txt').is_file()
    assert (root / 'work' / 'epoch_1.pth').is_file() and list((root / 'work').glob('best_widerface_all_epoch_1.pth'))
    assert re.search(r'widerface/all: \d\.\d{4}', outputs[2]) and 'landmarks/nme' in outputs[2]
    assert re.search(r'face_coco/bbox_mAP: -?\d\.\d+', outputs[2]) and 'face_coco/bbox_mAP_50' in outputs[2]
    assert (root / 'work' / 'my_faces.onnx').is_file()
