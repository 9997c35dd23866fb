"""docs/finetune.md: every command of the page, run as written on tiny data, per family: convert the release, then
fine-tune a few iterations; the losses are finite and falling.

Each family's commands run with bash in a scratch folder that holds what the page's commands read: ``configs``
and ``tools`` (links to the repository's), the page's release file names (the real files of ``../shared`` where
it has them, else random weights in the release layout: ``tests/helpers/release_weights.py``) and the small toy
set (``tests/helpers/toy_data.py``) as ``data/my_faces`` and ``data/toy_widerface``; the outputs go to that
folder's ``checkpoints/`` and ``work_dirs/``. What the test changes in a command, for a CPU: ``python`` is this
interpreter; every ``tools/train.py`` line gets options for a few iterations on two-image batches (below); and the
DSFD commands train the toy DSFD (``configs/toy/dsfd_toy.py``, the same two-shot training on a quarter-width
ResNet-18) instead of ResNet-152, from release-layout weights of the toy network's second shot.

The logged per-iteration losses must be finite. "Falling" is judged on fixed data, since the augmented batches
of 8 tiny images vary more from one iteration to the next than a few low-rate steps from a trained model change the
loss: the training loss (every loss term of the released part of the network, BN in evaluation mode) of the last
checkpoint on the 8 training images without augmentation, resized to the training size, is below that of the
converted release on the same images.
"""
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers.paths import REPO_ROOT, SHARED_DIR
from tests.helpers.release_weights import dsfd_release_state, retinaface_release_state, scrfd_release_onnx

DOC = REPO_ROOT / 'docs' / 'finetune.md'
EPOCHS = 3  # 8 training images, batches of 2: 12 iterations
TINY = (f'train_cfg.max_epochs={EPOCHS} train_dataloader.batch_size=2 train_dataloader.num_workers=0 '
        'train_dataloader.persistent_workers=False val_dataloader.num_workers=0 '
        'val_dataloader.persistent_workers=False test_dataloader.num_workers=0 '
        'test_dataloader.persistent_workers=False default_hooks.logger.interval=1 log_processor.window_size=1 '
        'randomness.seed=0')
DSFD_CONFIG = 'configs/dsfd/dsfd_r152_finetune_4xb4-10k_widerface.py'
DSFD_TOY = 'configs/toy/dsfd_toy.py'


def bash_blocks():
    """``{first comment line: commands}`` of the page's bash blocks; the untagged block (the data settings) under
    the key ``''``."""
    blocks = {}
    for block in re.findall(r'```bash\n(.*?)```', DOC.read_text(encoding='utf-8'), re.S):
        first = block.splitlines()[0]
        tag = first[1:].strip() if first.startswith('#') else ''
        blocks[tag] = block
    return blocks


def test_the_page_has_a_block_per_family():
    assert set(bash_blocks()) == {'', 'SCRFD', 'SCRFD toy comparison', 'RetinaFace', 'DSFD'}


def _commands(block):
    """The block's commands, continuation lines joined as bash joins them."""
    return [line for line in block.replace('\\\n', '').splitlines() if line.strip() and not line.startswith('#')]


def _for_the_test(command, dsfd_test_graph):
    if command.startswith('python '):
        command = f'{sys.executable} ' + command[len('python '):]
    if ' tools/model_converters/dsfd_pth2mmdet.py ' in command:
        command += f' --config {dsfd_test_graph}'
    if ' tools/train.py ' in command:
        command = command.replace(DSFD_CONFIG, DSFD_TOY) + ' ' + TINY
    return command


