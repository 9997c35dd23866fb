"""``--cfg-options`` either reach what runs or are refused: a misspelt key added to a section whose keys are known
names the closest valid key; an override of a pipeline variable reaches the dataloaders built from it (and the
dumped config says so); an override of another config variable, which nothing reads after loading, is refused."""
import glob

import pytest
from mmengine.config import Config

from mmdet_face.utils import config_file as cf
from mmdet_face.utils.config_file import CfgOptionsError, expand_cfg_options, merge_cfg_options
from tests.helpers.paths import REPO_ROOT as REPO
from tests.helpers.tools import load_tool

TOY = str(REPO / 'configs' / 'toy' / 'scrfd_toy_kps.py')
SRN_TOY = str(REPO / 'configs' / 'toy' / 'srn_toy.py')


def _merged(options, config=TOY):
    return merge_cfg_options(Config.fromfile(config), options)


@pytest.mark.parametrize('key, value, message', [
    ('model.test_cfg.scor_thr', 0.9, "the head's test_cfg (model.test_cfg) takes no key 'scor_thr'; "
                                     "did you mean 'score_thr'?"),
    ('model.test_cfg.max_per_image', 10, "did you mean 'max_per_img'"),
    ('model.train_cfg.assigners', None, "the head's train_cfg (model.train_cfg) takes no key 'assigners'; "
                                        "did you mean 'assigner'"),
    ('model.train_cfg.assigner.top_k', 3, "SCRFDATSSAssigner (model.train_cfg.assigner) takes no key 'top_k'; "
                                          "did you mean 'topk'"),
    ('model.bbox_head.feat_channel', 8, "SCRFDHead (model.bbox_head) takes no key 'feat_channel'; "
                                        "did you mean 'feat_channels'"),
    ('test_dataloader.dataset.data_rot', 'x/', "(test_dataloader.dataset) takes no key 'data_rot'; "
                                               "did you mean 'data_root'"),
    ('test_dataloader.dataset.pipeline.1.keep_ration', False, "FaceResize (test_dataloader.dataset.pipeline.1) "
                                                              "takes no key 'keep_ration'; did you mean 'keep_ratio'"),
    ('train_pipeline.4.probability', 0.0, "FaceRandomFlip (train_dataloader.dataset.pipeline.4, built from "
                                          "train_pipeline) takes no key 'probability' (it takes: direction, prob, "
                                          "swap_seg_labels)"),
    ('trian_cfg.max_epochs', 1, "the config has no top-level entry 'trian_cfg'; did you mean 'train_cfg'"),
    ('optim_wrapper.optimizer.learning_rate', 0.1, "AdamW (optim_wrapper.optimizer) takes no key 'learning_rate'"),
    ('train_dataloader.batchsize', 2, "the dataloader (train_dataloader) takes no key 'batchsize'; "
                                      "did you mean 'batch_size'"),
    ('train_cfg.max_epoch', 1, "takes no key 'max_epoch'; did you mean 'max_epochs'"),
    ('randomness.sed', 1, "randomness takes no key 'sed'; did you mean 'seed'"),
    ('auto_scale_lr.base_batch', 8, "did you mean 'base_batch_size'"),
])
def test_misspelt_key_is_refused_with_the_closest_valid_key(key, value, message):
    cfg = Config.fromfile(TOY)
    before = cfg.pretty_text
    with pytest.raises(CfgOptionsError) as info:
        merge_cfg_options(cfg, {key: value})
    assert str(info.value).startswith(f'--cfg-options {key}: ') and message in str(info.value)
    assert cfg.pretty_text == before  # nothing merged


def test_valid_additions_and_changes_are_merged():
    cfg = _merged({'model.test_cfg.score_thr': 0.9, 'randomness.seed': 3, 'train_cfg.max_epochs': 1,
                   'test_dataloader.dataset.pipeline.1.scale': (256, 256), 'env_cfg.cudnn_benchmark': True})
    assert cfg.model.test_cfg.score_thr == 0.9 and cfg.randomness.seed == 3 and cfg.train_cfg.max_epochs == 1
    assert tuple(cfg.test_dataloader.dataset.pipeline[1].scale) == (256, 256)
    # a key the head reads but the config does not set, and a type switch with the new type's own keys
    cfg = _merged({'model.test_cfg.min_bbox_size': 2})
    assert cfg.model.test_cfg.min_bbox_size == 2
    cfg = _merged({'model.bbox_head.loss_bbox._delete_': True, 'model.bbox_head.loss_bbox.type': 'GIoULoss',
                   'model.bbox_head.loss_bbox.eps': 1e-6}, SRN_TOY)
    assert cfg.model.bbox_head.loss_bbox == dict(type='GIoULoss', eps=1e-6)


