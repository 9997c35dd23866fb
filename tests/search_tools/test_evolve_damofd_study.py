"""``search.py evolve --space damofd-<model>`` writes a normal study: its queued candidates are the K best structures
of ``evolve.json`` (same order, same keys), their configs build and their FLOPs table is get_flops's count of the
built model; ``report`` and ``export`` take it; a worker writes a trial's config on the proxy schedule and trains the
queue only; bad input is refused before anything is written."""
import json

import pytest

pytest.importorskip('optuna', reason='optuna is not installed (requirements/search.txt)')

from mmengine.config import Config  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from mmdet_face.models.utils import get_model_complexity  # noqa: E402
from mmdet_face.registry import MODELS  # noqa: E402
from search_tools import evolution, search  # noqa: E402
from search_tools.damofd_flops import structure_flops  # noqa: E402
from search_tools.study import StudyError, open_study  # noqa: E402
from search_tools.worker import Worker  # noqa: E402
from tests.helpers.paths import REPO_ROOT  # noqa: E402

EVOLVE = ['evolve', '--space', 'damofd-0.5g', '--gflops', '0.065', '--input', '224', '--tolerance', '0.05',
          '--proxy', 'ddsar', '--population', '8', '--iterations', '300', '--keep', '3', '--seed', '1',
          '--checkpoint-every', '100']


@pytest.fixture(scope='module')
def evolved(tmp_path_factory):
    """One evolved DamoFD-0.5G study (default template: configs/damofd/damofd_0.5g_4xb8-640e_widerface.py)."""
    out = tmp_path_factory.mktemp('damofd') / 'study'
    search.main(EVOLVE + ['--proxy-epochs', '3', '--out', str(out)])
    return out


def _queued(folder):
    study = open_study(str(folder))
    return study, [t.user_attrs for t in study.get_trials(deepcopy=False)]


def test_the_queue_is_the_k_best_structures_of_evolve_json(evolved):
    record = json.loads((evolved / 'evolve.json').read_text())
    best = record['best']
    assert [b['rank'] for b in best] == [1, 2, 3]
    assert [b['score'] for b in best] == sorted((b['score'] for b in best), reverse=True)
    _, attrs = _queued(evolved)
    assert [a['key'] for a in attrs] == [b['key'] for b in best]
    assert [a['arch']['backbone'] for a in attrs] == [dict(type='DamoFDNet', structure=b['structure'])
                                                      for b in best]
    assert {a['source'] for a in attrs} == {'evolve'} and not any(a['has_params'] for a in attrs)
    assert [a['config'] for a in attrs] == [b['config'] for b in best]
    assert (evolved / 'best_structures.txt').read_text().split() == [b['structure'] for b in best]
    # every kept structure lies in the band, by the released count at 224 (0.065 GF +- 5 %)
    for b in best:
        assert b['flops'] == structure_flops(evolution.DamoFDProblem('0.5g', 1, 0.5).decode(b['structure']), 224)
        assert 0.95 * 0.065e9 <= b['flops'] <= 1.05 * 0.065e9
    # the search's log and checkpoint are there, as for the SCRFD spaces
    assert json.loads((evolved / evolution.LOG_FILE).read_text().splitlines()[-1])['best'] == best[0]['score']
    assert (evolved / evolution.STATE_FILE).is_file()


def test_study_json_holds_the_budget_asked_and_the_damofd_flops_rule(evolved):
    spec = json.loads((evolved / 'study.json').read_text())
    assert (spec['space'], spec['gflops'], spec['input_shape'], spec['num']) == ('damofd-0.5g', 0.065, [224, 224], 3)
    assert spec['name'] == 'damofd-0.5g-0.065g-backbone'
    assert spec['template_config'] == str(REPO_ROOT / 'configs' / 'damofd' / 'damofd_0.5g_4xb8-640e_widerface.py')
    sampling = spec['sampling']
    assert sampling['method'] == 'evolve' and 'Masternet.get_FLOPs' in sampling['flops_rule']
    assert sampling['search']['band'] == [0.95 * 0.065e9, 1.05 * 0.065e9] and sampling['search_resolution'] == 224
    record = json.loads((evolved / 'evolve.json').read_text())
    assert [k['key'] for k in sampling['kept']] == [b['key'] for b in record['best']]
    assert [k['structure'] for k in sampling['kept']] == [b['structure'] for b in record['best']]
    assert spec['proxy']['epochs'] == 3


