"""The sweep NMS must keep exactly what mmcv's greedy NMS keeps, in the same order."""
import numpy as np
import pytest
import torch
from mmcv.ops import batched_nms as mmcv_batched_nms
from mmcv.ops import nms as mmcv_nms

from mmdet_face.models.utils import nms as fast

needs_numba = pytest.mark.skipif(fast._sweep_nms is None, reason='numba not installed')


def crowd(num_faces=150, per_face=30, seed=0, span=1000.0):
    """Candidate boxes as a detector emits them at a low threshold: jittered clusters around faces of many
    sizes plus scattered background boxes; distinct scores."""
    rng = np.random.default_rng(seed)
    sizes = np.exp(rng.uniform(np.log(6), np.log(300), num_faces))
    centres = rng.uniform(0, span, (num_faces, 2))
    boxes = []
    for (cx, cy), s in zip(centres, sizes):
        jitter = rng.normal(0, 0.15 * s, (per_face, 4))
        scale = np.exp(rng.normal(0, 0.2, (per_face, 1)))
        half = s * scale / 2
        boxes.append(np.concatenate([cx - half, cy - half * 1.2, cx + half, cy + half * 1.2], 1) + jitter)
    bg = rng.uniform(0, span, (num_faces * 5, 2))
    bg_size = np.exp(rng.uniform(np.log(4), np.log(200), (num_faces * 5, 1)))
    boxes.append(np.concatenate([bg, bg + bg_size * rng.uniform(0.6, 1.4, (num_faces * 5, 2))], 1))
    boxes = np.concatenate(boxes).astype(np.float32)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])  # some boxes become empty (zero width or height)
    scores = rng.permutation(len(boxes)).astype(np.float32) / len(boxes) + 0.01
    return torch.from_numpy(boxes), torch.from_numpy(scores)


@needs_numba
@pytest.mark.parametrize('thr', [0.0, 0.3, 0.4, 0.5, 0.7, 0.95, 1.0])
@pytest.mark.parametrize('seed', [0, 1])
def test_same_result_as_mmcv(thr, seed):
    boxes, scores = crowd(seed=seed)
    assert len(boxes) >= fast.MIN_BOXES_FOR_SWEEP
    dets_ref, keep_ref = mmcv_nms(boxes, scores, thr)
    keep = fast.sweep_nms(boxes, scores, thr)
    assert torch.equal(keep, keep_ref)
    dets, keep2 = fast.sweep_batched_nms(boxes, scores, torch.zeros(len(boxes), dtype=torch.long),
                                         dict(type='nms', iou_threshold=thr))
    assert torch.equal(keep2, keep_ref) and torch.equal(dets, dets_ref)
    if 0 < thr < 1:  # a real suppression happened, and something was kept in every cluster
        assert 0 < len(keep) < len(boxes)


@needs_numba
def test_identical_and_degenerate_boxes():
    base = torch.tensor([[10., 10., 50., 60.]]).repeat(300, 1)
    base[100:200] += 500  # a second stack far away
    base[200:250, 2] = base[200:250, 0]  # zero width
    base[250:, 3] = base[250:, 1] - 5  # negative height
    scores = torch.linspace(1, 0.01, 300)
    keep_ref = mmcv_nms(base, scores, 0.5)[1]
    keep = fast.sweep_nms(base, scores, 0.5)
    assert torch.equal(keep, keep_ref)
    # one survivor per stack, every empty box survives (it overlaps nothing)
    assert keep[:2].tolist() == [0, 100] and len(keep) == 2 + 100


