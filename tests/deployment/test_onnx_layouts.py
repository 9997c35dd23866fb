"""The pieces the ONNX layouts' inverses share (mmdet_face/deployment/onnx_layouts.py): inverse activations, level
grids, rows back to maps, recognising a file's family from its output names."""
import numpy as np
import pytest
import torch

from mmdet_face.deployment.onnx_layouts import (OnnxLayoutError, family_of_outputs, level_grids, log_probs, logit,
                                                rows_to_maps)


def test_logit_gives_the_sigmoid_back_to_float32_rounding():
    p = np.concatenate([np.linspace(0, 1, 10001, dtype=np.float32),
                        np.float32([1e-30, 1e-7, 0.5, 1 - 2 ** -24, 1 - 2 ** -23, 0.99999])])
    back = torch.sigmoid(logit(p)).numpy()
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, p, rtol=5e-7, atol=0)  # a few ulps: float32 sigmoid's own rounding
    assert back[0] == 0.0 and back[10000] == 1.0  # p = 0 and 1: -inf and +inf, back exactly
    assert logit(np.float32([0.5])).item() == 0.0
    assert logit(np.float32([0.75])).item() == pytest.approx(np.log(3), abs=1e-7)  # log(0.75 / 0.25)


def test_log_probs_give_the_softmax_back():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 8, (1000, 2))
    p = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    back = log_probs(p).softmax(dim=-1).numpy()
    np.testing.assert_allclose(back, p, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(log_probs(np.float32([[0.0, 1.0]])).softmax(-1).numpy(), [[0.0, 1.0]])


def test_level_grids_are_ceil_of_the_input_over_the_stride():
    # 100 x 70 input, strides 8 / 16 / 32: 13 x 9, 7 x 5, 4 x 3 locations, 2 anchors each
    assert level_grids((100, 70), [(8, 8), (16, 16), 32], 2, [234, 70, 24], 'x') == [(13, 9), (7, 5), (4, 3)]
    assert level_grids((100, 70), [8, 16, 32], 2, [328], 'x') == [(13, 9), (7, 5), (4, 3)]  # levels concatenated
    with pytest.raises(OnnxLayoutError, match=r'outputs score_\*: \[234, 70, 12\] rows for an input of 100 x 70, '
                                              r'expected \[234, 70, 24\] \(2 priors per location'):
        level_grids((100, 70), [8, 16, 32], 2, [234, 70, 12], 'outputs score_*')
    with pytest.raises(OnnxLayoutError, match=r'\[164\] rows .* expected 328 '):
        level_grids((100, 70), [8, 16, 32], 2, [164], 'output loc')


def test_rows_to_maps_inverts_the_export_flattening():
    """Rows in the exporters' order (level, row, column, anchor) back to (B, A * C, h, w) maps: the flattening the
    exporters apply (permute(0, 2, 3, 1).reshape(B, -1, C)) of these maps gives the rows again."""
    maps = [torch.arange(2 * 6 * 3 * 4, dtype=torch.float32).reshape(2, 6, 3, 4),
            torch.arange(2 * 6 * 2 * 2, dtype=torch.float32).reshape(2, 6, 2, 2) + 1000]
    rows = torch.cat([m.permute(0, 2, 3, 1).reshape(2, -1, 3) for m in maps], dim=1)  # A = 2 anchors, C = 3
    back = rows_to_maps(rows, [(3, 4), (2, 2)], anchors=2)
    for ref, got in zip(maps, back):
        torch.testing.assert_close(got, ref, rtol=0, atol=0)
    assert back[0][1, 4, 2, 3].item() == maps[0][1, 4, 2, 3].item()


@pytest.mark.parametrize('names, family', [
    (['score_8', 'score_16', 'bbox_8', 'bbox_16', 'kps_8', 'kps_16'], 'SCRFD with keypoints'),
    (['score_8', 'bbox_8'], 'SCRFD without keypoints'),
    (['loc', 'conf', 'landms'], 'RetinaFace'),
    (['conf', 'loc'], 'DSFD'),
    (['score_first', 'bbox_first', 'score_second', 'bbox_second'], 'SRN / AInnoFace'),
    (['output0'], None),
    (['448', '471', '494'], None),
])
def test_family_of_outputs(names, family):
    assert family_of_outputs(names) == family
