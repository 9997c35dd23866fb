"""tools/test_fddb.py: scoring a detection file as the official program takes it, and running a model on the folds
first (toy config, random weights, a tiny generated FDDB layout)."""
import numpy as np
import pytest

from mmdet_face.evaluation.functional.fddb import evaluate_fddb
from mmdet_face.evaluation.functional.fddb_roc import format_roc_lines
from tests.helpers.fddb_data import make_case, make_fddb_layout
from tests.helpers.paths import REPO_ROOT
from tests.helpers.tools import load_tool, run_tool

tool = load_tool('tools/test_fddb.py')


def _pred_args(root, *extra):
    return ['--pred', str(root / 'det.txt'), '--gt', str(root / 'ann.txt'), '--list', str(root / 'list.txt'),
            '--img-dir', str(root / 'img'), *map(str, extra)]


@pytest.mark.slow
def test_pred_mode_as_the_user_runs_it(tmp_path):
    names, annotations, detections, sizes = make_case(tmp_path, 3, 'rectangle', num_images=8)
    out = run_tool('tools/test_fddb.py', *_pred_args(tmp_path, '--out-prefix', tmp_path / 'run_', '--plot',
                                                      tmp_path / 'roc.png'))
    assert out.returncode == 0, out.stderr
    expected = format_roc_lines(evaluate_fddb(annotations, detections, sizes, 'rectangle', names))
    assert (tmp_path / 'run_DiscROC.txt').read_text().splitlines() == expected['disc']
    assert (tmp_path / 'run_ContROC.txt').read_text().splitlines() == expected['cont']
    assert out.stdout.splitlines()[-1].startswith('FDDB TPR@1000FP: discrete 0.')
    assert (tmp_path / 'roc.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_existing_roc_files_are_refused_and_left_unchanged(tmp_path, capsys):
    make_case(tmp_path, 4, 'rectangle', num_images=3)
    (tmp_path / 'run_DiscROC.txt').write_text('mine\n')
    with pytest.raises(SystemExit) as exit_info:
        tool.main(_pred_args(tmp_path, '--out-prefix', tmp_path / 'run_'))
    assert str(exit_info.value) == (f'tools/test_fddb.py: --out-prefix: {tmp_path}/run_DiscROC.txt already exists '
                                    'and was left unchanged; choose another --out-prefix, or pass --overwrite to '
                                    'replace it')
    assert (tmp_path / 'run_DiscROC.txt').read_text() == 'mine\n'
    assert not (tmp_path / 'run_ContROC.txt').exists()
    tool.main(_pred_args(tmp_path, '--out-prefix', tmp_path / 'run_', '--overwrite'))
    assert (tmp_path / 'run_DiscROC.txt').read_text() != 'mine\n'
    assert capsys.readouterr().out.splitlines()[-1].startswith('FDDB TPR@1000FP')


def test_input_errors_name_the_file_and_line(tmp_path):
    make_case(tmp_path, 5, 'rectangle', num_images=3)
    det = tmp_path / 'det.txt'
    det.write_text(det.read_text() + 'set/other\n0\n')
    lines = det.read_text().splitlines()
    with pytest.raises(SystemExit, match=rf'^tools/test_fddb.py: {det}:{len(lines) - 1}: image set/other is not in '
                                         'the list'):
        tool.main(_pred_args(tmp_path))
    (tmp_path / 'list.txt').write_text('set/img_0\nset/img_9\n')
    with pytest.raises(SystemExit, match=rf'^tools/test_fddb.py: {tmp_path}/list.txt:2: image set/img_9 has no '
                                         'ellipses in'):
        tool.main(_pred_args(tmp_path))
    (tmp_path / 'list.txt').write_text('set/img_0\n')
    (tmp_path / 'img' / 'set' / 'img_0.jpg').unlink()
    det.write_text('set/img_0\n0\n')
    with pytest.raises(SystemExit, match=rf'list.txt:1: expected the image file {tmp_path}/img/set/img_0.jpg'):
        tool.main(_pred_args(tmp_path))
    # an output that is an input: refused whatever --overwrite says, the input left as it was
    (tmp_path / 'det_DiscROC.txt').write_text('set/img_0\n0\n')
    with pytest.raises(SystemExit, match='is also an input of this run'):
        tool.main(['--pred', str(tmp_path / 'det_DiscROC.txt'), '--gt', str(tmp_path / 'ann.txt'), '--list',
                   str(tmp_path / 'list.txt'), '--img-dir', str(tmp_path / 'img'), '--out-prefix',
                   str(tmp_path / 'det_'), '--overwrite'])
    assert (tmp_path / 'det_DiscROC.txt').read_text() == 'set/img_0\n0\n'


def test_conversions_and_ellipse_detections(tmp_path, capsys):
    names, annotations, detections, sizes = make_case(tmp_path, 6, 'rectangle', num_images=6)
    plain = tool.main(_pred_args(tmp_path))
    fitted = tool.main(_pred_args(tmp_path, '--to-ellipse', '--height-scale', '1.2'))
    converted = {}
    for name, dets in detections.items():
        x, y, w, h, s = dets.T
        converted[name] = np.stack([h * 1.2 / 2, w / 2, np.full_like(w, np.pi / 2), x + w / 2, y + h / 2, s], 1)
    expected = evaluate_fddb(annotations, converted, sizes, 'ellipse', names)
    np.testing.assert_array_equal(fitted.tp_cont, expected.tp_cont)
    assert not np.array_equal(plain.tp_cont, fitted.tp_cont)
    with pytest.raises(SystemExit):
        tool.parse_args(_pred_args(tmp_path, '--det-format', '1', '--to-ellipse'))
    assert '--to-ellipse converts rectangle detections' in capsys.readouterr().err


@pytest.mark.parametrize('argv, message', [
    (['--pred', 'd.txt', '--img-dir', 'i'], '--pred needs --gt'),
    (['c.py', 'k.pth', '--img-dir', 'i'], 'a model run needs --fold-dir'),
    (['c.py', 'k.pth', '--img-dir', 'i', '--fold-dir', 'f', '--plot', 'p.png'], '--plot: applies to --pred'),
    (['--pred', 'd', '--gt', 'g', '--list', 'l', '--img-dir', 'i', '--folds', '1'], '--folds: applies to a model'),
    (['c.py', 'k.pth', '--img-dir', 'i', '--fold-dir', 'f', '--folds', '11'], 'expected an integer in [1, 10]'),
    (['c.py', 'k.pth', '--img-dir', 'i', '--fold-dir', 'f', '--overwrite'], '--overwrite applies to --out-prefix'),
])
def test_argument_errors(argv, message, capsys):
    with pytest.raises(SystemExit):
        tool.parse_args(argv)
    assert message in capsys.readouterr().err


TOY_CONFIG = str(REPO_ROOT / 'configs' / 'toy' / 'retinaface_toy_mnet025.py')


def _random_toy_checkpoint(path):
    """Save the toy RetinaFace with its initial (random) weights to ``path``; returns the config's path."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmdet_face.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        model = MODELS.build(Config.fromfile(TOY_CONFIG).model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, path)
    return TOY_CONFIG


@pytest.mark.slow
def test_model_mode_runs_the_folds_and_writes_what_the_official_program_reads(tmp_path):
    make_fddb_layout(tmp_path / 'fddb', folds=(1, 2), images_per_fold=2)
    config = _random_toy_checkpoint(tmp_path / 'random.pth')
    fold_dir, img_dir = tmp_path / 'fddb' / 'FDDB-folds', tmp_path / 'fddb' / 'originalPics'
    out = run_tool('tools/test_fddb.py', config, tmp_path / 'random.pth', '--fold-dir', fold_dir, '--img-dir',
                   img_dir, '--folds', 1, 2, '--out-prefix', tmp_path / 'model_', '--work-dir', tmp_path / 'work',
                   '--cfg-options',
                   'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
                   'model.test_cfg.score_thr=0.3', timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines()[-1].startswith('FDDB TPR@1000FP: discrete ')
    dets = (tmp_path / 'model_Dets.txt').read_text().splitlines()
    assert dets[0] == '2002/08/01/big/img_0' and len([d for d in dets if d.startswith('2002/')]) == 4
    # the written detections, scored as a detection file, give the model run's ROC files
    (tmp_path / 'list.txt').write_text(''.join((fold_dir / f'FDDB-fold-0{f}.txt').read_text() for f in (1, 2)))
    (tmp_path / 'ann.txt').write_text(''.join((fold_dir / f'FDDB-fold-0{f}-ellipseList.txt').read_text()
                                              for f in (1, 2)))
    tool.main(['--pred', str(tmp_path / 'model_Dets.txt'), '--gt', str(tmp_path / 'ann.txt'), '--list',
               str(tmp_path / 'list.txt'), '--img-dir', str(img_dir), '--out-prefix', str(tmp_path / 'again_')])
    for suffix in ('DiscROC.txt', 'ContROC.txt'):
        assert (tmp_path / f'again_{suffix}').read_text() == (tmp_path / f'model_{suffix}').read_text()
    again = run_tool('tools/test_fddb.py', config, tmp_path / 'random.pth', '--fold-dir', fold_dir, '--img-dir',
                     img_dir, '--folds', 1, 2, '--out-prefix', tmp_path / 'model_', '--work-dir', tmp_path / 'work')
    assert again.returncode != 0 and 'model_DiscROC.txt already exists' in again.stderr
    assert 'Traceback' not in again.stderr


@pytest.mark.slow
def test_test_tool_scores_fddb_through_a_dataset_override(tmp_path):
    """A child config of a model config that swaps its test set for FDDB (as configs/_base_/datasets/fddb.py does):
    tools/test.py scores it with FDDBMetric alone, with the numbers of tools/test_fddb.py."""
    make_fddb_layout(tmp_path / 'fddb', folds=(1, ), images_per_fold=2)
    config = _random_toy_checkpoint(tmp_path / 'random.pth')
    child = tmp_path / 'toy_on_fddb.py'
    child.write_text(
        f"_base_ = ['{config}']\n"
        "test_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False, dataset=dict(\n"
        f"    _delete_=True, type='FDDBDataset', data_root='{tmp_path}/fddb/', folds=[1], test_mode=True,\n"
        "    pipeline={{_base_.test_pipeline}}))\n"
        f"test_evaluator = dict(_delete_=True, type='FDDBMetric', fold_dir='{tmp_path}/fddb/FDDB-folds', folds=[1])\n")
    test_tool = load_tool('tools/test.py')
    metrics = test_tool.main([str(child), str(tmp_path / 'random.pth'), '--work-dir', str(tmp_path / 'w1')])
    assert sorted(metrics) == ['fddb/continuous_tpr', 'fddb/discrete_tpr']
    direct = tool.main([config, str(tmp_path / 'random.pth'), '--fold-dir', str(tmp_path / 'fddb' / 'FDDB-folds'),
                        '--img-dir', str(tmp_path / 'fddb' / 'originalPics'), '--folds', '1', '--work-dir',
                        str(tmp_path / 'w2'), '--cfg-options', 'test_dataloader.num_workers=0',
                        'test_dataloader.persistent_workers=False'])
    assert metrics == direct
    with pytest.raises(SystemExit, match='--gt-dir / --out apply to the WIDER FACE metric'):
        test_tool.main([str(child), str(tmp_path / 'random.pth'), '--out', str(tmp_path / 'sub'), '--work-dir',
                        str(tmp_path / 'w3')])
