"""The test tool tools/test.py and its alias tools/test_widerface.py (submission scoring
without torch, config surgery for --mode / --tta, strict loading), the capped test-time transforms and
tools/analysis/plot_widerface_pr.py."""
import json
import subprocess
import sys

import numpy as np
import pytest

from mmdet_face.datasets.transforms import capped_test_scales
import mmdet_face.evaluation.functional as wf
from tests.helpers.paths import REPO_ROOT as ROOT
from tests.helpers.tools import load_tool, run_tool


tool = load_tool('tools/test.py')


@pytest.fixture
def tiny_submission(tmp_path):
    boxes = {'0--Parade': {'a': np.array([[0, 0, 9, 9], [20, 20, 9, 9]])},
             '1--Handshaking': {'b': np.array([[5, 5, 9, 9]])}}
    settings = {s: {'0--Parade': {'a': [0, 1]}, '1--Handshaking': {'b': [0]}} for s in wf.SETTINGS}
    wf.write_gt_mats(str(tmp_path / 'gt'), boxes, settings)
    # a: face 1 (1.0), FP (0.5), face 2 (0.0); b: nothing -> P 1 R 1/3, P 1/2 R 1/3, P 2/3 R 2/3 at threshold 0
    # AP = 1/3 * 1 + 1/3 * 2/3 = 5/9
    preds = {'0--Parade': {'a': np.array([[0, 0, 9, 9, 1.0], [300, 300, 9, 9, 0.5], [20, 20, 9, 9, 0.0]])},
             '1--Handshaking': {'b': np.zeros((0, 5))}}
    wf.write_submission(str(tmp_path / 'pred'), preds)
    return tmp_path


