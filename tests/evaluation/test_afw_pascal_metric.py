"""AFW / PASCAL Face in the framework: the dataset reading the re-annotation file, AFWPascalMetric, the dataset
configs, and ``tools/test.py CONFIG CKPT --dataset-config configs/_base_/datasets/afw.py`` on a tiny generated AFW
folder."""
import numpy as np
import pytest
from mmengine.config import Config

from mmdet_face.evaluation.functional.afw_pascal_files import (ground_truth_by_key, load_face_eval_annotations,
                                                              read_detections)
from mmdet_face.evaluation.functional.face_pr import evaluate_face_pr
from mmdet_face.utils.output_file import OutputExistsError
from tests.helpers.paths import REPO_ROOT as ROOT
from tests.helpers.toy_data import make_toy_afw
from tests.helpers.tools import load_tool, run_tool


@pytest.fixture
def toy_afw(tmp_path):
    root = tmp_path / 'afw'
    return root, make_toy_afw(root)


def test_dataset_reads_the_annotation_file(toy_afw):
    import mmdet_face  # noqa: F401
    from mmdet_face.datasets import AFWPascalFaceDataset
    from mmdet_face.datasets.formats import detect_format
    root, images = toy_afw
    assert detect_format(str(root / 'new_annotations_AFW.mat')) == 'afw_pascal_mat'
    ds = AFWPascalFaceDataset(data_root=str(root), ann_file='new_annotations_AFW.mat',
                              data_prefix=dict(img='testimages/'), test_mode=True, pipeline=[])
    assert len(ds) == len(images)
    for info, image in zip(ds.data_list, images):
        assert info['img_path'] == str(root / 'testimages' / image['name'])
        assert (info['width'], info['height']) == image['size'] and info['img_id'] == image['name'][:-4]
        np.testing.assert_array_equal([inst['bbox'] for inst in info['instances']], image['faces'])
        assert [inst['ignore_flag'] for inst in info['instances']] == image['ignored'].astype(int).tolist()
        assert all(inst['keypoints_weights'] == [0.0] * 5 for inst in info['instances'])
    (root / 'testimages' / images[1]['name']).unlink()
    with pytest.raises(FileNotFoundError, match=r'new_annotations_AFW.mat:2: expected the image file'):
        AFWPascalFaceDataset(data_root=str(root), ann_file='new_annotations_AFW.mat',
                             data_prefix=dict(img='testimages/'), test_mode=True, pipeline=[])


def _sample(name, boxes, scores):
    import torch
    return dict(img_path=f'/x/testimages/{name}',
                pred_instances=dict(bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                                    scores=torch.tensor(scores, dtype=torch.float32)))


def test_metric_scores_as_the_function_and_writes_the_toolbox_file(toy_afw, tmp_path):
    from mmdet_face.evaluation.metrics import AFWPascalMetric
    root, images = toy_afw
    ann = str(root / 'new_annotations_AFW.mat')
    outfile = tmp_path / 'dets.txt'
    metric = AFWPascalMetric(ann_file=ann, outfile=str(outfile), prefix='afw', iterations=1)
    faces = images[0]['faces']
    samples = [_sample(images[0]['name'], faces + 1.5, np.linspace(0.9, 0.5, len(faces))),
               _sample(images[1]['name'], [[0, 0, 60, 60]], [0.95]),
               _sample(images[0]['name'], faces, np.ones(len(faces)))]  # a padded repeat: counted once
    metric.process({}, samples)
    result = metric.compute_metrics(metric.results)
    keys = [images[0]['name'][:-4]] * len(faces) + [images[1]['name'][:-4]]
    expected = evaluate_face_pr(ground_truth_by_key(load_face_eval_annotations(ann)), keys,
                                np.r_[np.linspace(0.9, 0.5, len(faces)).astype(np.float32), 0.95],
                                np.r_[(faces + 1.5).astype(np.float32), [[0, 0, 60, 60]]], iterations=1)
    assert result == {'ap': expected['ap']} and 0 < expected['ap'] < 1
    keys_read, scores_read, _ = read_detections(str(outfile))
    assert keys_read == keys and len(scores_read) == len(keys)
    with pytest.raises(OutputExistsError):  # refused when the next metric is built, before any inference
        AFWPascalMetric(ann_file=ann, outfile=str(outfile))
    with pytest.raises(FileNotFoundError, match='AFWPascalMetric: ann_file .*missing.mat does not exist'):
        AFWPascalMetric(ann_file=str(tmp_path / 'missing.mat'))


@pytest.mark.parametrize('name, ann_file, images', [
    ('afw.py', 'data/afw/new_annotations_AFW.mat', 'testimages/'),
    ('pascal_face.py', 'data/pascal_face/Annotations_Face_PASCALLayout_large_fixed.mat', 'JPEGImages/')])
