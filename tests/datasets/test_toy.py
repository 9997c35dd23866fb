"""The toy WIDER FACE generator: real layout, annotations consistent with the .mat ground truth, pipeline runs."""
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet_face.datasets import WiderFaceDataset, parse_labelv2
from mmdet_face.datasets.toy import DIFFICULTY_MIN_WIDTH, make_image, make_toy_widerface
from mmdet_face.registry import DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    stats = make_toy_widerface(str(root), num_train=12, num_val=8, size=160, seed=1, num_events=3)
    assert stats['train_images'] == 12 and stats['val_images'] == 8
    return root


def test_layout(toy_root):
    for split, num in (('train', 12), ('val', 8)):
        images = parse_labelv2(str(toy_root / split / 'labelv2.txt'))
        assert len(images) == num
        for image in images:
            event, name = image['name'].split('/')
            assert event in ('0--Toy', '1--Toy', '2--Toy') and name.endswith('.jpg')
            assert (toy_root / split / 'images' / event / name).is_file()
    for name in ('wider_face_val.mat', 'wider_easy_val.mat', 'wider_medium_val.mat', 'wider_hard_val.mat'):
        assert (toy_root / 'val' / 'gt' / name).is_file()


def test_mats_match_labels(toy_root):
    from mmdet_face.evaluation.functional.widerface_gt_mat import load_ground_truth
    gt = load_ground_truth(str(toy_root / 'val' / 'gt'))
    ds = WiderFaceDataset(ann_file='val/labelv2.txt', data_root=str(toy_root), data_prefix=dict(img='val/images/'),
                           test_mode=True, pipeline=[])
    assert sum(len(v) for v in gt['boxes'].values()) == len(ds) == 8
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        event, stem = info['img_id'].split('/')
        boxes = np.array([inst['bbox'] for inst in info['instances']]).reshape(-1, 4)
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)
        np.testing.assert_array_equal(gt['boxes'][event][stem], xywh)
        ignore = np.array([inst['ignore_flag'] for inst in info['instances']], dtype=bool)
        easy, medium, hard = (set(gt['settings'][s][event][stem].tolist()) for s in ('easy', 'medium', 'hard'))
        assert easy <= medium <= hard  # nested
        assert hard == set(np.flatnonzero(~ignore).tolist())  # ignore (tiny) faces count nowhere
        assert easy == set(np.flatnonzero(~ignore & (xywh[:, 2] >= DIFFICULTY_MIN_WIDTH['easy'])).tolist())


def test_faces_and_landmarks_are_drawn():
    rng = np.random.default_rng(0)
    img, faces = make_image(rng, 320)
    assert img.dtype == np.uint8 and 256 <= img.shape[0] <= 320 and 256 <= img.shape[1] <= 320
    assert len(faces) >= 1
    for f in faces:
        x1, y1, x2, y2 = f['box']
        assert 0 <= x1 < x2 <= img.shape[1] and 0 <= y1 < y2 <= img.shape[0]
        if f['keypoints'] is not None:
            kps = f['keypoints']
            # landmarks inside the box, eyes above mouth, image-left before image-right
            assert ((kps >= [x1, y1]) & (kps <= [x2, y2])).all()
            assert kps[0, 0] < kps[1, 0] and kps[3, 0] < kps[4, 0] and kps[:2, 1].max() < kps[3:, 1].min()
            if x2 - x1 >= 24:  # pupils are drawn in colours 0..49 at the eye landmarks
                for k in (0, 1):
                    assert img[int(round(kps[k, 1])), int(round(kps[k, 0]))].max() < 60


def test_widerface_config_pipelines_run(toy_root):
    init_default_scope('mmdet_face')
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', 'widerface.py'))
    assert cfg.dataset_type == 'WiderFaceDataset' and cfg.train_dataloader.batch_size == 8
    assert cfg.val_evaluator == dict(type='WiderFaceMetric', gt_dir='data/widerface/val/gt/')
    train = cfg.train_dataloader.dataset
    train.data_root = str(toy_root) + '/'
    ds = DATASETS.build(train)
    np.random.seed(0)
    for i in range(3):
        out = ds[i]
        assert out['inputs'].shape == (3, 640, 640)
        gt = out['data_samples'].gt_instances
        assert gt.keypoints.shape[1:] == (5, 2) and len(gt.keypoints) == len(gt.bboxes)
    val = cfg.val_dataloader.dataset
    val.data_root = str(toy_root) + '/'
    out = DATASETS.build(val)[0]
    assert max(out['inputs'].shape[1:]) == 640
    assert out['data_samples'].metainfo['ori_shape'] == tuple(out['data_samples'].metainfo['ori_shape'])


def test_toy_set_never_writes_over_other_data(tmp_path, capsys):
    """--out naming a real dataset used to replace its labelv2.txt files and ground-truth .mat files silently."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('make_toy_widerface', osp.join(REPO, 'tools', 'make_toy_widerface.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    main = tool.main
    from mmdet_face.evaluation.functional.widerface_gt_mat import write_gt_mats
    real = tmp_path / 'widerface'
    (real / 'val' / 'images' / '0--Parade').mkdir(parents=True)
    (real / 'val' / 'labelv2.txt').write_text('# 0--Parade/0_Parade_1.jpg 64 64\n1 2 30 30\n')
    write_gt_mats(str(real / 'val' / 'gt'), {'0--Parade': {'0_Parade_1': np.array([[1, 2, 29, 28]])}},
                  {s: {'0--Parade': {'0_Parade_1': [0]}} for s in DIFFICULTY_MIN_WIDTH})
    notes = tmp_path / 'notes'
    notes.mkdir()
    (notes / 'todo.txt').write_text('mine')
    before = {p: p.read_bytes() for p in tmp_path.rglob('*') if p.is_file()}
    for out, what in ((real, f'holds {real / "val" / "gt" / "wider_face_val.mat"}, which is no part of a toy'),
                      (notes, f'holds {notes / "todo.txt"}, which is no part of a toy'),
                      (notes / 'todo.txt', 'is a file')):
        with pytest.raises(SystemExit) as info:
            main(['--out', str(out), '--num-train', '1', '--num-val', '1', '--size', '64'])
        assert info.value.code == 1
        assert f'make_toy_widerface: error: {out}: {what}' in capsys.readouterr().err
    # without the .mat files, the image folders and then the labels still tell
    shutil.rmtree(real / 'val' / 'gt')
    for gone, what in ((real / 'val' / 'gt', real / 'val' / 'images' / '0--Parade'),
                       (real / 'val' / 'images', real / 'val' / 'labelv2.txt')):
        shutil.rmtree(gone, ignore_errors=True)
        with pytest.raises(FileExistsError, match=f'holds {what}, which is no part of a toy'):
            make_toy_widerface(str(real), num_train=1, num_val=1, size=64)
    before = {p: b for p, b in before.items() if p.exists()}
    assert {p: p.read_bytes() for p in tmp_path.rglob('*') if p.is_file()} == before
    # a new folder, an empty one and an earlier (even partial) toy set are written
    toy = tmp_path / 'toy'
    make_toy_widerface(str(toy), num_train=2, num_val=1, size=64, num_events=2)
    shutil.rmtree(toy / 'val' / 'gt')  # cut short
    assert make_toy_widerface(str(toy), num_train=1, num_val=1, size=64, seed=3)['train_images'] == 1
    assert len(parse_labelv2(str(toy / 'train' / 'labelv2.txt'))) == 1 and (toy / 'val' / 'gt').is_dir()
