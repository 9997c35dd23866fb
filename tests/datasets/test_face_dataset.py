"""FaceDataset: the users' formats give the same training and test samples as the labelv2 copy of the same
annotations, fit boxes to the images with a logged count, and refuse options that do not apply."""
import json

import pytest
from mmcv.transforms import LoadImageFromFile

import mmdet_face.datasets.widerface as widerface
from mmdet_face.datasets import FaceDataset, WiderFaceDataset
from mmdet_face.datasets.formats.convert import convert_faces
from mmdet_face.datasets.transforms import LoadFaceAnnotations
from tests.helpers.face_records import write_image


def _by_id(dataset):
    """The samples by image id, without their index (VOC and YOLO-face list the images sorted by path)."""
    infos = (dataset.get_data_info(i) for i in range(len(dataset)))
    return {info['img_id']: {k: v for k, v in info.items() if k != 'sample_idx'} for info in infos}


@pytest.mark.parametrize('fmt,ann,options', [
    ('coco', 'ann.json', {}), ('yolo', 'labels', dict(ignore_class=1)), ('voc', 'Annotations', {}),
    ('labelv2', 'copy.txt', {})])
def test_same_samples_as_labelv2(toy_data, tmp_path, fmt, ann, options):
    images = str(toy_data / 'train' / 'images')
    convert_faces(str(toy_data / 'train' / 'labelv2.txt'), 'labelv2', str(tmp_path / ann), fmt, images_dir=images,
                  ignore_class=options.get('ignore_class'))
    reference = WiderFaceDataset(ann_file=str(toy_data / 'train' / 'labelv2.txt'), data_prefix=dict(img=images),
                                 pipeline=[])
    dataset = FaceDataset(ann_file=str(tmp_path / ann), ann_format=fmt, data_prefix=dict(img=images), pipeline=[],
                          format_options=options)
    assert _by_id(dataset) == _by_id(reference)


def test_boxes_fitted_to_the_image_with_a_count(tmp_path, monkeypatch):
    logged = []
    monkeypatch.setattr(widerface, 'print_log', lambda msg, **kw: logged.append(msg))
    write_image(tmp_path / 'images' / 'a.jpg', 100, 80)
    coco = dict(images=[dict(id=1, file_name='a.jpg', width=100, height=80)],
                annotations=[dict(id=1, image_id=1, category_id=1, bbox=[-5, 10, 35, 80]),
                             dict(id=2, image_id=1, category_id=1, bbox=[120, 10, 10, 10]),
                             dict(id=3, image_id=1, category_id=1, bbox=[40, 40, 0, 20])],
                categories=[dict(id=1, name='face')])
    (tmp_path / 'ann.json').write_text(json.dumps(coco))
    dataset = FaceDataset(ann_file='ann.json', ann_format='coco', data_root=str(tmp_path), pipeline=[])
    assert [i['bbox'] for i in dataset.get_data_info(0)['instances']] == [[0, 10, 30, 80]]
    assert logged == [f'{tmp_path / "ann.json"}: 1 boxes clipped to the image, 2 dropped (zero size or outside the '
                      'image)']


def test_a_wrong_image_size_is_an_error_when_the_image_loads(tmp_path):
    write_image(tmp_path / 'images' / 'a.jpg', 100, 80)
    coco = dict(images=[dict(id=1, file_name='a.jpg', width=80, height=100)], annotations=[],
                categories=[dict(id=1, name='face')])
    (tmp_path / 'ann.json').write_text(json.dumps(coco))
    dataset = FaceDataset(ann_file='ann.json', ann_format='coco', data_root=str(tmp_path), test_mode=True,
                          pipeline=[LoadImageFromFile(), LoadFaceAnnotations()])
    with pytest.raises(ValueError, match='image size 80x100 .* but the decoded image is 100x80'):
        dataset[0]


def test_a_missing_image_names_the_record(tmp_path):
    coco = dict(images=[dict(id=4, file_name='gone.jpg', width=80, height=100)], annotations=[],
                categories=[dict(id=1, name='face')])
    (tmp_path / 'ann.json').write_text(json.dumps(coco))
    with pytest.raises(FileNotFoundError, match=r'ann\.json:images\[0\] \(id 4\): expected the image file '
                                                r'.*images/gone\.jpg to exist'):
        FaceDataset(ann_file='ann.json', ann_format='coco', data_root=str(tmp_path), pipeline=[])


def test_format_and_options_are_checked(tmp_path):
    with pytest.raises(ValueError, match=r"ann_format must be None or one of \('labelv2', 'retinaface_gt', "
                                         r"'wider_gt', 'wider_filelist', 'afw_pascal_mat', 'coco', 'voc', 'yolo', "
                                         r"'labelme'\), got 'json'"):
        FaceDataset(ann_file='a.json', ann_format='json', data_root=str(tmp_path), pipeline=[])
    (tmp_path / 'ann.json').write_text('{}')
    with pytest.raises(ValueError, match=r"ann\.json: only the WIDER FACE text formats are detected from the "
                                         r"content; name the format of this JSON file with ann_format \(one of "
                                         r"\('coco', 'voc', 'yolo', 'labelme'\)\)"):
        FaceDataset(ann_file='ann.json', data_root=str(tmp_path), pipeline=[])
    with pytest.raises(ValueError, match=r"format options \['ignore_class'\] do not apply to the coco format \(it "
                                         r"takes \['category'\]\)"):
        FaceDataset(ann_file='ann.json', ann_format='coco', data_root=str(tmp_path), pipeline=[],
                    format_options=dict(ignore_class=1))
    with pytest.raises(ValueError, match=r"ann_format must be None or one of \('labelv2', 'retinaface_gt', "
                                         r"'wider_gt', 'wider_filelist', 'afw_pascal_mat'\), got 'coco'"):
        WiderFaceDataset(ann_file='ann.json', ann_format='coco', data_root=str(tmp_path), pipeline=[])


