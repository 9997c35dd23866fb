"""A search worker: takes the next trial of the study (a queued candidate first, then one the sampler draws),
writes its config on the study's proxy schedule, trains and validates it with ``tools/train.py`` in a
subprocess (:mod:`search_tools.training`), and tells the study the WIDER FACE Hard AP.

Any number of workers may run against one study (``dist_search.sh``, ``slurm_search.sh``). Each trial lives in
``DIR/trials/<number>_<key>/``::

    config.py     the candidate's config on the proxy schedule (written once, atomically)
    work/         tools/train.py's work dir (checkpoints, mmengine logs)
    train.log     the training subprocess's output, one block per attempt
    result.json   written when the trial is done; a trial folder holding it is never trained again

A trial whose worker died is re-enqueued by the reaper (:mod:`search_tools.study`) with its folder and resumes from
its last checkpoint (``tools/train.py --resume-if-possible``); a config that crashes becomes a FAIL trial with the
tail of its log, its candidate is queued again (up to ``max_attempts``) and the worker goes on with the next one.

Early stopping: the training validates every ``proxy.val_interval`` epochs (``sample --prune-every``); the worker
reads each validation from mmengine's scalar log as it appears, reports its Hard AP to the study
(``trial.report(hard, epoch)``) and, with a pruner (``run --pruner median|hyperband``), asks
``trial.should_prune()``: a trial that cannot catch up is stopped (its training terminated) and told PRUNED, with
the epochs it trained and its last Hard AP (``epochs``, ``last_hard``, ``result.json``). A resumed trial (reaped,
re-queued) first reports the validations of its earlier attempts, so the pruner sees its whole curve.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Any, Callable, Dict, Optional

from search_tools.study import (QUEUED_PARAMS, REPO_ROOT, RESULT_FILE, TRIALS_DIR, Lease, StudyError, enqueue,
                                git_sha, is_damofd_space, load_spec, make_pruner, make_sampler, open_study,
                                read_result, reap_stale_trials, requeue, spec_path, template_path, versions,
                                worker_identity, write_json_atomic, write_text_atomic)
from search_tools.training import (TRAIN_SCRIPT, apply_proxy, checkpoint_epoch, die_with_parent, read_metrics,
                                   read_validations, tail_lines, train_command)

MAX_INFEASIBLE_IN_A_ROW = 50
# this many different candidates failing one after the other (no success between) stop a worker: the cause is
# then outside the candidates (data, GPU, environment), and going on would only fail the rest of the queue
MAX_FAILED_CANDIDATES_IN_A_ROW = 3


class Worker:
    """Pulls trials from one study until it holds ``target`` completed trials (all workers together), the queue
    and sampler are exhausted, ``stop`` is set, or different candidates keep failing (see :meth:`run`).

    Args:
        study_dir: the study folder.
        storage: a database URL (default: the folder's journal file).
        target: finished (completed or pruned) trials to reach (default: the number ``sample`` queued); failed
            ones do not count.
        gpus: GPUs (or CPU processes) per trial; > 1 trains under ``torchrun --standalone``.
        sampler: override the study's sampler (``random | qmc | tpe``) for the trials this worker draws.
        proxy_epochs: train on this many epochs instead of the study's (refused once trials ran with another).
        heartbeat: seconds between lease heartbeats; stale_after: seconds without one before a trial is reaped.
        max_attempts: attempts a candidate gets: a reaped or failed trial is queued again until then.
        pruner: ``none | median | hyperband`` (:func:`search_tools.study.make_pruner`; refused on a study whose
            trials validate only at the end); pruner_warmup: epochs before which no trial is pruned;
            pruner_startup: completed trials the median pruner waits for.
        stop: an object with ``is_set()`` (e.g. ``threading.Event``), checked between trials and while training.
        python / train_script: the training command (tests point it elsewhere).
    """

    def __init__(self, study_dir: str, storage: Optional[str] = None, target: Optional[int] = None, gpus: int = 1,
                 sampler: Optional[str] = None, proxy_epochs: Optional[int] = None, heartbeat: float = 60.0,
                 stale_after: float = 600.0, max_attempts: int = 3, stop=None, python: str = sys.executable,
                 train_script: str = TRAIN_SCRIPT, poll: float = 1.0, log: Callable = print, pruner: str = 'none',
                 pruner_warmup: int = 0, pruner_startup: int = 5):
        self.study_dir = osp.abspath(study_dir)
        self.spec = load_spec(self.study_dir)
        self.storage = storage
        self.study = open_study(self.study_dir, storage, spec=self.spec)
        self.target = target or self.spec['num']
        # a study of a DamoFD block space (evolve --space damofd-<model>) holds its candidates in the queue only:
        # the block space is searched by evolve, not drawn from trial by trial
        self.queue_only = is_damofd_space(self.spec['space'])
        if self.queue_only and self.target > self.spec['num']:
            raise StudyError(f'--trials {self.target}: {self.study_dir} is a study of the {self.spec["space"]} '
                             f'block space with {self.spec["num"]} queued candidates, and its workers train the '
                             'queue only (nothing is drawn beyond it); give --trials '
                             f'{self.spec["num"]} or less, or rerun search.py evolve with --keep {self.target}')
        self.gpus = gpus
        self.sampler = sampler or self.spec['sampler']
        self.proxy = dict(self.spec['proxy'])
        # the pruner is checked against the schedule the trials will train on, before anything is written
        self.pruner = dict(name=pruner, warmup=pruner_warmup, startup=pruner_startup)
        self.study.pruner = make_pruner(pruner, dict(self.proxy, epochs=proxy_epochs or self.proxy['epochs']),
                                        warmup=pruner_warmup, startup=pruner_startup)
        if proxy_epochs is not None and proxy_epochs != self.proxy['epochs']:
            self._check_proxy_change(proxy_epochs)
            # recorded in the study before any trial uses it: study.json always says what the trials train on
            self.proxy['epochs'] = proxy_epochs
            self.spec['proxy'] = dict(self.proxy)
            self.spec.setdefault('proxy_changes', []).append(
                dict(epochs=proxy_epochs, when=time.strftime('%Y-%m-%dT%H:%M:%S%z'), by='run --proxy-epochs'))
            write_json_atomic(spec_path(self.study_dir), self.spec)
        self.heartbeat, self.stale_after, self.max_attempts = heartbeat, stale_after, max_attempts
        self.stop = stop
        self.python, self.train_script, self.poll = python, train_script, poll
        self.log = log
        self._space = None
        self._template_cfg = None
        self._last_failure = None  # set by a failed trial of this worker: trial, key, error, log
        self._git_sha = git_sha()
        self._versions = versions()
        self._scalars = {}  # trial number -> (sizes of its scalar logs when last read, {epoch: reported Hard AP})

    # ---- study bookkeeping ----------------------------------------------------------------------------------
    def _check_proxy_change(self, epochs: int) -> None:
        trained = [t.number for t in self.study.get_trials(deepcopy=False)
                   if t.user_attrs.get('proxy') and t.user_attrs['proxy'].get('epochs') != epochs]
        if trained:
            raise StudyError(f'--proxy-epochs {epochs}: trials {trained[:5]} of {self.study_dir} were trained for '
                             f'{self.spec["proxy"]["epochs"]} epochs (study.json proxy.epochs); a study ranks one '
                             'proxy schedule. Start a new study (search.py sample --proxy-epochs ...)')

    def finished_and_running(self, below: Optional[int] = None):
        """(COMPLETE or PRUNED trials, RUNNING trials), among the trials numbered below ``below`` when it is given.
        Failed trials never count towards the target: a failed candidate is queued again (up to
        ``max_attempts``), and the target is that many candidates trained to a verdict (ranked, or pruned)."""
        from optuna.trial import TrialState
        done = running = 0
        for t in self.study.get_trials(deepcopy=False):
            if below is not None and t.number >= below:
                continue
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
                done += 1
            elif t.state == TrialState.RUNNING:
                running += 1
        return done, running

    def is_surplus(self, trial) -> bool:
        """Whether ``trial``, just asked for, is past the target: the trials numbered below it (Optuna numbers
        trials in the order the storage hands them out) already reach it. Several workers can pass the
        "done + running < target" check at once and each ask; the storage's numbering decides which of them keep
        their trial, the same way in every worker."""
        done, running = self.finished_and_running(below=trial.number)
        return done + running >= self.target

    def give_back(self, trial) -> None:
        """End a surplus ``trial`` untrained: it is failed with the user attribute ``surplus`` (not counted as
        done, listed as such by the report) and, when it was a queued candidate, its parameters and attributes
        are queued again, so the candidate is not lost (a later worker with a larger ``--trials`` takes it). A
        candidate queued without ``queued_params`` (by an older search_tools) goes back with its config and
        without parameters (``has_params=False``: its config is used as written, nothing is drawn for it)."""
        from optuna.trial import TrialState
        attrs = trial.user_attrs
        queued = QUEUED_PARAMS in attrs or 'config' in attrs
        params = dict(attrs.get(QUEUED_PARAMS) or {})
        carried = {k: v for k, v in attrs.items() if k not in ('lease', 'surplus', QUEUED_PARAMS)}
        if QUEUED_PARAMS not in attrs:
            carried['has_params'] = False
        trial.set_user_attr('surplus', f'drawn past the target of {self.target} trials by a worker racing '
                                       'another; given back untrained' + (' and re-queued' if queued else ''))
        self.study.tell(trial, state=TrialState.FAIL)
        if queued:
            enqueue(self.study, params, carried)

    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    @property
    def space(self):
        if self._space is None:
            from search_tools.space import load_space
            self._space = load_space(self.spec['space'])
        return self._space

    @property
    def template_cfg(self):
        if self._template_cfg is None:
            from search_tools.arch import read_config
            try:
                self._template_cfg = read_config(template_path(self.study_dir))
            except ValueError as exc:
                raise StudyError(str(exc)) from None
        return self._template_cfg

    def check_data(self) -> None:
        """Refuse (:class:`StudyError`) to train when the template's data is not usable on this machine (see
        :mod:`search_tools.data_check`); a study folder without ``template.py`` (only queued configs) is not
        checked."""
        if not osp.isfile(template_path(self.study_dir)):
            return
        from search_tools.data_check import check_data
        check_data(self.template_cfg, f'the data of {template_path(self.study_dir)}',
                   hint='No trial was taken; put the data where the study expects it (template.py and the '
                   'candidate configs in candidates/ name that path) and start the worker again')

    # ---- the loop -------------------------------------------------------------------------------------------
    def run(self) -> Dict[str, int]:
        """Run trials until done; returns counts of what this worker did (``complete``, ``pruned``, ``fail``,
        ``reused``, ``infeasible``, ``reaped``, ``surplus``).

        Raises:
            StudyError: the template's data is not usable (before any trial is taken), or
                ``MAX_FAILED_CANDIDATES_IN_A_ROW`` different candidates failed one after the other (their
                candidates are queued again for a restart after the fix).
        """
        from optuna.trial import TrialState
        counts = dict(complete=0, pruned=0, fail=0, reused=0, infeasible=0, reaped=0, surplus=0)
        infeasible_in_a_row = 0
        failed_in_a_row = {}  # candidate key -> the last failure's trial number, log and error line
        data_checked = False
        while not self.stopping():
            counts['reaped'] += len(reap_stale_trials(self.study, self.stale_after, self.max_attempts,
                                                      log=self.log))
            done, running = self.finished_and_running()
            if done + running >= self.target:
                self.log(f'[search] {done} trial(s) finished, {running} running: target {self.target} reached')
                break
            if self.queue_only and not self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
                if running:  # the other workers train the rest; a failure of theirs is queued again for a restart
                    self.log(f'[search] the queue is empty ({done} trial(s) finished, {running} running): '
                             'nothing left for this worker')
                    break
                raise StudyError(f'{done} of the {self.target} trials finished and the queue of this '
                                 f'{self.spec["space"]} study is empty (its failed candidates used up --max-attempts '
                                 f'{self.max_attempts}), and nothing is drawn beyond the queue of a DamoFD block '
                                 'space: search.py report lists the failed trials and their errors')
            if not data_checked:  # before the first trial: a missing data set fails here, not in every trial
                self.check_data()
                data_checked = True
            self.study.sampler = make_sampler(self.sampler, self.spec['seed'],
                                              len(self.study.get_trials(deepcopy=False)))
            trial = self.study.ask()
            if self.is_surplus(trial):  # another worker asked between this worker's check and its ask
                self.give_back(trial)
                counts['surplus'] += 1
                self.log(f'[search] trial {trial.number} is past the target of {self.target} (another worker '
                         'asked at the same moment): given back untrained')
                continue
            # the draw depends on (seed, trial number), not on which worker took it
            self.study.sampler = make_sampler(self.sampler, self.spec['seed'], trial.number)
            outcome = self.run_trial(trial)
            counts[outcome] = counts.get(outcome, 0) + 1
            if outcome == 'fail' and self._last_failure is not None:  # (None: reaped meanwhile, not this one's)
                failed_in_a_row[self._last_failure['key']] = self._last_failure
                if len(failed_in_a_row) >= MAX_FAILED_CANDIDATES_IN_A_ROW:
                    last = self._last_failure
                    raise StudyError(
                        f'{len(failed_in_a_row)} different candidates failed one after the other (trials '
                        f'{", ".join(str(f["trial"]) for f in failed_in_a_row.values())}; the last one: '
                        f'{last["error"]}; log {last["log"]}): the cause is likely not the candidates but the '
                        'data, the machine or the environment, so this worker stops instead of failing the '
                        'rest of the queue. The failed candidates are queued again: fix the cause and start the '
                        'workers again')
            elif outcome in ('complete', 'pruned', 'reused'):
                failed_in_a_row.clear()
            infeasible_in_a_row = infeasible_in_a_row + 1 if outcome == 'infeasible' else 0
            if infeasible_in_a_row >= MAX_INFEASIBLE_IN_A_ROW:
                raise StudyError(f'{MAX_INFEASIBLE_IN_A_ROW} draws in a row could not be projected onto '
                                 f'{self.spec["gflops"]} GFLOPs +- {self.spec["tolerance"]:.0%}: the budget is '
                                 'outside what the space can build')
        return counts

    def run_trial(self, trial) -> str:
        """One trial from ``ask`` to ``tell``; returns ``complete | pruned | fail | reused | infeasible |
        stopped``."""
        from optuna.trial import TrialState
        self._last_failure = None
        try:
            info = self.materialise(trial)
        except Exception as exc:  # noqa: BLE001  (a space / projection error fails this trial, not the search)
            infeasible = type(exc).__name__ == 'InfeasibleBudget'
            trial.set_user_attr('infeasible' if infeasible else 'error', f'{type(exc).__name__}: {exc}'[-2000:])
            self.study.tell(trial, state=TrialState.FAIL)
            self.log(f'[search] trial {trial.number}: {"infeasible" if infeasible else "failed"} before '
                     f'training: {exc}')
            if infeasible:
                return 'infeasible'
            self._failed(trial, f'{type(exc).__name__}: {exc}', log=None)
            return 'fail'
        trial_dir = osp.join(self.study_dir, info['trial_dir'])
        lease = Lease(trial, self.heartbeat).start()
        try:
            result = self._existing_result(trial, info)
            if result is not None:
                if result['state'] == 'PRUNED':
                    return self._tell_pruned(trial, result)
                return self._tell(trial, result, reused=True)
            result = self.train(trial, info, trial_dir)
        finally:
            lease.stop()
        if result is None:
            lease.release()  # the next reaper hands the trial to another worker at once
            return 'stopped'
        if result['state'] == 'FAIL':
            attrs = dict(error=result['error'][-4000:], log=result['log'], trial_dir=result['trial_dir'])
            told = self._set_attrs(trial, attrs) and self._safe_tell(trial, state=TrialState.FAIL)
            self.log(f'[search] trial {trial.number} FAILED (exit {result["returncode"]}); the search goes on. '
                     f'Log: {result["log"]}')
            if told:  # (a trial reaped meanwhile was queued again by its reaper)
                self._failed(trial, (result['error'].strip().splitlines() or ['?'])[-1], log=result['log'])
            return 'fail'
        if result['state'] == 'PRUNED':
            return self._tell_pruned(trial, result)
        return self._tell(trial, result)

    def _failed(self, trial, error: str, log: Optional[str]) -> None:
        """After ``trial`` was told FAIL: queue its candidate again (it does not count towards the target, and a
        restart after fixing the cause trains it) and remember the failure for the stop rule of :meth:`run`."""
        requeue(self.study, trial, self.max_attempts, 'failed', log=self.log)
        # a drawn trial that failed before it had a key is known by its parameters (its re-queued copy has them)
        key = trial.user_attrs.get('key') or json.dumps(trial.params, sort_keys=True, default=str)
        self._last_failure = dict(trial=trial.number, key=key,
                                  error=error[-300:], log=log or 'none (failed before training)')

    def materialise(self, trial) -> Dict[str, Any]:
        """The trial's candidate: ``key``, ``arch``, ``breakdown``, ``trial_dir`` (relative to the study) and
        the path of its config; the config is written into the trial folder on the proxy schedule unless it is
        already there (a resumed trial keeps its config)."""
        attrs = trial.user_attrs
        spec = self.spec
        template_arch = spec.get('template_arch')
        if attrs.get('has_params', True) or 'config' not in attrs:
            # queued candidates re-suggest their recorded draw (the sampler learns from the same parameters);
            # new trials draw here
            raw = self.space.sample(trial, step=spec['step'], template=template_arch)
        cfg = None
        if 'config' in attrs:
            key, arch, breakdown = attrs['key'], attrs.get('arch'), attrs.get('breakdown')
        else:
            from search_tools.projection import project
            cand = project(self.space, raw, spec['gflops'], tolerance=spec['tolerance'],
                           input_shape=tuple(spec['input_shape']), template=template_arch)
            key, arch, breakdown = cand.key(), cand.arch, cand.breakdown
            cfg = cand.to_config(self.template_cfg)
        rel_dir = attrs.get('trial_dir') or osp.join(TRIALS_DIR, f'{trial.number}_{key}')
        trial_dir = osp.join(self.study_dir, rel_dir)
        os.makedirs(trial_dir, exist_ok=True)
        config_path = osp.join(trial_dir, 'config.py')
        if not osp.isfile(config_path):
            from search_tools.arch import read_config
            if cfg is None:
                source = osp.join(self.study_dir, attrs['config'])
                if not osp.isfile(source):
                    raise StudyError(f'trial {trial.number}: its candidate config {source} is missing')
                cfg = read_config(source)
            apply_proxy(cfg, self.proxy, spec['seed'])
            write_text_atomic(config_path, cfg.pretty_text)
        for name, value in (('key', key), ('trial_dir', rel_dir), ('arch', arch), ('breakdown', breakdown),
                            ('proxy', self.proxy)):
            if value is not None and attrs.get(name) != value:
                trial.set_user_attr(name, value)
        return dict(key=key, arch=arch, breakdown=breakdown, trial_dir=rel_dir, config=config_path)

    def _existing_result(self, trial, info) -> Optional[Dict[str, Any]]:
        """A finished result for this candidate: its own folder's ``result.json`` (a restarted or re-enqueued
        trial that had finished or been pruned), or another trial's with the same key (a duplicate draw; completed
        ones only: a pruner's verdict depends on the trials finished at the time)."""
        own = osp.join(self.study_dir, info['trial_dir'], RESULT_FILE)
        others = sorted(glob.glob(osp.join(glob.escape(osp.join(self.study_dir, TRIALS_DIR)), f'*_{info["key"]}',
                                           RESULT_FILE)))
        for path in [own] + [p for p in others if osp.abspath(p) != osp.abspath(own)]:
            result = read_result(path, log=self.log)
            if result is not None and path == own and result.get('state') == 'PRUNED':
                return result
            if result is not None and result.get('state') == 'COMPLETE':
                if path != own:
                    result = dict(result, duplicate_of=result.get('trial'))
                return result
        return None

    def train(self, trial, info, trial_dir) -> Optional[Dict[str, Any]]:
        """Train and validate the trial's config in a subprocess, reporting every validation's Hard AP to the study
        as it is logged; the result record (state COMPLETE, PRUNED or FAIL), or None when the worker was asked to
        stop (the lease is then released for another worker to resume)."""
        from mmdet_face.engine.run_dir import resolve_resume
        work_dir = osp.join(trial_dir, 'work')
        log_path = osp.join(trial_dir, 'train.log')
        resume_from = resolve_resume(work_dir, if_possible=True, log=lambda *_: None)
        cmd = train_command(info['config'], work_dir, self.gpus, self.python, self.train_script)
        start_offset = osp.getsize(log_path) if osp.isfile(log_path) else 0
        attempt = int(trial.user_attrs.get('attempt', 1))
        # a resumed trial first reports its earlier attempts' validations: the pruner judges its whole curve
        pruned_at = self._report(trial, work_dir)
        proc = None
        with open(log_path, 'a', encoding='utf-8') as log_file:
            log_file.write(f'===== trial {trial.number}, attempt {attempt}, {time.strftime("%Y-%m-%d %H:%M:%S")}, '
                           f'{worker_identity()}\n$ {" ".join(cmd)}\n'
                           f'resuming from: {resume_from or "nothing (new run)"}\n')
            log_file.flush()
            t0 = time.time()
            if pruned_at is None:
                self.log(f'[search] trial {trial.number} ({info["key"]}): training'
                         + (f', resuming from {resume_from}' if resume_from else '') + f'; log {log_path}')
                env = dict(os.environ, PYTHONUNBUFFERED='1')
                env['PYTHONPATH'] = os.pathsep.join(p for p in (REPO_ROOT, env.get('PYTHONPATH', '')) if p)
                proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env,
                                        preexec_fn=die_with_parent if os.name == 'posix' else None)
            while proc is not None and proc.poll() is None:
                if self.stopping():
                    _terminate(proc)
                    self._report(trial, work_dir, prune=False)  # what it validated stays with the trial
                    self.log(f'[search] stop requested: trial {trial.number} interrupted; its lease is released '
                             'and the next worker resumes it from its last checkpoint')
                    return None
                pruned_at = self._report(trial, work_dir)
                if pruned_at is not None:
                    _terminate(proc)
                    break
                time.sleep(self.poll)
            if pruned_at is not None:
                log_file.write(f'\n===== pruned after the validation of epoch {pruned_at} ({self.pruner["name"]} '
                               'pruner): training stopped\n')
        minutes = (time.time() - t0) / 60
        record = dict(trial=trial.number, key=info['key'], study=self.spec['name'], attempt=attempt,
                      trial_dir=info['trial_dir'], config=osp.relpath(info['config'], self.study_dir),
                      log=osp.relpath(log_path, self.study_dir), resumed_from=resume_from,
                      resumed_from_epoch=checkpoint_epoch(resume_from), minutes=round(minutes, 3),
                      returncode=None if proc is None else proc.returncode, worker=worker_identity())
        if pruned_at is not None:
            validations = read_validations(work_dir)
            metrics = validations[pruned_at]
            record.update(state='PRUNED', epochs=pruned_at, last_hard=metrics['widerface/hard'], metrics=metrics,
                          curve=_curve(validations, pruned_at), pruner=self.pruner, arch=info['arch'],
                          breakdown=info['breakdown'], proxy=self.proxy, work_dir=osp.relpath(work_dir, self.study_dir),
                          git_sha=self._git_sha, versions=self._versions)
            write_json_atomic(osp.join(trial_dir, RESULT_FILE), record)
            return record
        if proc.returncode != 0:
            return dict(record, state='FAIL', error=tail_lines(log_path, start_offset))
        self._report(trial, work_dir, prune=False)  # validations logged after the last poll
        metrics = read_metrics(work_dir)
        if metrics is None or int(metrics.get('step', -1)) != int(self.proxy['epochs']):
            return dict(record, state='FAIL', error=f'training exited 0 but logged no WIDER FACE validation at '
                        f'epoch {self.proxy["epochs"]} (found {metrics}); is widerface in val_evaluator?\n'
                        + tail_lines(log_path, start_offset))
        hard = metrics['widerface/hard']
        if not 0.0 <= hard <= 1.0:  # NaN fails too: an AP outside [0, 1] would rank first or last, silently
            return dict(record, state='FAIL', error=f'training logged WIDER FACE Hard AP {hard} at epoch '
                        f'{self.proxy["epochs"]}, not a number in [0, 1]; it is not ranked')
        last = osp.join(work_dir, f'epoch_{self.proxy["epochs"]}.pth')
        record.update(state='COMPLETE', hard=metrics['widerface/hard'], medium=metrics.get('widerface/medium'),
                      easy=metrics.get('widerface/easy'), metrics=metrics, arch=info['arch'],
                      breakdown=info['breakdown'], proxy=self.proxy, epochs=int(self.proxy['epochs']),
                      curve=_curve(read_validations(work_dir), int(self.proxy['epochs'])),
                      work_dir=osp.relpath(work_dir, self.study_dir),
                      checkpoint=osp.relpath(last, self.study_dir) if osp.isfile(last) else None,
                      git_sha=self._git_sha, versions=self._versions)
        write_json_atomic(osp.join(trial_dir, RESULT_FILE), record)
        return record

    # ---- intermediate values and pruning --------------------------------------------------------------------
    def _report(self, trial, work_dir: str, prune: bool = True) -> Optional[int]:
        """Report the Hard AP of every validation in ``work_dir`` not reported yet (``trial.report(hard,
        epoch)``); with a pruner and ``prune``, the epoch of the last one when the pruner stops the trial there,
        else None. The scalar logs are re-read only when one of them changed."""
        paths = glob.glob(osp.join(glob.escape(work_dir), '*', 'vis_data', 'scalars.json'))
        sizes = {}
        for path in paths:
            try:
                sizes[path] = osp.getsize(path)
            except OSError:  # removed meanwhile
                continue
        state = self._scalars.get(trial.number)
        if state is not None and state[0] == sizes:
            return None
        reported = state[1] if state is not None else {}
        self._scalars[trial.number] = (sizes, reported)
        return self._report_curve(trial, [(e, v['widerface/hard']) for e, v in read_validations(work_dir).items()],
                                  prune=prune)

    def _report_curve(self, trial, curve, prune: bool = True) -> Optional[int]:
        """Report ``curve`` (``[(epoch, hard), ...]``) to ``trial``, the epochs it was not told yet; see
        :meth:`_report`."""
        from optuna.exceptions import UpdateFinishedTrialError
        reported = self._scalars.setdefault(trial.number, ({}, {}))[1]
        new = sorted((int(e), float(v)) for e, v in curve if int(e) not in reported and 0.0 <= float(v) <= 1.0)
        try:
            for epoch, hard in new:
                trial.report(hard, epoch)
                reported[epoch] = hard
        except UpdateFinishedTrialError:  # reaped meanwhile: the re-queued copy reports for itself
            return None
        if not new or not prune or self.pruner['name'] == 'none' or new[-1][0] >= int(self.proxy['epochs']):
            return None
        return new[-1][0] if trial.should_prune() else None

    def _tell_pruned(self, trial, result) -> str:
        from optuna.trial import TrialState
        self._report_curve(trial, result.get('curve') or [], prune=False)  # a result read back from its folder
        attrs = {k: result.get(k) for k in ('epochs', 'last_hard', 'config', 'log', 'work_dir', 'minutes',
                                            'resumed_from', 'resumed_from_epoch', 'pruner', 'git_sha', 'versions')}
        if self._set_attrs(trial, attrs) and self._safe_tell(trial, state=TrialState.PRUNED):
            self.log(f'[search] trial {trial.number} PRUNED after epoch {result["epochs"]} of {self.proxy["epochs"]}: '
                     f'Hard {result["last_hard"]:.4f} there')
        return 'pruned'

    def _tell(self, trial, result, reused: bool = False) -> str:
        from optuna.trial import TrialState
        self._report_curve(trial, result.get('curve') or [], prune=False)  # a reused result: its curve too
        attrs = {k: result.get(k) for k in ('hard', 'medium', 'easy', 'config', 'log', 'checkpoint', 'work_dir',
                                            'minutes', 'resumed_from', 'resumed_from_epoch', 'git_sha',
                                            'versions', 'duplicate_of', 'epochs')}
        if not (self._set_attrs(trial, attrs)
                and self._safe_tell(trial, values=result['hard'], state=TrialState.COMPLETE)):
            return 'complete'  # reaped meanwhile: its result.json completes the re-enqueued copy
        how = ('reused the result of trial %s' % result['duplicate_of'] if result.get('duplicate_of') is not None
               else 'reused its finished result' if reused else f'trained in {result["minutes"]:.1f} min')
        self.log(f'[search] trial {trial.number} COMPLETE: Hard {result["hard"]:.4f} ({how})')
        return 'reused' if reused else 'complete'

    def _set_attrs(self, trial, attrs: Dict[str, Any]) -> bool:
        """Record ``attrs`` (None values skipped) on the trial; False (said) when it was finished meanwhile."""
        from optuna.exceptions import UpdateFinishedTrialError
        try:
            for key, value in attrs.items():
                if value is not None:
                    trial.set_user_attr(key, value)
        except UpdateFinishedTrialError as exc:
            self.log(f'[search] trial {trial.number} was taken over (reaped) while this worker ran it: {exc}')
            return False
        return True

    def _safe_tell(self, trial, **kwargs) -> bool:
        """``study.tell``; False (said) when the trial was finished meanwhile: reaped as stale while this worker
        still ran it. Its ``result.json`` then completes the re-enqueued copy without training."""
        from optuna.exceptions import UpdateFinishedTrialError
        try:
            self.study.tell(trial, **kwargs)
        except (UpdateFinishedTrialError, RuntimeError, ValueError) as exc:
            if 'finished' not in str(exc).lower() and 'state' not in str(exc).lower():
                raise
            self.log(f'[search] trial {trial.number} was taken over (reaped) while this worker ran it: {exc}')
            return False
        return True



def _terminate(proc) -> None:
    """Stop a training subprocess: SIGTERM, then SIGKILL after 60 s."""
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _curve(validations: Dict[int, Dict[str, float]], up_to: int):
    """``[[epoch, Hard AP], ...]`` of the validations up to epoch ``up_to``, by epoch."""
    return [[epoch, validations[epoch]['widerface/hard']] for epoch in sorted(validations) if epoch <= up_to]
