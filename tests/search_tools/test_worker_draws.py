"""search_tools.worker without training: a queued candidate is materialised as sampled; a trial the sampler draws
beyond the queue is projected onto the budget and written on the proxy schedule, reproducibly."""
import pytest

pytest.importorskip('optuna', reason='optuna is not installed (requirements/search.txt)')

from mmengine.config import Config  # noqa: E402

from search_tools import search  # noqa: E402
from search_tools.study import StudyError  # noqa: E402
from search_tools.worker import Worker  # noqa: E402


def draw_two(study_dir, sampler):
    search.main(['sample', '--space', 'resnet', '--gflops', '2.5', '--num', '1', '--seed', '5', '--out',
                 str(study_dir)])
    worker = Worker(str(study_dir), sampler=sampler, log=lambda *_: None)
    infos = []
    for _ in range(2):
        trial = worker.study.ask()
        infos.append((trial, worker.materialise(trial)))
    return worker, infos


def test_queued_then_drawn_trials(tmp_path):
    worker, [(queued, info0), (drawn, info1)] = draw_two(tmp_path / 'a', 'random')
    # the queued candidate: its sampled key and config, its raw draw re-suggested as the trial's parameters
    assert info0['key'] == queued.user_attrs['key'] and info0['trial_dir'] == f'trials/0_{info0["key"]}'
    assert queued.params and all(name in queued.params for name in ('block', 'stem_channels', 'stage_blocks_0'))
    # the drawn one: new parameters, projected onto 2.5 GFLOPs +- 2 %, a config on the proxy schedule
    assert drawn.params and drawn.params != queued.params
    assert abs(info1['breakdown']['total']['gflops'] - 2.5) <= 0.05
    cfg = Config.fromfile(info1['config'])
    # the default template is the published SCRFD-2.5GF config: 640 epochs -> an 80-epoch proxy, steps 55 / 68
    assert cfg.train_cfg.max_epochs == 80 and cfg.param_scheduler[1].milestones == [55, 68]
    assert cfg.model.backbone.block_cfg.stage_planes == info1['arch']['backbone']['stage_planes']
    # the same seed and trial number draw the same candidate in another study
    _, [_, (_, again)] = draw_two(tmp_path / 'b', 'random')
    assert again['key'] == info1['key']
    # changing the proxy is refused once a trial trained on the recorded one
    drawn.set_user_attr('proxy', dict(worker.proxy))
    with pytest.raises(StudyError, match='a study ranks one proxy schedule'):
        Worker(str(tmp_path / 'a'), proxy_epochs=3)


def test_tpe_draws_are_projected_too(tmp_path):
    _, [_, (drawn, info)] = draw_two(tmp_path / 't', 'tpe')
    assert drawn.params and abs(info['breakdown']['total']['gflops'] - 2.5) <= 0.05


def test_proxy_epochs_changed_before_any_trial_is_recorded(tmp_path):
    import json
    study_dir = tmp_path / 'p'
    search.main(['sample', '--space', 'resnet', '--gflops', '2.5', '--num', '1', '--proxy-epochs', '8', '--out',
                 str(study_dir)])
    worker = Worker(str(study_dir), proxy_epochs=4, log=lambda *_: None)
    spec = json.loads((study_dir / 'study.json').read_text())
    assert worker.proxy['epochs'] == spec['proxy']['epochs'] == 4 and spec['proxy_changes'][0]['epochs'] == 4
    info = worker.materialise(worker.study.ask())
    assert Config.fromfile(info['config']).train_cfg.max_epochs == 4