def test_labelme_folder_with_its_images(tmp_path):
    write_image(tmp_path / 'labelme' / 'a.jpg', 100, 80)
    shapes = [dict(label='face', shape_type='rectangle', points=[[10, 20], [50, 70]]),
              dict(label='nose', shape_type='point', points=[[30, 45]])]
    (tmp_path / 'labelme' / 'a.json').write_text(json.dumps(dict(shapes=shapes, imagePath='a.jpg', imageWidth=100,
                                                                 imageHeight=80)))
    dataset = FaceDataset(ann_file='labelme/', ann_format='labelme', data_root=str(tmp_path),
                          data_prefix=dict(img='labelme/'), pipeline=[])
    info = dataset.get_data_info(0)
    assert info['img_path'] == str(tmp_path / 'labelme' / 'a.jpg') and (info['width'], info['height']) == (100, 80)
    assert info['instances'] == [dict(bbox=[10, 20, 50, 70], bbox_label=0, ignore_flag=0,
                                      keypoints=[[0, 0], [0, 0], [30, 45], [0, 0], [0, 0]],
                                      keypoints_weights=[0, 0, 1, 0, 0])]


def _train_and_test(config_text, work_dir):
    """Train the config, then test it; returns (weights, losses, metrics)."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    config = work_dir.parent / f'{work_dir.name}.py'
    config.write_text(config_text)
    cfg = Config.fromfile(str(config))
    cfg.work_dir = str(work_dir)
    runner = Runner.from_cfg(cfg)
    runner.train()
    weights = {k: v.clone() for k, v in runner.model.state_dict().items()}
    losses = list(runner.message_hub.get_scalar('train/loss').data[0])
    return weights, losses, runner.test()


@pytest.mark.slow
def test_the_toy_scrfd_trained_from_coco_equals_the_one_from_labelv2(toy_data, tmp_path):
    """The same toy SCRFD (configs/toy/scrfd_toy_kps.py), seed and thread count, trained and tested once from the
    labelv2 files and once from their COCO copies: the same losses, weights and AP (widerface/all: the ground truth
    comes from the data samples, so the val COCO copy is read too) and landmark NME."""
    import torch

    from tests.helpers.paths import REPO_ROOT
    for split in ('train', 'val'):
        convert_faces(str(toy_data / split / 'labelv2.txt'), 'labelv2', str(tmp_path / f'{split}.json'), 'coco')
    base = f"""
_base_ = [{str(REPO_ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py')!r}]
data_root = {str(toy_data) + '/'!r}
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadFaceAnnotations'),
                  dict(type='RandomSquareCrop', crop_choice=[0.8, 1.0, 1.2]),
                  dict(type='FaceResize', scale=(160, 160), keep_ratio=False), dict(type='FaceRandomFlip', prob=0.5),
                  dict(type='PackFaceInputs')]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='FaceResize', scale=(160, 160), keep_ratio=True),
                 dict(type='LoadFaceAnnotations'), dict(type='PackFaceInputs')]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline, **TRAIN))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline, **VAL))
test_dataloader = val_dataloader
val_evaluator = [dict(type='WiderFaceMetric'), dict(type='FaceKeypointMetric')]
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=30, val_interval=100)
param_scheduler = []
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=100, save_best=None),
                     visualization=dict(draw=False))
randomness = dict(seed=11)
model = dict(test_cfg=dict(score_thr=0.0))  # an 8-image, 60-iteration model scores low; rank every candidate
"""
    coco = base.replace('**TRAIN', f"type='FaceDataset', ann_format='coco', ann_file={str(tmp_path / 'train.json')!r}")
    coco = coco.replace('**VAL', f"type='FaceDataset', ann_format='coco', ann_file={str(tmp_path / 'val.json')!r}")
    base = base.replace(', **TRAIN', '').replace(', **VAL', '')
    threads = torch.get_num_threads()
    from_labelv2 = _train_and_test(base, tmp_path / 'labelv2')
    from_coco = _train_and_test(coco, tmp_path / 'coco')
    assert torch.get_num_threads() == threads
    assert len(from_labelv2[1]) == 60 and from_coco[1] == from_labelv2[1]
    assert all(torch.equal(from_coco[0][k], v) for k, v in from_labelv2[0].items())
    assert set(from_coco[2]) >= {'widerface/all'} and from_coco[2] == from_labelv2[2]
    assert from_coco[2]['widerface/all'] > 0, from_coco[2]


def test_an_empty_folder_is_a_set_without_images(tmp_path):
    (tmp_path / 'Annotations').mkdir()
    with pytest.raises(ValueError, match=r'Annotations: no images in .*Annotations \(expected voc annotations of at '
                                         'least one image\\)'):
        FaceDataset(ann_file='Annotations', ann_format='voc', data_root=str(tmp_path), pipeline=[])
