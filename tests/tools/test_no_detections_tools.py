"""The tools on images without a detection: tools/test.py (plain and --tta) writes an empty result file for such an
image and scores the rest, tools/image_demo.py on a folder writes every image (the blank one without boxes)."""
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.helpers.paths import REPO_ROOT, shared_path
from tests.helpers.tools import load_tool

sys.path.insert(0, str(REPO_ROOT / 'tools'))
import image_demo as demo_tool  # noqa: E402

test_tool = load_tool('tools/test.py')
TOY_RETINAFACE = str(REPO_ROOT / 'configs' / 'toy' / 'retinaface_toy_mnet025.py')
RELEASE_CONFIG = str(REPO_ROOT / 'configs' / 'retinaface' / 'retinaface_mnet025_1xb32-250e_widerface.py')


def random_checkpoint(config, path):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmdet_face.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, path)
    return str(path)


@pytest.fixture
def toy_val(tmp_path):
    """Two toy WIDER-style val images, the first made blank (its ground-truth faces stay: misses)."""
    from mmdet_face.datasets.toy import make_toy_widerface
    root = tmp_path / 'toy'
    make_toy_widerface(str(root), num_train=1, num_val=2, size=128, seed=0, num_events=1)
    images = sorted((root / 'val' / 'images').rglob('*.jpg'))
    cv2.imwrite(str(images[0]), np.zeros_like(cv2.imread(str(images[0]))))
    return root, [p.stem for p in images]


def _result_counts(out):
    """{image name: number of detections} of a submission folder."""
    counts = {}
    for path in Path(out).rglob('*.txt'):
        lines = path.read_text().splitlines()
        assert int(lines[1]) == len(lines) - 2
        counts[lines[0]] = int(lines[1])
    return counts


def _run_test_tool(config, checkpoint, root, tmp_path, *extra, options=()):
    return test_tool.main([config, checkpoint, '--gt-dir', str(root / 'val' / 'gt'), '--out', str(tmp_path / 'sub'),
                           '--work-dir', str(tmp_path / 'work'), *extra, '--cfg-options',
                           f'test_dataloader.dataset.data_root={root}/', 'test_dataloader.num_workers=0',
                           'test_dataloader.persistent_workers=False', *options])


@pytest.mark.slow
def test_test_tool_release_on_a_batch_with_a_blank_image(toy_val, tmp_path):
    """The released RetinaFace MobileNet-0.25: the blank image gets an empty result, the toy face is found."""
    from mmdet_face.deployment.retinaface_pth_import import convert_retinaface_checkpoint
    root, names = toy_val
    ckpt = tmp_path / 'retinaface_mnet025.pth'
    convert_retinaface_checkpoint(str(shared_path('real', 'weights', 'retinaface_mobilenet025.pth')), str(ckpt),
                                  RELEASE_CONFIG)
    metrics = _run_test_tool(RELEASE_CONFIG, str(ckpt), root, tmp_path, options=['test_dataloader.batch_size=2'])
    assert set(metrics) == {'widerface/easy', 'widerface/medium', 'widerface/hard'}
    counts = _result_counts(tmp_path / 'sub')
    assert counts[names[0]] == 0 and counts[names[1]] > 0


@pytest.mark.slow
@pytest.mark.parametrize('tta', [False, True])
def test_test_tool_without_any_detection(toy_val, tmp_path, tta):
    root, names = toy_val
    ckpt = random_checkpoint(TOY_RETINAFACE, tmp_path / 'random.pth')
    metrics = _run_test_tool(TOY_RETINAFACE, ckpt, root, tmp_path, *(['--tta'] if tta else []),
                             options=['model.test_cfg.score_thr=0.9999'])
    assert [metrics[f'widerface/{s}'] for s in ('easy', 'medium', 'hard')] == [0.0, 0.0, 0.0]
    assert metrics['landmarks/matched'] == 0.0 and np.isnan(metrics['landmarks/nme'])  # no face to measure
    assert _result_counts(tmp_path / 'sub') == {names[0]: 0, names[1]: 0}


@pytest.mark.parametrize('score_thr', ['0', '0.9999'])
def test_image_demo_folder_with_a_blank_image(tmp_path, score_thr):
    ckpt = random_checkpoint(TOY_RETINAFACE, tmp_path / 'random.pth')
    (tmp_path / 'in').mkdir()
    cv2.imwrite(str(tmp_path / 'in' / 'blank.png'), np.zeros((64, 64, 3), np.uint8))
    noise = np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'in' / 'noise.png'), noise)
    out = Path(demo_tool.main([TOY_RETINAFACE, ckpt, str(tmp_path / 'in'), '--out', str(tmp_path / 'out'),
                               '--score-thr', score_thr]))
    assert sorted(p.name for p in out.iterdir()) == ['blank.png', 'noise.png']
    drawn = cv2.imread(str(out / 'noise.png'))
    if score_thr == '0':
        assert (drawn != noise).any()  # random weights at threshold 0: boxes everywhere
    else:
        np.testing.assert_array_equal(drawn, noise)  # nothing drawn
        np.testing.assert_array_equal(cv2.imread(str(out / 'blank.png')), np.zeros((64, 64, 3), np.uint8))