def test_the_candidate_configs_build_and_their_flops_table_is_get_flops(evolved):
    rows = [json.loads(line) for line in (evolved / 'candidates' / 'candidates.jsonl').read_text().splitlines()]
    assert len(rows) == 3
    for row in rows:
        cfg = Config.fromfile(str(evolved / 'candidates' / f'{row["name"]}.py'))
        assert cfg.model.backbone.structure == row['arch']['backbone']['structure'] == row['info']['structure']
        model = MODELS.build(cfg.model)
        counted = get_model_complexity(model, (224, 224))
        assert (row['breakdown']['total']['flops'], row['breakdown']['total']['params']) == \
            (counted['flops'], counted['params'])
        parts = row['breakdown']
        assert sum(parts[p]['flops'] for p in ('stem', 'c2', 'c3', 'c4', 'c5')) == parts['backbone']['flops']
        assert parts['neck']['flops'] > 0 and parts['head']['flops'] > 0


def test_report_and_export_take_the_study(evolved, tmp_path):
    import shutil
    study_dir = tmp_path / 'study'
    shutil.copytree(evolved, study_dir)
    study, attrs = _queued(study_dir)
    for hard in (0.3, 0.5, 0.4):  # made-up APs: the queued candidates are the trials
        study.tell(study.ask(), hard)
    report = search.main(['report', '--study', str(study_dir), '--repeats', '20'])
    assert [(r['rank'], r['trial']) for r in report['rows']] == [(1, 1), (2, 2), (3, 0)]
    winner = report['rows'][0]
    breakdown = attrs[1]['breakdown']
    assert winner['shares'] == pytest.approx({p: breakdown[p]['gflops'] / breakdown['total']['gflops']
                                              for p in ('stem', 'c2', 'c3', 'c4', 'c5', 'backbone', 'neck',
                                                        'head')})
    ranking = (study_dir / 'report' / 'ranking.md').read_text()
    assert 'stem%' in ranking and 'c5%' in ranking
    out = search.main(['export', '--study', str(study_dir), '--rank', '1', '--out', str(tmp_path) + '/'])
    assert out == str(tmp_path / 'damofd_65m-searched_4xb8-640e_widerface.py')
    text = (tmp_path / 'damofd_65m-searched_4xb8-640e_widerface.py').read_text()
    assert text.startswith('# DamoFD backbone found by search_tools evolve') and attrs[1]['key'] in text
    exported = Config.fromfile(out)
    assert exported.model.backbone == dict(type='DamoFDNet', structure=attrs[1]['arch']['backbone']['structure'])
    assert exported.train_cfg.max_epochs == 640


def test_a_worker_writes_a_damofd_trial_on_the_proxy_schedule(evolved, tmp_path):
    import shutil
    study_dir = tmp_path / 'study'
    shutil.copytree(evolved, study_dir)
    worker = Worker(str(study_dir), log=lambda *_: None)
    trial = worker.study.ask()
    info = worker.materialise(trial)
    _, attrs = _queued(study_dir)
    assert info['key'] == attrs[0]['key'] and info['trial_dir'] == f'trials/0_{info["key"]}'
    cfg = Config.fromfile(info['config'])
    assert cfg.model.backbone == dict(type='DamoFDNet', structure=attrs[0]['arch']['backbone']['structure'])
    # the proxy schedule of study.json: 3 epochs, the template's 8 images per GPU and lr 0.01
    assert cfg.train_cfg.max_epochs == 3 and cfg.train_dataloader.batch_size == 8
    assert cfg.optim_wrapper.optimizer.lr == 0.01 and cfg.randomness == dict(seed=1)
    assert not trial.params  # nothing was drawn for it


