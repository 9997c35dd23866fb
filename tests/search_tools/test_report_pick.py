"""Step 2's template is picked from the step-1 study (best trial, or the best one inside the bootstrap intervals)
and recorded in the step-2 study; no training (the step-1 trials are told made-up APs)."""
import json

import pytest

pytest.importorskip('optuna', reason='optuna is not installed (requirements/search.txt)')

from search_tools import search  # noqa: E402
from search_tools.report import STAGE_PARTS, bootstrap_shares, collect, pick_template  # noqa: E402
from search_tools.study import StudyError, open_study  # noqa: E402


def test_step2_template_comes_from_the_step1_study(tmp_path):
    step1, step2 = tmp_path / 's1', tmp_path / 's2'
    search.main(['sample', '--space', 'resnet', '--gflops', '2.5', '--num', '4', '--seed', '0', '--out', str(step1)])
    with pytest.raises(StudyError, match='no completed trial'):
        pick_template(str(step1), 'best')
    study = open_study(str(step1))
    for ap in (0.30, 0.70, 0.50, 0.60):  # trial 1 is the best
        study.tell(study.ask(), ap)
    trials = study.get_trials()

    arch, why = pick_template(str(step1), 'best')
    assert arch == trials[1].user_attrs['arch'] and why['trial'] == 1 and why['hard'] == 0.70

    rows = collect(str(step1))
    assert [r['trial'] for r in rows] == [1, 3, 2, 0] and [r['rank'] for r in rows] == [1, 2, 3, 4]
    arch_b, why_b = pick_template(str(step1), 'bootstrap', repeats=2000)
    summary = bootstrap_shares(rows, repeats=2000)
    chosen = next(r for r in rows if r['trial'] == why_b['trial'])
    assert arch_b == chosen['arch']
    if 'inside' in why_b['how']:
        # the best-ranked trial whose every stage share lies in the 95 % interval
        for part in STAGE_PARTS:
            assert summary[part]['low'] <= chosen['shares'][part] <= summary[part]['high']
        better = [r for r in rows if r['rank'] < chosen['rank']]
        assert all(any(not summary[p]['low'] <= r['shares'][p] <= summary[p]['high'] for p in STAGE_PARTS)
                   for r in better)

    search.main(['sample', '--space', 'resnet', '--gflops', '2.5', '--step', 'full', '--template-from', str(step1),
                 '--pick', 'best', '--num', '3', '--seed', '0', '--out', str(step2)])
    spec = json.loads((step2 / 'study.json').read_text())
    assert spec['step'] == 'full' and spec['template_arch'] == arch
    assert spec['template_picked']['trial'] == 1 and spec['template_config'] == str(step1 / 'template.py')
    for trial in open_study(str(step2)).get_trials():
        assert abs(trial.user_attrs['breakdown']['total']['gflops'] - 2.5) <= 2.5 * 0.02
