"""tools/image_demo.py: image, folder and video in, the same out with detections drawn; never overwrites."""
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
import image_demo as demo_tool  # noqa: E402

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


# ---------------------------------------------------------------- bad values fail early, with a clear message
MISSING_CKPT = '/nonexistent/weights.pth'  # the checks below must fire before the model is built


@pytest.mark.parametrize('out', ['result', 'result.txt', 'result.jpgx'])
def test_image_out_needs_an_image_extension(tmp_path, out):
    """Before: inference ran, then cv2.imwrite failed ('could not find a writer')."""
    src = tmp_path / 'a.jpg'
    cv2.imwrite(str(src), _image(0))
    with pytest.raises(ValueError, match=rf'--out {tmp_path / out}: expected an image file name OpenCV can write'):
        demo_tool.main([CONFIG, MISSING_CKPT, str(src), '--out', str(tmp_path / out)])


def test_default_out_of_an_image_without_extension(tmp_path):
    src = tmp_path / 'photo'
    src.write_bytes(cv2.imencode('.png', _image(0))[1].tobytes())
    with pytest.raises(ValueError, match=r'output \(the default from INPUT; give --out\) .*photo_faces: expected an '
                                         r'image file name .*got no extension'):
        demo_tool.main([CONFIG, MISSING_CKPT, str(src)])


@pytest.mark.parametrize('out', ['clip_out', 'clip_out.webm', 'clip_out.jpg'])
def test_video_out_needs_a_video_extension(tmp_path, out):
    src = tmp_path / 'clip.mp4'
    src.write_bytes(b'not checked yet')
    with pytest.raises(ValueError, match=r'--out .*: expected a video file name ending in .mp4, .avi, .mov, .mkv'):
        demo_tool.main([CONFIG, MISSING_CKPT, str(src), '--out', str(tmp_path / out)])


def test_unreadable_video_fails_before_the_model(tmp_path):
    src = tmp_path / 'clip.mp4'
    src.write_bytes(b'not a video')
    with pytest.raises(ValueError, match=f'{src}: cannot be opened as a video'):
        demo_tool.main([CONFIG, MISSING_CKPT, str(src)])