def test_workers_train_the_queue_only(evolved, tmp_path):
    import shutil
    study_dir = tmp_path / 'study'
    shutil.copytree(evolved, study_dir)
    before = sorted(p.name for p in study_dir.iterdir())
    with pytest.raises(StudyError, match=r'--trials 4: .* block space with 3 queued candidates, and its workers '
                                         r'train the queue only .*give --trials 3 or less, or rerun search.py '
                                         r'evolve with --keep 4'):
        Worker(str(study_dir), target=4)
    with pytest.raises(SystemExit, match='--trials 4: '):
        search.main(['run', '--study', str(study_dir), '--trials', '4'])
    assert sorted(p.name for p in study_dir.iterdir()) == before
    # every candidate failed for good: the worker says so instead of drawing from the block space
    study = open_study(str(study_dir))
    for _ in range(3):
        study.tell(study.ask(), state=TrialState.FAIL)
    with pytest.raises(StudyError, match=r'0 of the 3 trials finished and the queue of this damofd-0.5g study is '
                                         r'empty .*nothing is drawn beyond the queue'):
        Worker(str(study_dir), log=lambda *_: None).run()
    assert len(study.get_trials(deepcopy=False)) == 3


def test_a_template_of_another_backbone_gives_the_neck_and_head(tmp_path):
    out = tmp_path / 'toy'
    search.main(EVOLVE + ['--template', str(REPO_ROOT / 'configs' / 'toy' / 'search_scrfd_toy.py'), '--out', str(out)])
    toy = Config.fromfile(str(REPO_ROOT / 'configs' / 'toy' / 'search_scrfd_toy.py'))
    _, attrs = _queued(out)
    for a in attrs:
        cfg = Config.fromfile(str(out / a['config']))
        assert cfg.model.backbone.type == 'DamoFDNet'
        assert cfg.model.neck.out_channels == toy.model.neck.out_channels
        assert cfg.model.bbox_head.feat_channels == toy.model.bbox_head.feat_channels
        assert cfg.train_dataloader.dataset.indices == 200  # the template's data
    spec = json.loads((out / 'study.json').read_text())
    assert spec['template_arch']['backbone']['type'] == 'MobileNetV1'


def test_bad_input_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / 'x'
    other_head = Config.fromfile(str(REPO_ROOT / 'configs' / 'damofd' / 'damofd_0.5g_4xb8-640e_widerface.py'))
    other_head.model.bbox_head.type = 'RetinaFaceHead'
    other_head.dump(str(tmp_path / 'other_head.py'))
    for extra, message in (
            (['--template', str(tmp_path / 'other_head.py')],
             r"--template .*other_head.py: model\.bbox_head\.type: expected 'SCRFDHead', got 'RetinaFaceHead'"),
            (['--template', str(REPO_ROOT / 'configs' / 'retinaface' / 'retinaface_mnet025_1xb32-250e_widerface.py')],
             r"--template .*retinaface.*: model\.backbone\.type: expected 'ResNetV1e', 'MobileNetV1' or 'DamoFDNet'"),
            (['--template', 'configs/nothing_here.py'], '--template configs/nothing_here.py: no such config file'),
            (['--step', 'full'], r'--space damofd-0.5g: --step full is an option of the SCRFD spaces'),
            (['--proxy-input', '224x160'], 'the DamoFD search counts FLOPs and scores at a square resolution')):
        with pytest.raises(SystemExit, match=message):
            search.main(EVOLVE + extra + ['--out', str(out)])
        assert not out.exists()


def test_sample_step_full_refuses_a_template_whose_backbone_the_space_does_not_search(tmp_path):
    out = tmp_path / 'full'
    template = str(REPO_ROOT / 'configs' / 'damofd' / 'damofd_0.5g_4xb8-640e_widerface.py')
    with pytest.raises(SystemExit, match=r'--template .*damofd_0.5g_4xb8-640e_widerface.py: its backbone is '
                                         r'DamoFDNet, and --step full rescales a backbone of the space \(mobilenet: '
                                         r'MobileNetV1\); nothing was written'):
        search.main(['sample', '--space', 'mobilenet', '--gflops', '0.5', '--num', '2', '--step', 'full',
                     '--template', template, '--out', str(out)])
    assert not out.exists()
    # the same for a ResNetV1e template in the MobileNetV1 space (was a ValueError traceback from the projection)
    template = str(REPO_ROOT / 'configs' / 'scrfd' / 'scrfd_2.5g_4xb8-640e_widerface.py')
    with pytest.raises(SystemExit, match=r'its backbone is ResNetV1e, and --step full rescales a backbone of the '
                                         r'space \(mobilenet: MobileNetV1\)'):
        search.main(['sample', '--space', 'mobilenet', '--gflops', '0.5', '--num', '2', '--step', 'full',
                     '--template', template, '--out', str(out)])
    assert not out.exists()