def scene(seed, n=2500, tall=0.05, wide=0.05, origin=(-300.0, -200.0), grid=False):
    """Faces of many sizes scattered over a 1000 x 800 canvas shifted to ``origin`` (negative coordinates), with a
    share of tall and of wide boxes (their reach spans many strips or a whole strip's width); ``grid``: coordinates
    on a 4-pixel grid, so many boxes share ``y1`` (and strip boundaries)."""
    rng = np.random.default_rng(seed)
    size = np.exp(rng.uniform(np.log(3), np.log(60), (n, 1)))
    wh = size * np.exp(rng.normal(0, 0.1, (n, 2)))
    wh[rng.random(n) < tall, 1] *= 8
    wh[rng.random(n) < wide, 0] *= 12
    xy = rng.uniform(0, 1, (n, 2)) * np.array([1000.0, 800.0]) + np.array(origin)
    boxes = np.concatenate([xy, xy + wh], 1)
    near = boxes[:n // 4] + rng.normal(0, 0.01, (n // 4, 4)) * wh[:n // 4].repeat(2, 1)  # near duplicates
    boxes = np.concatenate([boxes, near])
    if grid:
        boxes = np.round(boxes / 4) * 4
    scores = rng.permutation(len(boxes)).astype(np.float32) / len(boxes)
    return torch.from_numpy(boxes.astype(np.float32)), torch.from_numpy(scores)


@needs_numba
@pytest.mark.parametrize('thr', [0.0, 0.2, 0.4, 0.6, 0.9])
@pytest.mark.parametrize('kind', ['plain', 'tall_and_wide', 'grid'])
def test_strips_same_result_as_mmcv(kind, thr):
    """Pairs across strips (tall boxes reach many strips down; a wide box widens its strip's reach to the left),
    boxes sharing y1 (each pair found once), negative coordinates: still mmcv's result."""
    options = dict(plain=dict(tall=0.0, wide=0.0), tall_and_wide=dict(tall=0.2, wide=0.2), grid=dict(grid=True))
    boxes, scores = scene(seed=len(kind), **options[kind])
    keep_ref = mmcv_nms(boxes, scores, thr)[1]
    assert torch.equal(fast.sweep_nms(boxes, scores, thr, max_visits=10 ** 9), keep_ref)
    assert 0 < len(keep_ref) < len(boxes)


@needs_numba
@pytest.mark.parametrize('thr', [-0.1, -1.0])
def test_negative_threshold_suppresses_everything_as_mmcv(thr):
    """IoU > a negative threshold holds for every pair, however far apart (the sweep's reach only holds for
    t >= 0: it kept every box it saw no overlap for)."""
    boxes, scores = crowd(seed=0)
    keep_ref = mmcv_nms(boxes, scores, thr)[1]
    assert torch.equal(fast.sweep_nms(boxes, scores, thr), keep_ref)
    assert len(keep_ref) < 5


@needs_numba
@pytest.mark.parametrize('value', [float('nan'), float('inf'), -float('inf')])
def test_non_finite_coordinates_as_mmcv(value):
    boxes, scores = crowd(seed=1)
    boxes[::37, 1] = value
    boxes[5::41, 3] = value
    keep_ref = mmcv_nms(boxes, scores, 0.4)[1]
    assert torch.equal(fast.sweep_nms(boxes, scores, 0.4), keep_ref)


@needs_numba
def test_max_num_and_classes():
    boxes, scores = crowd(seed=3)
    labels = torch.from_numpy(np.random.default_rng(3).integers(0, 3, len(boxes)))
    cfg = dict(type='nms', iou_threshold=0.45)
    dets_ref, keep_ref = mmcv_batched_nms(boxes, scores, labels, cfg)
    dets, keep = fast.sweep_batched_nms(boxes, scores, labels, cfg)
    assert torch.equal(keep, keep_ref) and torch.equal(dets, dets_ref)
    dets_ref, keep_ref = mmcv_batched_nms(boxes, scores, labels, dict(cfg, class_agnostic=True))
    dets, keep = fast.sweep_batched_nms(boxes, scores, labels, dict(cfg, class_agnostic=True))
    assert torch.equal(keep, keep_ref)
    limited = fast.sweep_nms(boxes, scores, 0.45, max_num=17)
    assert torch.equal(limited, mmcv_nms(boxes, scores, 0.45)[1][:17])


def test_pure_python_fallback_matches_mmcv():
    """The same algorithm without numba (slow: a small input, in several strips)."""
    boxes, scores = crowd(num_faces=6, per_face=8, seed=5, span=200.0)
    order = torch.sort(scores, descending=True, stable=True)[1].numpy()
    by_x = np.argsort(boxes.numpy()[:, 0], kind='stable')
    keep = fast._sweep_nms_py(boxes.numpy(), by_x, order, np.float32(0.4), -1, 10 ** 9)
    assert keep.tolist() == mmcv_nms(boxes, scores, 0.4)[1].tolist()
    # over the work limit it declines
    assert fast._sweep_nms_py(boxes.numpy(), by_x, order, np.float32(0.4), -1, 10).tolist() == [-1]


@needs_numba
def test_wide_overlapping_boxes_stay_cheap():
    """Thousands of near-full-image boxes: every sweep window holds every box (n^2 / 2 pairs), so mmcv's loop,
    which stops at the few survivors, takes over; the result is the same either way."""
    rng = np.random.default_rng(4)
    n = 3000
    boxes = torch.from_numpy(np.concatenate([rng.uniform(0, 20, (n, 2)), rng.uniform(600, 640, (n, 2))], 1)
                             .astype(np.float32))
    scores = torch.from_numpy(rng.permutation(n).astype(np.float32) / n)
    ref = mmcv_nms(boxes, scores, 0.4)[1]
    assert torch.equal(fast.sweep_nms(boxes, scores, 0.4), ref)  # default limit: mmcv's loop
    assert torch.equal(fast.sweep_nms(boxes, scores, 0.4, max_visits=10 ** 9), ref)  # forced sweep
    assert torch.equal(fast.sweep_nms(boxes, scores, 0.4, max_num=1), ref[:1])


def test_falls_back_to_mmcv(monkeypatch):
    boxes, scores = crowd(seed=2)
    idxs = torch.zeros(len(boxes), dtype=torch.long)
    cfg = dict(type='nms', iou_threshold=0.4)
    assert not fast.use_sweep(boxes[:fast.MIN_BOXES_FOR_SWEEP - 1], cfg)  # few boxes
    assert not fast.use_sweep(boxes, dict(cfg, offset=1))
    assert not fast.use_sweep(boxes, dict(type='soft_nms', iou_threshold=0.4))
    assert not fast.use_sweep(boxes, None)
    monkeypatch.setattr(fast, '_sweep_nms', None)  # numba missing
    assert not fast.use_sweep(boxes, cfg)
    dets, keep = fast.sweep_batched_nms(boxes, scores, idxs, cfg)
    assert torch.equal(keep, mmcv_nms(boxes, scores, 0.4)[1])
    assert fast.sweep_batched_nms(boxes[:0], scores[:0], idxs[:0], cfg)[1].numel() == 0


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize('cfg', [dict(type='nms', iou_threshold=0.4), dict(type='nms', iou_threshold=0.4, offset=1),
                                 dict(type='soft_nms', iou_threshold=0.4)])
def test_mmcv_path_takes_other_float_dtypes(dtype, cfg):
    """Few boxes (mmcv's path) from float16 autocast: mmcv's CPU kernels take float32 only (before: 'expected
    scalar type Float but found Half'); the result is mmcv's on float32 copies, in the input dtype."""
    boxes, scores = crowd(num_faces=3, per_face=5, seed=3)
    boxes, scores = boxes.to(dtype), scores.to(dtype)
    idxs = torch.zeros(len(boxes), dtype=torch.long)
    assert not fast.use_sweep(boxes, cfg)
    dets, keep = fast.sweep_batched_nms(boxes, scores, idxs, cfg)
    dets_ref, keep_ref = mmcv_batched_nms(boxes.float(), scores.float(), idxs, cfg)
    assert dets.dtype == dtype and torch.equal(keep, keep_ref) and len(keep) > 1
    torch.testing.assert_close(dets.float(), dets_ref.to(dtype).float())
