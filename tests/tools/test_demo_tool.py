"""tools/demo.py: image, folder and video in, the same out with detections drawn; never overwrites."""
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
import demo as demo_tool  # noqa: E402

CONFIG = str(REPO / 'configs' / 'toy' / 'scrfd_toy_kps.py')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmdet_face.registry import MODELS
    # other tests may leave another default scope current; build in ours
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        model = MODELS.build(Config.fromfile(CONFIG).model)
    model.init_weights()
    path = tmp_path_factory.mktemp('ckpt') / 'random.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return str(path)


def _image(seed, shape=(120, 160, 3)):
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


def test_image_and_no_overwrite(tmp_path, checkpoint):
    src = tmp_path / 'a.jpg'
    cv2.imwrite(str(src), _image(0))
    out = demo_tool.main([CONFIG, checkpoint, str(src), '--score-thr', '0.0', '--show-fps'])
    assert out == str(tmp_path / 'a_faces.jpg')
    assert cv2.imread(out).shape == (120, 160, 3)
    with pytest.raises(FileExistsError, match='a_faces.jpg exists'):
        demo_tool.main([CONFIG, checkpoint, str(src)])


def test_folder_mirrors_tree(tmp_path, checkpoint):
    (tmp_path / 'in' / 'sub').mkdir(parents=True)
    cv2.imwrite(str(tmp_path / 'in' / 'x.png'), _image(1))
    cv2.imwrite(str(tmp_path / 'in' / 'sub' / 'y.jpg'), _image(2, (40, 30, 3)))
    (tmp_path / 'in' / 'notes.txt').write_text('not an image')
    out = Path(demo_tool.main([CONFIG, checkpoint, str(tmp_path / 'in'), '--out', str(tmp_path / 'out')]))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob('*') if p.is_file()) == ['sub/y.jpg', 'x.png']
    assert cv2.imread(str(out / 'sub' / 'y.jpg')).shape == (40, 30, 3)


def test_video(tmp_path, checkpoint):
    src = str(tmp_path / 'clip.mp4')
    writer = cv2.VideoWriter(src, cv2.VideoWriter_fourcc(*'mp4v'), 10, (96, 64))
    if not writer.isOpened():
        pytest.skip('this OpenCV build cannot write mp4')
    for k in range(3):
        writer.write(_image(k, (64, 96, 3)))
    writer.release()
    out = demo_tool.main([CONFIG, checkpoint, src])
    capture = cv2.VideoCapture(out)
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 3 and int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 96


def test_missing_input(tmp_path, checkpoint):
    with pytest.raises(FileNotFoundError, match='nothere.jpg'):
        demo_tool.main([CONFIG, checkpoint, str(tmp_path / 'nothere.jpg')])
