"""The one place search_tools reaches past Optuna's public API.

Everything else goes through public calls: ``study.ask``/``study.tell`` (a trial or its number),
``trial.set_user_attr``, ``study.enqueue_trial`` and user attributes written by search_tools itself. What is left
has no public call: the reaper marks *another* worker's RUNNING trial (a ``FrozenTrial`` from
``study.get_trials``) with the reason it is reaped before failing it. Optuna's ``set_user_attr`` lives on
``optuna.Trial``, whose constructor also starts the sampler's per-trial hooks (``before_trial``), which a reaper
must not do; the storage call below is the one that method makes.

The call is checked against the Optuna version that ``requirements/search.txt`` pins
(``tests/search_tools/test_optuna_private.py`` fails when a new version changes it).
"""
TESTED_OPTUNA = ('5.0',)  # major.minor versions this module was checked against (requirements/search.txt)


def set_user_attr_of(study, frozen_trial, key: str, value) -> None:
    """Set the user attribute ``key`` of ``frozen_trial`` (a trial of ``study`` this process did not ask for).

    Raises:
        optuna.exceptions.UpdateFinishedTrialError: the trial is finished (told or reaped meanwhile).
    """
    study._storage.set_trial_user_attr(frozen_trial._trial_id, key, value)
