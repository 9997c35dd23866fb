"""tools/make_toy_widerface.py writes a toy WIDER FACE set that the official-format readers accept."""
import numpy as np
import pytest

import mmdet_face.evaluation.functional as wf
from tests.helpers.tools import run_tool


@pytest.mark.slow
def test_writes_a_readable_toy_set(tmp_path):
    out = tmp_path / 'toy'
    done = run_tool('tools/make_toy_widerface.py', '--out', out, '--num-train', 2, '--num-val', 3, '--size', 64,
                    '--num-events', 1, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f'wrote {out}: train_images=2, ')
    assert len(list((out / 'train' / 'images').rglob('*.jpg'))) == 2
    gt = wf.load_ground_truth(str(out / 'val' / 'gt'))
    images = [name for event in gt['boxes'].values() for name in event]
    assert len(images) == 3 == len(list((out / 'val' / 'images').rglob('*.jpg')))
    boxes = np.concatenate([b for event in gt['boxes'].values() for b in event.values()])
    assert boxes.shape[1] == 4 and (boxes[:, 2:] > 0).all()
    assert (out / 'train' / 'labelv2.txt').read_text().startswith('#')


@pytest.mark.slow
def test_refuses_a_folder_holding_other_files(tmp_path):
    (tmp_path / 'mine.txt').write_text('keep')
    done = run_tool('tools/make_toy_widerface.py', '--out', tmp_path, '--num-train', 1, '--num-val', 1, timeout=60)
    assert done.returncode != 0 and 'Traceback' not in done.stderr and 'mine.txt' in done.stderr
    assert (tmp_path / 'mine.txt').read_text() == 'keep' and sorted(p.name for p in tmp_path.iterdir()) == ['mine.txt']