@pytest.fixture(scope='module')
def scratch(toy_data, tmp_path_factory):
    """The folder the page's commands run in (see the module docstring)."""
    folder = tmp_path_factory.mktemp('finetune_doc')
    for name in ('configs', 'tools'):
        (folder / name).symlink_to(REPO_ROOT / name)
    (folder / 'data').mkdir()
    for name in ('my_faces', 'toy_widerface'):
        (folder / 'data' / name).symlink_to(toy_data)
    real = SHARED_DIR / 'real' / 'weights'
    if (real / 'scrfd_500m_bnkps.onnx').exists():
        (folder / 'scrfd_500m_bnkps.onnx').symlink_to(real / 'scrfd_500m_bnkps.onnx')
    else:
        scrfd_release_onnx(folder / 'scrfd_500m_bnkps.onnx')
    if (real / 'retinaface_mobilenet025.pth').exists():
        (folder / 'mobilenet0.25_Final.pth').symlink_to(real / 'retinaface_mobilenet025.pth')
    else:
        torch.save(retinaface_release_state(), folder / 'mobilenet0.25_Final.pth')
    # the toy DSFD's test graph (second shot only) and release-layout random weights of it
    from mmdet_face.apis.inference import init_face_detector
    graph = folder / 'dsfd_toy_second_shot.py'
    graph.write_text(f"_base_ = [{str(REPO_ROOT / DSFD_TOY)!r}]\nmodel = dict(bbox_head=dict(first_shot=None))\n")
    torch.manual_seed(0)
    torch.save(dsfd_release_state(init_face_detector(str(graph)).state_dict()), folder / 'WIDERFace_DSFD_RES152.pth')
    return folder


def _run_block(folder, tag):
    blocks = bash_blocks()
    script = '\n'.join(['set -e', *_commands(blocks['']),
                        *(_for_the_test(c, folder / 'dsfd_toy_second_shot.py') for c in _commands(blocks[tag]))])
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS='1')
    result = subprocess.run(['bash', '-c', script], cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def train_losses(work_dir):
    """The per-iteration ``loss`` values that mmengine logged to ``work_dir/<run>/vis_data/scalars.json``."""
    (scalars,) = Path(work_dir).glob('*/vis_data/scalars.json')
    lines = [json.loads(line) for line in scalars.read_text().splitlines() if line.strip()]
    return [line['loss'] for line in lines if 'loss' in line]


def _assert_finite(losses, iterations):
    assert len(losses) == iterations and all(math.isfinite(v) for v in losses), losses


def fixed_data_loss(config, checkpoint, data_root, exclude=()):
    """The summed loss terms (but those whose name contains a word of ``exclude``) of ``config``'s model with
    ``checkpoint`` (loaded where it fits) on all training images of ``data_root``, without augmentation: resized
    to the size of the config's training ``FaceResize``, one batch, BN in evaluation mode."""
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    from mmdet_face.apis.checkpoint import load_face_checkpoint
    from mmdet_face.apis.inference import init_face_detector
    from mmdet_face.registry import DATASETS
    cfg = Config.fromfile(str(config))
    (scale,) = [t['scale'] for t in cfg.train_dataloader.dataset.pipeline if t['type'] == 'FaceResize']
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadFaceAnnotations'),
                dict(type='FaceResize', scale=tuple(scale), keep_ratio=False), dict(type='PackFaceInputs')]
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        dataset = DATASETS.build(dict(type='WiderFaceDataset', data_root=f'{data_root}/', ann_file='train/labelv2.txt',
                                      data_prefix=dict(img='train/images/'), pipeline=pipeline))
    model = init_face_detector(str(config))
    load_face_checkpoint(model, str(checkpoint), strict=False)
    model.eval()
    data = model.data_preprocessor(pseudo_collate([dataset[i] for i in range(len(dataset))]), True)
    with torch.no_grad():
        _, log_vars = model.parse_losses(model(data['inputs'], data['data_samples'], mode='loss'))
    terms = {k: float(torch.as_tensor(v)) for k, v in log_vars.items()
             if k.startswith('loss_') and not any(word in k for word in exclude)}
    assert terms and all(math.isfinite(v) for v in terms.values()), terms
    return sum(terms.values())


