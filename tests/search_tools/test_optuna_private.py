"""search_tools.optuna_private: the one call past Optuna's public API still does what the reaper needs with the
installed Optuna, and the installed Optuna is one the module was checked against (requirements/search.txt pins
it). A new Optuna that renames the private names, or changes what they mean, fails here and not inside a worker."""
import os
import re

import pytest

optuna = pytest.importorskip('optuna')
from optuna.exceptions import UpdateFinishedTrialError  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from search_tools.optuna_private import TESTED_OPTUNA, set_user_attr_of  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _version(text):
    return (tuple(int(v) for v in text.split('.')[:3]) + (0, 0))[:3]


def test_installed_optuna_is_a_checked_version_and_the_pin_agrees():
    installed = '.'.join(optuna.__version__.split('.')[:2])
    assert installed in TESTED_OPTUNA, (f'optuna {optuna.__version__}: search_tools/optuna_private.py was checked '
                                        f'against {TESTED_OPTUNA}; check it again and extend TESTED_OPTUNA')
    with open(os.path.join(REPO, 'requirements', 'search.txt')) as f:
        pin = next(line.split('#')[0].strip() for line in f if line.startswith('optuna'))
    low, high = re.fullmatch(r'optuna>=([\d.]+),<([\d.]+)', pin).groups()
    assert _version(low) <= _version(optuna.__version__) < _version(high), pin
    assert all(_version(low) <= _version(v) < _version(high) for v in TESTED_OPTUNA), (pin, TESTED_OPTUNA)


def test_set_user_attr_of_marks_another_workers_running_trial_and_not_a_finished_one():
    study = optuna.create_study(direction='maximize')
    asked = study.ask()  # "another worker's" trial: this code sees it only as a FrozenTrial
    frozen, = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    set_user_attr_of(study, frozen, 'reaped', 'no heartbeat for 700 s')
    assert study.get_trials()[0].user_attrs == {'reaped': 'no heartbeat for 700 s'}
    assert asked.number == frozen.number
    study.tell(frozen.number, state=TrialState.FAIL)
    with pytest.raises(UpdateFinishedTrialError):
        set_user_attr_of(study, study.get_trials()[0], 'reaped', 'twice')
    assert study.get_trials()[0].user_attrs == {'reaped': 'no heartbeat for 700 s'}