def test_test_pipeline_override_reaches_the_dataloaders_and_the_dump(tmp_path):
    from mmengine.registry import DefaultScope

    import mmdet_face
    from mmdet_face.registry import DATASETS
    cfg = _merged({'test_pipeline.1.scale': (640, 640)})
    for loader in ('val_dataloader', 'test_dataloader'):  # both were built from test_pipeline
        assert tuple(cfg[loader].dataset.pipeline[1].scale) == (640, 640)
    assert tuple(cfg.test_pipeline[1].scale) == (640, 640)
    assert tuple(cfg.train_dataloader.dataset.pipeline[3].scale) == (320, 320)  # train_pipeline untouched
    cfg.dump(str(tmp_path / 'dumped.py'))
    dumped = Config.fromfile(str(tmp_path / 'dumped.py'))
    assert tuple(dumped.test_dataloader.dataset.pipeline[1].scale) == (640, 640)
    assert tuple(dumped.test_pipeline[1].scale) == (640, 640)
    mmdet_face.register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        dataset = DATASETS.build(dict(cfg.test_dataloader.dataset, lazy_init=True))
    resize = dataset.pipeline.transforms[1]
    assert type(resize).__name__ == 'FaceResize' and tuple(resize.scale) == (640, 640)


def test_train_pipeline_override_reaches_the_train_dataloader():
    cfg = _merged({'train_pipeline.4.prob': 0.0})
    assert cfg.train_dataloader.dataset.pipeline[4] == dict(type='FaceRandomFlip', prob=0.0)
    assert expand_cfg_options(Config.fromfile(TOY), {'train_pipeline.4.prob': 0.0}) == {
        'train_dataloader.dataset.pipeline.4.prob': 0.0, 'train_pipeline.4.prob': 0.0}


def test_pipeline_variable_no_dataloader_uses_is_refused(tmp_path):
    config = tmp_path / 'own.py'
    config.write_text(f"_base_ = [{TOY!r}]\n"
                      "test_dataloader = dict(dataset=dict(pipeline=[dict(type='LoadImageFromFile'), "
                      "dict(type='FaceResize', scale=(100, 100), keep_ratio=True), dict(type='PackFaceInputs')]))\n"
                      "val_dataloader = test_dataloader\n")
    with pytest.raises(CfgOptionsError, match=r'test_pipeline.1.scale=?.*no dataloader uses test_pipeline.*'
                                              r'test_dataloader\.dataset\.pipeline\.1\.scale'):
        merge_cfg_options(Config.fromfile(str(config)), {'test_pipeline.1.scale': (640, 640)})


def test_config_variable_override_is_refused_naming_its_copies():
    with pytest.raises(CfgOptionsError) as info:
        _merged({'data_root': '/elsewhere/'})
    message = str(info.value)
    assert message.startswith('--cfg-options data_root: data_root is a config variable')
    for entry in ('train_dataloader.dataset.data_root', 'test_dataloader.dataset.data_root',
                  'test_evaluator.0.gt_dir'):  # also the paths built from it
        assert entry in message
    with pytest.raises(CfgOptionsError, match='max_epochs is a config variable'):
        _merged({'max_epochs': 1})


def test_every_configs_own_keys_are_known():
    """The key sets the check uses accept every key the published and toy configs set (no false refusals)."""
    problems = []
    for path in sorted(glob.glob(str(REPO / 'configs' / '**' / '*.py'), recursive=True)):
        if '/_base_/' in path:
            continue
        cfg = Config.fromfile(path)

        def visit(node, keys):
            if isinstance(node, dict):
                known, _ = cf.section_keys(keys, node) if keys else (None, '')
                if known is not None and set(node) - known:
                    problems.append((path, '.'.join(keys), set(node) - known))
                for k, v in node.items():
                    visit(v, keys + [k])
            elif isinstance(node, (list, tuple)):
                for i, v in enumerate(node):
                    visit(v, keys + [str(i)])

        visit(cfg.to_dict(), [])
    assert not problems