@pytest.mark.parametrize('option, value, message', [
    ('--max-size', '0', 'expected a positive integer'),
    ('--max-size', '-640', 'expected a positive integer'),
    ('--max-size', '640.5', 'expected a positive integer'),
    ('--nms-thr', '1.5', r'expected an IoU threshold in \[0, 1\]'),
    ('--nms-thr', 'nan', 'expected a number'),
    ('--score-thr', 'nan', 'expected a number'),
    ('--score-thr', 'high', 'expected a number'),
])
def test_bad_option_values(tmp_path, capsys, option, value, message):
    """Before: --max-size 0 reached OpenCV's resize and failed with an assertion after the model was built."""
    with pytest.raises(SystemExit) as info:
        demo_tool.parse_args([CONFIG, MISSING_CKPT, str(tmp_path), option, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f'argument {option}: ' in err and re.search(message, err)


def test_truncated_image_fails_before_the_model(tmp_path):
    data = cv2.imencode('.jpg', _image(3))[1].tobytes()
    src = tmp_path / 'cut.jpg'
    src.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=f'{src}: truncated or damaged JPEG'):
        demo_tool.main([CONFIG, MISSING_CKPT, str(src)])
    assert not (tmp_path / 'cut_faces.jpg').exists()


def test_folder_checks(tmp_path):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty' / 'notes.txt').write_text('no images here')
    with pytest.raises(ValueError, match='empty: no images'):
        demo_tool.main([CONFIG, MISSING_CKPT, str(tmp_path / 'empty')])
    (tmp_path / 'in').mkdir()
    cv2.imwrite(str(tmp_path / 'in' / 'x.png'), _image(1))
    (tmp_path / 'file_out').write_text('mine')
    with pytest.raises(NotADirectoryError, match='file_out: exists and is not a folder'):
        demo_tool.main([CONFIG, MISSING_CKPT, str(tmp_path / 'in'), '--out', str(tmp_path / 'file_out')])
    assert (tmp_path / 'file_out').read_text() == 'mine'


def test_checkpoint_strict_and_partial_load(tmp_path, checkpoint):
    """The demo refuses a checkpoint that does not fit the config; --partial-load loads what fits, on purpose."""
    from mmdet_face.apis import CheckpointMismatchError
    state = torch.load(checkpoint, map_location='cpu')['state_dict']
    no_head = tmp_path / 'no_head.pth'
    torch.save({'state_dict': {k: v for k, v in state.items() if not k.startswith('bbox_head.')}}, no_head)
    src = tmp_path / 'a.png'
    cv2.imwrite(str(src), _image(0))
    with pytest.raises(CheckpointMismatchError, match=r'no_head.pth does not fit .*missing from the checkpoint'):
        demo_tool.main([CONFIG, str(no_head), str(src)])
    assert not (tmp_path / 'a_faces.png').exists()
    out = demo_tool.main([CONFIG, str(no_head), str(src), '--partial-load', '--score-thr', '0'])
    assert cv2.imread(out).shape == (120, 160, 3)
    retinaface = str(REPO / 'configs' / 'toy' / 'retinaface_toy_mnet025.py')
    with pytest.raises(CheckpointMismatchError, match='random.pth does not fit the model of .*retinaface_toy'):
        demo_tool.main([retinaface, checkpoint, str(src), '--out', str(tmp_path / 'b.png')])


# ---------------------------------------------------------------- allocator opt-in and the face visualizer
@pytest.mark.parametrize('flag', [False, True])
def test_tune_allocator_flag_and_face_visualizer(tmp_path, checkpoint, monkeypatch, flag):
    """--tune-allocator is the only way the demo changes glibc's allocator; frames are drawn by
    FaceLocalVisualizer (boxes, scores, landmarks)."""
    from mmdet_face.apis import cpu_runtime
    from mmdet_face.visualization import FaceLocalVisualizer
    tuned, drawn = [], []
    monkeypatch.setattr(cpu_runtime, 'tune_cpu_allocator', lambda *a, **k: tuned.append(1) or True)
    draw = FaceLocalVisualizer.draw_detections
    monkeypatch.setattr(FaceLocalVisualizer, 'draw_detections',
                        lambda self, image, faces, **kw: drawn.append(len(faces)) or draw(self, image, faces, **kw))
    src = tmp_path / 'a.png'
    image = _image(3)
    cv2.imwrite(str(src), image)
    out = demo_tool.main([CONFIG, checkpoint, str(src), '--score-thr', '0.0', '--max-size', '96']
                         + (['--tune-allocator'] if flag else []))
    assert tuned == ([1] if flag else [])
    assert len(drawn) == 1 and drawn[0] > 0
    assert (cv2.imread(out) != image).any()


# ---------------------------------------------------------------- the input is never written over
def test_out_equal_to_the_input_folder_is_refused_whatever_the_flags(tmp_path, checkpoint):
    """--out INPUT --overwrite (what the 'exists' message suggests) used to replace the photos with annotated
    copies; it is refused before the model is built, however the same folder is spelled."""
    photos = tmp_path / 'photos'
    (photos / 'trip').mkdir(parents=True)
    cv2.imwrite(str(photos / 'a.png'), _image(1))
    cv2.imwrite(str(photos / 'trip' / 'b.png'), _image(2))
    before = {p: p.read_bytes() for p in photos.rglob('*.png')}
    (tmp_path / 'link').symlink_to(photos)
    for out in (photos, tmp_path / 'photos' / '.', tmp_path / 'link'):
        with pytest.raises(ValueError, match=rf'^--out {re.escape(str(out))}: the output is also an input of this '
                           'run .* refused even when replacing outputs is allowed'):
            demo_tool.main([CONFIG, checkpoint, str(photos), '--out', str(out), '--overwrite'])
    assert {p: p.read_bytes() for p in photos.rglob('*.png')} == before


def test_out_inside_the_input_folder_never_replaces_an_input(tmp_path):
    photos = tmp_path / 'photos'
    (photos / 'faces').mkdir(parents=True)
    cv2.imwrite(str(photos / 'a.png'), _image(1))
    cv2.imwrite(str(photos / 'faces' / 'a.png'), _image(2))  # an image under --out is an input too
    before = (photos / 'faces' / 'a.png').read_bytes()
    with pytest.raises(ValueError, match=rf'--out {re.escape(str(photos / "faces"))}: writing '
                       rf'{re.escape(str(photos / "faces" / "a.png"))} would replace the input image'):
        demo_tool.main([CONFIG, MISSING_CKPT, str(photos), '--out', str(photos / 'faces'), '--overwrite'])
    assert (photos / 'faces' / 'a.png').read_bytes() == before
    # a new folder inside INPUT replaces nothing: the checks pass and the (missing) checkpoint is reached
    with pytest.raises(FileNotFoundError, match='weights.pth'):
        demo_tool.main([CONFIG, MISSING_CKPT, str(photos), '--out', str(photos / 'new')])


@pytest.mark.parametrize('name', ['a.jpg', 'clip.mp4'])
def test_out_equal_to_the_input_file_is_refused_whatever_the_flags(tmp_path, name):
    src = tmp_path / name
    if name.endswith('.jpg'):
        cv2.imwrite(str(src), _image(0))
    else:
        src.write_bytes(b'not decoded: the check comes first')
    before = src.read_bytes()
    (tmp_path / ('link' + src.suffix)).symlink_to(src)
    for out in (src, tmp_path / ('link' + src.suffix)):
        with pytest.raises(ValueError, match='the output is also an input of this run'):
            demo_tool.main([CONFIG, MISSING_CKPT, str(src), '--out', str(out), '--overwrite'])
    assert src.read_bytes() == before
