"""tools/analysis/benchmark_pipeline.py runs the SCRFD training pipeline end to end on a few images."""
import os.path as osp

import cv2
import numpy as np
from mmengine.config import Config

from tests.helpers.tools import load_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_tool = load_tool('tools/analysis/benchmark_pipeline.py')
benchmark_pipeline, default_images, synthetic_instances = (_tool.benchmark_pipeline, _tool.default_images,
                                                           _tool.synthetic_instances)


def test_synthetic_instances_inside_image():
    inst = synthetic_instances(np.random.default_rng(0), 200, 100, num_faces=5)
    assert len(inst) == 5
    for i in inst:
        x1, y1, x2, y2 = i['bbox']
        assert 0 <= x1 < x2 <= 200 and 0 <= y1 < y2 <= 100
        kps = np.array(i['keypoints'])
        assert kps.shape == (5, 2) and (kps >= [x1, y1]).all() and (kps <= [x2, y2]).all()


def test_benchmark_runs(tmp_path):
    for k in range(2):
        cv2.imwrite(str(tmp_path / f'{k}.jpg'), np.random.default_rng(k).integers(0, 255, (300, 400, 3), np.uint8))
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', 'widerface.py'))
    r = benchmark_pipeline(cfg.train_pipeline, default_images(str(tmp_path)), iters=3, warmup=1)
    assert r['images_per_s'] > 0 and r['out_shape'] == (3, 640, 640)


def test_command_line(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / 'a.jpg'), np.random.default_rng(0).integers(0, 255, (200, 300, 3), np.uint8))
    _tool.main(['--images', str(tmp_path), '--iters', '2'])
    assert 'images/s per worker' in capsys.readouterr().out