def _assert_finite_and_falling(scratch, work_dir, config, release, exclude=()):
    _assert_finite(train_losses(work_dir), EPOCHS * 4)
    before = fixed_data_loss(REPO_ROOT / config, scratch / release, scratch / 'data' / 'my_faces', exclude)
    after = fixed_data_loss(REPO_ROOT / config, work_dir / f'epoch_{EPOCHS}.pth', scratch / 'data' / 'my_faces',
                            exclude)
    assert after < before, (before, after)


@pytest.mark.slow
def test_scrfd_commands(scratch):
    result = _run_block(scratch, 'SCRFD')
    assert 'wrote 284 tensors to checkpoints/scrfd_500m_bnkps.pth' in result.stdout
    work_dir = scratch / 'work_dirs' / 'scrfd_500m_bnkps_finetune'
    log = next(work_dir.glob('*/*.log')).read_text()
    assert 'FoldedBNCalibrationHook: set 41 identity BatchNorms from the statistics of 20 training batches' in log
    assert 'partial load' not in log  # every weight of the release loads
    _assert_finite_and_falling(scratch, work_dir, 'configs/scrfd/scrfd_500m_bnkps_finetune_1xb16-20e_widerface.py',
                               'checkpoints/scrfd_500m_bnkps.pth')


@pytest.mark.slow
def test_retinaface_commands(scratch):
    result = _run_block(scratch, 'RetinaFace')
    assert 'wrote 300 tensors to checkpoints/retinaface_mnet025.pth' in result.stdout
    work_dir = scratch / 'work_dirs' / 'retinaface_mnet025_finetune'
    log = next(work_dir.glob('*/*.log')).read_text()
    assert 'partial load' not in log and 'FoldedBNCalibrationHook' not in log
    _assert_finite_and_falling(scratch, work_dir,
                               'configs/retinaface/retinaface_mnet025_finetune_1xb32-20e_widerface.py',
                               'checkpoints/retinaface_mnet025.pth')


@pytest.mark.slow
def test_dsfd_commands(scratch):
    _run_block(scratch, 'DSFD')
    work_dir = scratch / 'work_dirs' / 'dsfd_r152_finetune'
    log = next(work_dir.glob('*/*.log')).read_text()
    # everything of the release loads; the first shot (all its weights) is new
    note = re.search(r'partial load: loaded (\d+) of (\d+) weights from checkpoints/dsfd_r152_release.pth', log)
    from mmdet_face.apis.inference import init_face_detector
    full = init_face_detector(str(REPO_ROOT / DSFD_TOY)).state_dict()
    first_shot = [k for k in full if 'first_shot' in k]
    assert note and int(note[2]) == len(full) and int(note[1]) == len(full) - len(first_shot)
    # the release has no first shot: its loss terms (``*_first``) are not compared
    _assert_finite_and_falling(scratch, work_dir, DSFD_TOY, 'checkpoints/dsfd_r152_release.pth', exclude=('first',))


@pytest.mark.slow
def test_scrfd_toy_comparison_commands(scratch):
    _run_block(scratch, 'SCRFD toy comparison')
    for name in ('toy_identity_bn', 'toy_from_release', 'toy_from_scratch'):
        _assert_finite(train_losses(scratch / 'work_dirs' / name), EPOCHS * 4)
    log = next((scratch / 'work_dirs' / 'toy_from_release').glob('*/*.log')).read_text()
    assert 'FoldedBNCalibrationHook: set 41 identity BatchNorms' in log
    if (SHARED_DIR / 'real' / 'weights' / 'scrfd_500m_bnkps.onnx').exists():
        # from the calibrated real release the loss starts far below the uncalibrated start and the scratch start
        first = {name: train_losses(scratch / 'work_dirs' / name)[0]
                 for name in ('toy_identity_bn', 'toy_from_release', 'toy_from_scratch')}
        assert first['toy_from_release'] < 0.5 * min(first['toy_identity_bn'], first['toy_from_scratch']), first
    assert 'WIDER FACE AP' in next((scratch / 'work_dirs' / 'toy_release').glob('*/*.log')).read_text()