def test_dataset_configs(name, ann_file, images):
    cfg = Config.fromfile(str(ROOT / 'configs' / '_base_' / 'datasets' / name))
    dataset = cfg.test_dataloader.dataset
    assert dataset.type == 'AFWPascalFaceDataset' and dataset.data_root + dataset.ann_file == ann_file
    assert dataset.data_prefix.img == images
    assert cfg.test_evaluator.type == 'AFWPascalMetric' and cfg.test_evaluator.ann_file == ann_file
    assert cfg.test_evaluator.prefix == name.split('.')[0].split('_')[0] and 'gt_dir' not in cfg.test_evaluator
    assert cfg.val_dataloader.dataset.type == 'WiderFaceDataset'  # training and validation stay WIDER FACE's


def test_test_tool_scores_a_model_on_afw(toy_afw, tmp_path):
    """A random-weight toy model through tools/test.py with the AFW dataset config; its AP is the one
    tools/test_afw_pascal.py gives for the detections the metric wrote."""
    import torch
    from mmengine.registry import DefaultScope

    import mmdet_face
    from mmdet_face.registry import MODELS
    root, _ = toy_afw
    config = str(ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py')
    mmdet_face.register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    for name, param in model.named_parameters():  # boxes 16 strides wide (zero-size at initialisation)
        if name.startswith('bbox_head.stride_reg') and name.endswith('bias'):
            param.data.fill_(8.0)
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'random.pth')
    dets = tmp_path / 'dets.txt'
    metrics = load_tool('tools/test.py').main([
        config, str(tmp_path / 'random.pth'), '--dataset-config', str(ROOT / 'configs/_base_/datasets/afw.py'),
        '--work-dir', str(tmp_path / 'work'), '--cfg-options', f'test_dataloader.dataset.data_root={root}/',
        f'test_evaluator.ann_file={root}/new_annotations_AFW.mat', f'test_evaluator.outfile={dets}',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False', 'model.test_cfg.score_thr=0.0',
        'model.test_cfg.max_per_img=30'])  # random weights: keep their low scores
    assert list(metrics) == ['afw/ap']
    keys, _, _ = read_detections(str(dets))
    assert len(set(keys)) == 3
    run = run_tool('tools/test_afw_pascal.py', '--dataset', 'afw', '--pred', dets, '--gt',
                   root / 'new_annotations_AFW.mat')
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == f'AP {metrics["afw/ap"]:.6f}'
    kept = int(run.stdout.split(' detections (')[0].split()[-1])
    assert kept > 30 and metrics['afw/ap'] > 0


def test_dataset_config_takes_dataset_and_evaluator_and_keeps_the_model_pipeline(tmp_path):
    from mmdet_face.engine.evaluate import build_test_cfg
    tool = load_tool('tools/test.py')
    config = str(ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py')
    model_cfg = Config.fromfile(config)
    args = tool.parse_args([config, 'k.pth', '--dataset-config', str(ROOT / 'configs/_base_/datasets/pascal_face.py'),
                            '--cfg-options', 'test_evaluator.iterations=3'])
    cfg = build_test_cfg(args)
    dataset = cfg.test_dataloader.dataset
    assert dataset.type == 'AFWPascalFaceDataset' and dataset.data_prefix.img == 'JPEGImages/'
    data_cfg = Config.fromfile(str(ROOT / 'configs/_base_/datasets/pascal_face.py'))
    assert dataset.pipeline == model_cfg.test_dataloader.dataset.pipeline != data_cfg.test_dataloader.dataset.pipeline
    assert cfg.test_evaluator == dict(type='AFWPascalMetric', prefix='pascal', iterations=3,
                                      ann_file='data/pascal_face/Annotations_Face_PASCALLayout_large_fixed.mat')
    assert cfg.test_dataloader.batch_size == model_cfg.test_dataloader.batch_size


def test_dataset_config_option_errors(tmp_path, capsys):
    tool = load_tool('tools/test.py')
    for option in ('--out', '--gt-dir'):
        with pytest.raises(SystemExit):
            tool.parse_args(['c.py', 'k.pth', '--dataset-config', 'afw.py', option, str(tmp_path / 'o')])
        assert f'{option} applies to WIDER FACE; with --dataset-config' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.parse_args(['--pred-dir', 'p', '--gt-dir', 'g', '--dataset-config', 'afw.py'])
    not_data = tmp_path / 'not_data.py'
    not_data.write_text('x = 1\n')
    args = tool.parse_args([str(ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py'), 'k.pth', '--dataset-config',
                            str(not_data)])
    from mmdet_face.engine.evaluate import build_test_cfg
    with pytest.raises(SystemExit, match='not_data.py: defines no test_dataloader / test_evaluator'):
        build_test_cfg(args)
