"""Two-shot DSFD trained by 2 CPU processes (tools/dist_train.sh, gloo): the Progressive Anchor Loss's two shots
train through DistributedDataParallel (every first-shot parameter takes part, or DDP would refuse the step), both
ranks hold the same weights after every step, the losses are finite, rank 0's validation scores the epoch and each
rank ends its process group before exiting. The toy DSFD at 128 x 128, 2 epochs x 2 iterations per rank."""

import pytest

from mmdet_face.datasets.toy import make_toy_widerface
from tests.distributed.test_distributed_runs import (PROBE_HOOK, _failure_excerpt, exits, free_port, probes, run,
                                                     run_env, small_data_config)
from tests.helpers.paths import REPO_ROOT as REPO

pytestmark = [pytest.mark.dist, pytest.mark.slow]


CONFIG_TAIL = """
val_evaluator = dict(gt_dir=data_root + 'val/gt/')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=2, val_interval=2)
param_scheduler = []
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2, save_best=None))
custom_imports = dict(imports=['mmdet_face.all_modules', 'dist_probe_hook'], allow_failed_imports=False)
custom_hooks = [dict(type='FiniteCheckHook'), dict(type='DistProbeHook')]
randomness = dict(seed=0)
"""


def test_two_shot_dsfd_trains_on_two_processes(tmp_path):
    data = tmp_path / 'data'
    make_toy_widerface(str(data), num_train=8, num_val=4, size=128, seed=0)
    (tmp_path / 'dist_probe_hook.py').write_text(PROBE_HOOK)
    config = tmp_path / 'cfg.py'
    config.write_text(small_data_config(REPO / 'configs' / 'toy' / 'dsfd_toy.py', data, 128) + CONFIG_TAIL)
    probe_dir, work_dir = tmp_path / 'probe', tmp_path / 'work'
    env = run_env(dict(root=tmp_path, bin=tmp_path), probe_dir, PORT=free_port())  # (no srun stand-ins needed)
    out = run(['bash', str(REPO / 'tools' / 'dist_train.sh'), str(config), '2', '--work-dir', str(work_dir)], env)
    assert out.returncode == 0, _failure_excerpt(out.log)
    records = probes(probe_dir)
    assert sorted(records) == [0, 1]
    states = {rank: [r['state'] for r in recs if 'state' in r] for rank, recs in records.items()}
    assert len(states[0]) == 4 and states[0] == states[1] and len(set(states[0])) == 4  # in step, and changing
    seen = [{img for r in recs if 'images' in r for img in r['images']} for recs in records.values()]
    assert seen[0] != seen[1]  # each rank its own share of the images
    assert exits(probe_dir) == {0: False, 1: False}
    # both shots' losses, finite, logged by rank 0 alone
    losses = [line for line in out.log.splitlines() if 'Epoch(train)' in line]
    assert len(losses) == 4 and all('loss_cls_first' in line and 'loss_bbox_first' in line for line in losses)
    assert 'widerface/hard' in out.log and (work_dir / 'epoch_2.pth').is_file()