def test_train_and_test_tools_refuse_before_building(tmp_path):
    train = load_tool('tools/train.py')
    with pytest.raises(SystemExit, match=r"^error: --cfg-options model.test_cfg.scor_thr: .*did you mean 'score_thr'"):
        train.build_config(train.parse_args([TOY, '--work-dir', str(tmp_path / 'w'),
                                             '--cfg-options', 'model.test_cfg.scor_thr=0.9']))
    test_tool = load_tool('tools/test.py')
    with pytest.raises(SystemExit, match=r"^error: --cfg-options model.test_cfg.scor_thr: "):
        test_tool.build_test_cfg(test_tool.parse_args([TOY, 'k.pth', '--cfg-options',
                                                                 'model.test_cfg.scor_thr=0.9']))
    cfg = test_tool.build_test_cfg(test_tool.parse_args(
        [TOY, 'k.pth', '--mode', 'vga', '--size', '480', '--cfg-options', 'test_pipeline.2.type=LoadFaceAnnotations']))
    assert tuple(cfg.test_dataloader.dataset.pipeline[1]['scale']) == (480, 480)
    assert not (tmp_path / 'w').exists()


def test_nan_value_is_refused():
    import argparse

    from mmdet_face.engine.cli import ConfigOptionsAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction)
    options = parser.parse_args(['--cfg-options', 'model.test_cfg.score_thr=nan', 'test_pipeline.1.scale=(nan,3)'])
    assert options.cfg_options['model.test_cfg.score_thr'] != options.cfg_options['model.test_cfg.score_thr']
    for key in options.cfg_options:
        with pytest.raises(CfgOptionsError, match=f'^--cfg-options {key}: NaN is not a value'):
            _merged({key: options.cfg_options[key]})


def test_overrides_a_tool_replaces_are_refused(tmp_path):
    """launcher is set from --launcher, work_dir from --work-dir and the test tool's checkpoint from CHECKPOINT,
    after the overrides: such an override did nothing."""
    test_tool = load_tool('tools/test.py')
    train = load_tool('tools/train.py')
    for argv, message in (
            (['--cfg-options', 'launcher=pytorch'], 'launcher: set by --launcher'),
            (['--work-dir', str(tmp_path / 'a'), '--cfg-options', f'work_dir={tmp_path / "b"}'],
             'work_dir: set by --work-dir')):
        with pytest.raises(SystemExit, match=f'^error: --cfg-options {message}'):
            train.build_config(train.parse_args([TOY, *argv]))
    assert train.build_config(train.parse_args([TOY, '--cfg-options', f'work_dir={tmp_path / "b"}'])).work_dir == \
        str(tmp_path / 'b')
    with pytest.raises(SystemExit, match='^error: --cfg-options load_from: the test tool loads the CHECKPOINT'):
        test_tool.build_test_cfg(test_tool.parse_args([TOY, 'k.pth', '--cfg-options', 'load_from=x.pth']))


class _Base:
    def __init__(self, depth=1, init_cfg=None):
        self.depth = depth


class _PassesToSuper(_Base):
    def __init__(self, width=2, **kwargs):
        super().__init__(**kwargs)


class _ReadsByName(_Base):
    def __init__(self, width=2, **kwargs):
        super().__init__(depth=kwargs.get('depth', 3))


class _PassesElsewhere(_Base):
    def __init__(self, width=2, **kwargs):
        super().__init__()
        self.extra = dict(**kwargs)


def test_constructor_keys_follow_kwargs_only_into_super():
    assert cf.constructor_keys(_PassesToSuper) == {'width', 'depth', 'init_cfg'}
    assert cf.constructor_keys(_Base) == {'depth', 'init_cfg'}
    assert cf.constructor_keys(_ReadsByName) is None  # unknown: nothing is refused
    assert cf.constructor_keys(_PassesElsewhere) is None