def test_pred_dir_scoring_imports_neither_torch_nor_mmdet(tiny_submission):
    code = (
        'import runpy, sys\n'
        f'sys.argv = ["test_widerface.py", "--pred-dir", r"{tiny_submission / "pred"}", '
        f'"--gt-dir", r"{tiny_submission / "gt"}", "--json", r"{tiny_submission / "res.json"}"]\n'
        f'runpy.run_path(r"{ROOT / "tools" / "test_widerface.py"}", run_name="__main__")\n'
        'heavy = [m for m in ("torch", "mmdet", "mmengine", "mmcv", "cv2") if m in sys.modules]\n'
        'assert not heavy, heavy\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=str(ROOT), timeout=60)
    assert out.returncode == 0, out.stderr
    assert 'Easy   Val AP: 0.5556' in out.stdout and 'Hard   Val AP: 0.5556' in out.stdout
    data = json.loads((tiny_submission / 'res.json').read_text())
    assert data['hard'] == pytest.approx(5 / 9, abs=1e-12)
    assert sorted(p.name for p in (tiny_submission / 'pred').iterdir()) == ['0--Parade', '1--Handshaking']


def _score(tiny, pred_dir, *extra):
    return tool.main(['--pred-dir', str(pred_dir), '--gt-dir', str(tiny / 'gt'), *extra])


def test_pred_dir_matching_no_image_is_an_error_saying_what_was_found(tiny_submission):
    """A folder that holds no <event>/<image>.txt of the ground truth used to score AP 0 with exit 0 and a warning."""
    tiny = tiny_submission
    images = tiny / 'images'
    images.mkdir()
    for i in range(12):
        (images / f'{i}.jpg').write_bytes(b'jpeg')
    nested = tiny / 'runs' / 'r1'
    nested.mkdir(parents=True)
    (tiny / 'pred').rename(nested / 'pred')
    cases = [
        (images, 'images: no prediction file matches a ground-truth image (2 images); found 12 .jpg files directly in '
                 'it. Expected a submission folder <event>/<image>.txt, one file per ground-truth image '
                 '(e.g. 0--Parade/a.txt).'),
        (nested, f'found 1 folder (pred) holding no files directly. Found event folders one level down in '
                 f'{nested / "pred"}: did you mean {nested / "pred"}?'),
        (tiny / 'runs', f'Found event folders 2 levels down in {nested / "pred"}: did you mean {nested / "pred"}?'),
        (nested / 'pred' / '0--Parade',
         f'looks like one event folder of a submission: did you mean {nested / "pred"}?'),
    ]
    for pred_dir, message in cases:
        with pytest.raises(SystemExit) as info:
            _score(tiny, pred_dir)
        message_given = str(info.value.code)
        assert message_given.startswith(f'tools/test.py: {pred_dir}: ') and message in message_given
    with pytest.raises(SystemExit, match='submission folder not found: '):
        _score(tiny, tiny / 'nowhere')
    # partial matches keep scoring, with a warning that gives the counts (b has no detections anyway)
    (nested / 'pred' / '1--Handshaking' / 'b.txt').unlink()
    with pytest.warns(UserWarning, match='1 of 2 ground-truth images have no predictions'):
        assert _score(tiny, nested / 'pred')['hard'] == pytest.approx(5 / 9)


@pytest.mark.parametrize('program', ['tools/test.py', 'tools/test_widerface.py'])
def test_pred_dir_without_a_match_exits_non_zero_without_traceback(tiny_submission, program):
    """Both names of the test tool run the same main, and its messages name the program the user ran."""
    (tiny_submission / 'wrong').mkdir()
    out = subprocess.run([sys.executable, program, '--pred-dir', str(tiny_submission / 'wrong'), '--gt-dir',
                          str(tiny_submission / 'gt')], capture_output=True, text=True, cwd=str(ROOT), timeout=60)
    assert out.returncode == 1 and out.stdout == ''
    assert out.stderr.startswith(f'{program}: {tiny_submission / "wrong"}: no prediction file matches a '
                                 'ground-truth image (2 images); found an empty folder'), out.stderr
    assert 'Traceback' not in out.stderr


def test_pred_dir_outputs_never_go_into_the_inputs(tiny_submission, capsys):
    tiny = tiny_submission
    for argv, message in (
            (['--out', str(tiny / 'o')], '--out: not used with --pred-dir'),
            (['--json', str(tiny / 'pred' / 'r.json')], 'is inside the --pred-dir folder'),
            (['--json', str(tiny / 'gt' / 'wider_face_val.mat')], 'is inside the --gt-dir folder'),
            (['--json', str(tiny)], 'is a folder; give the name of the JSON file to write')):
        with pytest.raises(SystemExit):
            _score(tiny, tiny / 'pred', *argv)
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.parse_args(['c.py', 'k.pth', '--json', str(tiny / 'r.json')])
    assert '--json applies to --pred-dir' in capsys.readouterr().err
    assert sorted(p.name for p in (tiny / 'pred').iterdir()) == ['0--Parade', '1--Handshaking']


def test_unmatched_prediction_dict_is_an_error():
    """The metric / Python door: predictions for images the ground truth does not have are an error, not AP 0."""
    boxes = {'0--Parade': {'a': np.array([[0, 0, 9, 9]])}}
    gt = {'boxes': boxes, 'settings': {s: {'0--Parade': {'a': np.array([0])}} for s in wf.SETTINGS}}
    with pytest.raises(ValueError, match=r'none of the 1 predicted image\(s\) is a ground-truth image \(e.g. '
                       r'predicted 9--Toy/b, ground truth 0--Parade/a\)'):
        wf.evaluate_widerface({'9--Toy': {'b': np.array([[0, 0, 9, 9, 1.0]])}}, gt)


def test_pr_curve_json_is_written_whole_or_not_at_all(tiny_submission, tmp_path):
    """A write that fails part-way (here a name JSON cannot hold) leaves the earlier file as it was and no
    temporary file; before, the earlier file was truncated to the half written."""
    res = wf.evaluate_widerface(str(tiny_submission / 'pred'), str(tiny_submission / 'gt'))
    path = tmp_path / 'out' / 'res.json'
    wf.dump_pr_curves(res, str(path), name='first')
    before = path.read_text()
    with pytest.raises(TypeError):
        wf.dump_pr_curves(res, str(path), name=object())
    assert path.read_text() == before and sorted(p.name for p in path.parent.iterdir()) == ['res.json']


def test_plot_pr_curves(tiny_submission, tmp_path):
    pytest.importorskip('matplotlib')
    res = wf.evaluate_widerface(str(tiny_submission / 'pred'), str(tiny_submission / 'gt'))
    wf.dump_pr_curves(res, str(tmp_path / 'r1.json'), name='one')
    wf.dump_pr_curves(res, str(tmp_path / 'r2.json'))
    plot = load_tool('tools/analysis/plot_widerface_pr.py')
    plot.main([str(tmp_path / 'r1.json'), str(tmp_path / 'r2.json'), '--out', str(tmp_path / 'pr.png')])
    assert (tmp_path / 'pr.png').stat().st_size > 10000
    (tmp_path / 'bad.json').write_text('{"easy": 1}')
    with pytest.raises(ValueError, match='not a WIDER FACE PR-curve file'):
        plot.load_result(str(tmp_path / 'bad.json'))


def test_plot_never_writes_over_a_result_it_reads(tiny_submission, tmp_path, capsys):
    """--out naming one of the RESULT files used to replace that JSON with the PNG."""
    res = wf.evaluate_widerface(str(tiny_submission / 'pred'), str(tiny_submission / 'gt'))
    wf.dump_pr_curves(res, str(tmp_path / 'r1.json'), name='one')
    (tmp_path / 'same.json').symlink_to(tmp_path / 'r1.json')
    before = (tmp_path / 'r1.json').read_text()
    plot = load_tool('tools/analysis/plot_widerface_pr.py')
    for out in ('r1.json', 'same.json'):
        with pytest.raises(SystemExit):
            plot.main([str(tmp_path / 'r1.json'), '--out', str(tmp_path / out)])
        assert f'--out {tmp_path / out}: is the input RESULT {tmp_path / "r1.json"}' in capsys.readouterr().err
    assert (tmp_path / 'r1.json').read_text() == before


CONFIG = """
model = dict(type='Dummy')
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(640, 640), keep_ratio=True),
    dict(type='LoadFaceAnnotations'),
    dict(type='PackFaceInputs'),
]
test_dataloader = dict(batch_size=1, dataset=dict(type='WiderFaceDataset', pipeline=test_pipeline))
test_evaluator = dict(type='WiderFaceMetric', gt_dir='data/widerface/val/gt/')
"""


@pytest.mark.parametrize('mode, size, expected', [
    ('vga', None, dict(type='Resize', scale=(640, 640), keep_ratio=True)),
    ('vga', 960, dict(type='Resize', scale=(960, 960), keep_ratio=True)),
    ('origin', None, dict(type='Resize', scale_factor=1.0, keep_ratio=True)),
    ('fixed', 1024, dict(type='Resize', scale=(1024, 1024), keep_ratio=False)),
])
def test_mode_replaces_the_resize_step(tmp_path, mode, size, expected):
    (tmp_path / 'cfg.py').write_text(CONFIG)
    argv = [str(tmp_path / 'cfg.py'), 'ckpt.pth', '--mode', mode, '--out', str(tmp_path / 'sub')]
    if size:
        argv += ['--size', str(size)]
    cfg = tool.build_test_cfg(tool.parse_args(argv))
    pipeline = cfg.test_dataloader.dataset.pipeline
    assert dict(pipeline[1]) == expected and len(pipeline) == 4
    assert cfg.test_evaluator == [dict(type='WiderFaceMetric', gt_dir='data/widerface/val/gt/',
                                       outfile_prefix=str(tmp_path / 'sub'), overwrite=False)]
    assert cfg.load_from is None  # main() loads the checkpoint strictly itself


@pytest.mark.parametrize('option', [['--mode', 'vga'], ['--tta']])
def test_pipeline_without_a_resize_step_is_a_message_naming_the_config(tmp_path, option):
    config = tmp_path / 'cfg.py'
    config.write_text(CONFIG.replace("dict(type='Resize', scale=(640, 640), keep_ratio=True),", ''))
    with pytest.raises(SystemExit, match=rf'^tools/test.py: {config}: {option[0]}: no Resize step in '
                                         r'cfg.test_dataloader.dataset.pipeline$'):
        tool.build_test_cfg(tool.parse_args([str(config), 'c.pth', *option]), 'tools/test.py')


@pytest.mark.slow
@pytest.mark.parametrize('program', ['tools/test.py', 'tools/test_widerface.py'])
def test_model_run_messages_name_the_program_run(tmp_path, program):
    """What the test tool says on the way to a model run (no Easy / Medium / Hard lists, batch size 1 for
    --max-size) and the error that ends it start with the name the user ran."""
    config = tmp_path / 'no_gt.py'
    config.write_text(f"_base_ = [r'{ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py'}']\n"
                      "test_evaluator = [dict(type='WiderFaceMetric')]\n")
    done = run_tool(program, config, tmp_path / 'missing.pth', '--work-dir', tmp_path / 'work', '--tta',
                    '--max-size', '100', '--cfg-options', 'test_dataloader.batch_size=2', timeout=300)
    assert done.returncode == 1 and 'Traceback' not in done.stderr, done.stderr
    said = [line for line in done.stdout.splitlines() if line.startswith('tools/')]
    assert said == [f'{program}: --max-size gives each image its own views; test batch size set to 1',
                    f'{program}: no WIDER FACE ground-truth folder (--gt-dir or the config\'s WiderFaceMetric.gt_dir): '
                    'the AP is over all annotated faces, not Easy / Medium / Hard']
    assert done.stderr.strip().splitlines()[-1].startswith(f'{program}: ')
    assert 'missing.pth' in done.stderr


def test_tta_wraps_model_and_pipeline(tmp_path):
    (tmp_path / 'cfg.py').write_text(CONFIG)
    cfg = tool.build_test_cfg(tool.parse_args([str(tmp_path / 'cfg.py'), 'c.pth', '--tta', '--gt-dir', 'G',
                                               '--tta-scales', '0.5', '1', '1.5', '--tta-merge', 'vote',
                                               '--cfg-options', 'test_dataloader.batch_size=2']))
    assert cfg.model.type == 'FaceTTAModel' and cfg.model.module.type == 'Dummy'
    assert cfg.model.tta_cfg == dict(merge='vote', iou_threshold=0.3)
    last = cfg.test_dataloader.dataset.pipeline[-1]
    assert last.type == 'TestTimeAug'
    assert [t.scale_factor for t in last.transforms[0]] == [0.5, 1.0, 1.5]
    assert [t.prob for t in last.transforms[1]] == [1.0, 0.0]
    assert last.transforms[-1][0].type == 'PackFaceInputs'
    assert cfg.test_evaluator[0].gt_dir == 'G' and cfg.test_dataloader.batch_size == 2


def test_argument_errors(capsys):
    for argv in (['--pred-dir', 'x'], [], ['c.py', 'k.pth', '--mode', 'fixed']):
        with pytest.raises(SystemExit):
            tool.parse_args(argv)
    with pytest.raises(SystemExit):
        tool.parse_args(['c.py', 'k.pth', '--cfg-options', 'test_dataloader.batch_size'])
    assert "--cfg-options 'test_dataloader.batch_size': expected key=value" in capsys.readouterr().err


def test_list_evaluator_keeps_the_difficulty_split_and_every_metric(tmp_path):
    # the toy config's test_evaluator is [WiderFaceMetric(gt_dir=...), FaceKeypointMetric]: before, the tool
    # replaced it by one WiderFaceMetric without gt_dir (Easy = Medium = Hard, no landmark metric)
    config = str(ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py')
    cfg = tool.build_test_cfg(tool.parse_args([config, 'c.pth', '--out', str(tmp_path / 'o')]))
    assert [m['type'] for m in cfg.test_evaluator] == ['WiderFaceMetric', 'FaceKeypointMetric']
    assert cfg.test_evaluator[0]['gt_dir'] == 'data/toy_widerface/val/gt/'
    assert cfg.test_evaluator[0]['outfile_prefix'] == str(tmp_path / 'o')
    cfg = tool.build_test_cfg(tool.parse_args([config, 'c.pth', '--gt-dir', 'G']))
    assert cfg.test_evaluator[0]['gt_dir'] == 'G'
    # a config without a WIDER metric gets one, and is told that it has no difficulty lists
    (tmp_path / 'cfg.py').write_text(CONFIG.replace("test_evaluator = dict(type='WiderFaceMetric', "
                                                    "gt_dir='data/widerface/val/gt/')",
                                                    "test_evaluator = dict(type='FaceKeypointMetric')"))
    cfg = tool.build_test_cfg(tool.parse_args([str(tmp_path / 'cfg.py'), 'c.pth']))
    assert [m['type'] for m in cfg.test_evaluator] == ['WiderFaceMetric', 'FaceKeypointMetric']
    assert cfg.test_evaluator[0].get('gt_dir') is None


def _toy_state_dict(config, path):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmdet_face.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        model = MODELS.build(Config.fromfile(config).model)
    import torch
    torch.save({'state_dict': model.state_dict(), 'meta': {'experiment_name': 'retinaface_toy_20260101_120000'}},
               path)
    return path


def test_checkpoint_of_another_model_is_refused(tmp_path, capsys):
    ckpt = _toy_state_dict(str(ROOT / 'configs' / 'toy' / 'retinaface_toy_mnet025.py'), tmp_path / 'rf.pth')
    config = str(ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py')
    with pytest.raises(SystemExit) as exit_info:
        tool.main([config, str(ckpt), '--work-dir', str(tmp_path / 'w')])
    message = str(exit_info.value.code)
    assert f'{ckpt} does not fit the model of {config}' in message
    assert 'model weights are missing' in message and 'checkpoint weights are not in the model' in message
    assert 'trained as retinaface_toy' in message and '--partial-load' in message


def test_out_folder_with_an_earlier_submission_is_refused(tmp_path):
    old = tmp_path / 'sub' / '0--Parade'
    old.mkdir(parents=True)
    (old / 'x.txt').write_text('x\n0\n')
    with pytest.raises(SystemExit, match='already holds a submission'):
        tool.main([str(ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py'), 'missing.pth', '--out', str(tmp_path / 'sub')])
    assert (old / 'x.txt').read_text() == 'x\n0\n'


@pytest.mark.parametrize('overwrite', [[], ['--overwrite']])
def test_out_that_is_a_file_or_foreign_folder_is_refused_before_the_model(tmp_path, overwrite):
    """--out naming a plain file, the images or the ground truth is refused, also with --overwrite, before the
    model is built (missing.pth is never opened) and without a .writing-* folder; the files stay as they were."""
    config = str(ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py')
    notes = tmp_path / 'notes.txt'
    notes.write_text('mine')
    images = tmp_path / 'val' / 'images' / '0--Parade'
    images.mkdir(parents=True)
    (images / '0_Parade_1.jpg').write_bytes(b'jpeg')
    gt = tmp_path / 'val' / 'gt'
    gt.mkdir()
    (gt / 'wider_face_val.mat').write_bytes(b'mat')
    for out, message in ((notes, 'notes.txt: is a file, not a folder'),
                         (tmp_path / 'val' / 'images', 'holds files that are not a WIDER FACE submission '
                          r'\(<event>/<image>.txt\), e.g. 0--Parade/0_Parade_1.jpg'),
                         (gt, 'gt: holds files that are not a WIDER FACE submission .* e.g. wider_face_val.mat')):
        with pytest.raises(SystemExit, match=f'^tools/test.py: --out .*{message}'):
            tool.main([config, str(tmp_path / 'missing.pth'), '--out', str(out), '--work-dir', str(tmp_path / 'w'),
                       *overwrite])
    assert notes.read_text() == 'mine' and (images / '0_Parade_1.jpg').read_bytes() == b'jpeg'
    assert (gt / 'wider_face_val.mat').read_bytes() == b'mat'
    assert not list(tmp_path.rglob('*.writing-*'))


def test_out_holding_the_work_dir_is_refused_before_the_model(tmp_path):
    """The runner writes its logs into the work dir: an --out that is or holds it used to pass the check and fail
    after the whole evaluation, at the write (a folder holding files other than a submission)."""
    config = str(ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py')
    for out, work_dir in ((tmp_path / 'run', tmp_path / 'run'), (tmp_path, tmp_path / 'run')):
        with pytest.raises(SystemExit, match=f'--out {out}: is or holds the work dir {work_dir}'):
            tool.main([config, str(tmp_path / 'missing.pth'), '--out', str(out), '--work-dir', str(work_dir)])
    assert list(tmp_path.iterdir()) == []


# --max-size: the SRN release (ChiCheng123/SRN tools/test.py) caps the area of every test view at max_size^2
# 1024 x 768 image (area 786432): the area cap 1400^2 gives 1400 / sqrt(786432) = 1.57869..., the long-side
# cap 1400 / 1024 = 1.3671875; scales 0.5 / 1 / 1.5 / 2.25. mmcv rounds the target to 1617 x 1212, then refits
# at min(1617 / 1024, 1212 / 768) = 1.578125, so the capped view is 1616 x 1212 (1958592 <= 1400^2 pixels)
@pytest.mark.parametrize('mode, factors, shapes', [
    ('area', [0.5, 1.0, 1.5, 1.5786924], [(384, 512), (768, 1024), (1152, 1536), (1212, 1616)]),
    ('side', [0.5, 1.0, 1.3671875], [(384, 512), (768, 1024), (1050, 1400)]),
])
def test_max_size_scale_factors(mode, factors, shapes):
    cap = dict(max_area_side=1400) if mode == 'area' else dict(max_long_side=1400)
    got = capped_test_scales.tta_scale_factors(768, 1024, [0.5, 1, 1.5, 2.25], **cap)
    assert got == pytest.approx(factors, abs=1e-6)
    assert [capped_test_scales.resized_shape(768, 1024, f) for f in got] == shapes
    h, w = shapes[-1]
    assert (h * w <= 1400 ** 2) if mode == 'area' else max(h, w) <= 1400
    assert capped_test_scales.tta_scale_factors(768, 1024, [0.5, 1, 1.5, 2.25]) == [0.5, 1.0, 1.5, 2.25]  # no cap
    # an image already over the cap (2000 x 1500, area 3e6): 1, 1.5 and 2.25 all clip to 1400 / sqrt(3e6)
    assert capped_test_scales.tta_scale_factors(1500, 2000, [0.5, 1, 1.5, 2.25], 1400) == pytest.approx(
        [0.5, 0.8082904])


def test_max_size_config_surgery(tmp_path):
    (tmp_path / 'cfg.py').write_text(CONFIG)
    cfg = tool.build_test_cfg(tool.parse_args([
        str(tmp_path / 'cfg.py'), 'c.pth', '--tta', '--tta-scales', '0.5', '1', '2', '--max-size', '1400',
        '--tta-merge', 'vote', '--tta-iou', '0.5', '--cfg-options', 'test_dataloader.batch_size=2']))
    assert cfg.model.tta_cfg == dict(merge='vote', iou_threshold=0.5)
    last = cfg.test_dataloader.dataset.pipeline[-1]
    assert last.type == 'WiderFaceCappedTTA' and last.scales == [0.5, 1.0, 2.0] and last.max_area_side == 1400
    assert last.max_long_side is None and 'max_size' not in last and last.resize_type == 'Resize'
    assert [t.type for t in last.transforms] == ['LoadFaceAnnotations', 'PackFaceInputs']
    assert cfg.test_dataloader.batch_size == 1  # views differ per image
    cfg = tool.build_test_cfg(tool.parse_args([str(tmp_path / 'cfg.py'), 'c.pth', '--mode', 'origin',
                                               '--max-size', '2100', '--max-size-mode', 'side']))
    assert dict(cfg.test_dataloader.dataset.pipeline[1]) == dict(
        type='WiderFaceCappedResize', scale_factor=1.0, max_area_side=None, max_long_side=2100, resize_type='Resize')
    for argv in (['c.py', 'k.pth', '--max-size', '1400'], ['c.py', 'k.pth', '--mode', 'vga', '--max-size', '9'],
                 ['c.py', 'k.pth', '--tta', '--max-size', '0']):
        with pytest.raises(SystemExit):
            tool.parse_args(argv)


def test_capped_transforms_views():
    from mmengine.registry import DefaultScope
    classes = {'WiderFaceCappedTTA': capped_test_scales.WiderFaceCappedTTA,
               'WiderFaceCappedResize': capped_test_scales.WiderFaceCappedResize}
    img = np.zeros((768, 1024, 3), np.uint8)
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        tta = classes['WiderFaceCappedTTA'](scales=[0.5, 1, 1.5, 2.25, 3.375], max_area_side=1400)
        out = tta(dict(img=img.copy(), img_shape=(768, 1024), ori_shape=(768, 1024)))
        # 2.25 and 3.375 clip to the same cap view: 4 scales x (flip, no flip)
        assert [v.shape[:2] for v in out['img']] == [s for s in [(384, 512), (768, 1024), (1152, 1536),
                                                                  (1212, 1616)] for _ in range(2)]
        assert out['flip'] == [True, False] * 4
        resize = classes['WiderFaceCappedResize'](scale_factor=1.0, max_long_side=640)
        assert resize(dict(img=img.copy(), img_shape=(768, 1024)))['img'].shape[:2] == (480, 640)


@pytest.mark.parametrize('mode, expected', [(None, (1400, None)), ('area', (1400, None)), ('side', (None, 1400))])
def test_capped_transforms_name_their_cap(mode, expected):
    """The cap says what it caps (max_area_side: the SRN area cap, max_long_side: the long side, as FaceDetector's
    max_size); the tool's max_size / max_size_mode still build the same transform, with a FutureWarning."""
    for cls, kwargs in ((capped_test_scales.WiderFaceCappedResize, dict(scale_factor=1.0)),
                        (capped_test_scales.WiderFaceCappedTTA, dict(scales=[1.0]))):
        with pytest.warns(FutureWarning, match='write max_area_side=N .mode area. or max_long_side=N'):
            old = cls(**kwargs, max_size=1400, max_size_mode=mode)
        assert (old.max_area_side, old.max_long_side) == expected
        with pytest.raises(ValueError, match='not both'):
            cls(**kwargs, max_area_side=1400, max_long_side=1400)
        with pytest.raises(ValueError, match="max_size_mode must be 'area' or 'side', got 'long'"):
            cls(**kwargs, max_size=1400, max_size_mode='long')
    assert capped_test_scales.cap_from_max_size(2100, 'side') == (None, 2100)


def test_max_size_tta_end_to_end(tmp_path):
    """Random toy SRN on two toy images, SRN-style protocol (vote 0.5, scales clipped at 200 px area cap)."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmdet_face.datasets.toy import make_toy_widerface
    from mmdet_face.registry import MODELS
    root = tmp_path / 'toy'
    make_toy_widerface(str(root), num_train=1, num_val=2, size=160, seed=0, num_events=1)
    config = str(ROOT / 'configs' / 'toy' / 'srn_toy.py')
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'random.pth')
    metrics = tool.main([config, str(tmp_path / 'random.pth'), '--tta', '--tta-scales', '0.5', '1', '4',
                         '--tta-merge', 'vote', '--tta-iou', '0.5', '--max-size', '200',
                         '--gt-dir', str(root / 'val' / 'gt'), '--out', str(tmp_path / 'sub'),
                         '--work-dir', str(tmp_path / 'work'),
                         '--cfg-options', f'test_dataloader.dataset.data_root={root}/',
                         'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
                         'model.test_cfg.max_per_img=20'])  # keeps the Python box-vote loop short
    assert {k.split('/')[-1] for k in metrics} >= {'easy', 'medium', 'hard'}
    assert sum(1 for _ in (tmp_path / 'sub').rglob('*.txt')) == 2


def test_test_tool_loads_strictly(tmp_path):
    test_tool = load_tool('tools/test.py')
    ckpt = _toy_state_dict(str(ROOT / 'configs' / 'toy' / 'retinaface_toy_mnet025.py'), tmp_path / 'rf.pth')
    with pytest.raises(SystemExit, match='does not fit the model of'):
        test_tool.main([str(ROOT / 'configs' / 'toy' / 'scrfd_toy_kps.py'), str(ckpt), '--work-dir',
                        str(tmp_path / 'w')])
    with pytest.raises(SystemExit):
        test_tool.parse_args(['c.py', 'k.pth', '--cfg-options', 'novalue'])
