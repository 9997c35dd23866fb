"""SRN / AInnoFace -> ONNX (mmdet_face/deployment/srn_onnx_export.py): a static export's outputs in the documented
layout (row counts, sigmoid scores, the first step's outputs next to the second's), mapped back to the head's maps
they are what the PyTorch head computes; AInnoFace's max-out levels export through the same layout."""
import numpy as np
import pytest
import torch

from mmdet_face.apis.inference import init_face_detector
from mmdet_face.deployment.srn_onnx_export import (OUTPUT_NAMES, SRNExportWrapper, export_srn_onnx,
                                                   onnx_outputs_to_head_inputs)
from tests.helpers.onnx_backend import TOY_CONFIGS, randomize_weights
from tests.helpers.paths import REPO_ROOT

ort = pytest.importorskip('onnxruntime')


@pytest.mark.parametrize('name', ['srn', 'ainnoface'])
def test_static_export_layout_and_inverse(tmp_path, name):
    model = randomize_weights(init_face_detector(str(REPO_ROOT / TOY_CONFIGS[name])))
    path = tmp_path / f'{name}.onnx'
    assert export_srn_onnx(model, str(path), shape=(128, 128), batch_size=2) == list(OUTPUT_NAMES)
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    x = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    outputs = dict(zip(OUTPUT_NAMES, session.run(None, {'input': x.numpy()})))
    # 2 anchors per location at strides 4..128 on 128 x 128: 2 * (32^2 + 16^2 + 8^2 + 4^2 + 2^2 + 1) rows
    rows = 2 * (32 ** 2 + 16 ** 2 + 8 ** 2 + 4 ** 2 + 2 ** 2 + 1)
    assert {k: v.shape for k, v in outputs.items()} == {
        'score_first': (2, rows, 1), 'bbox_first': (2, rows, 4), 'score_second': (2, rows, 1),
        'bbox_second': (2, rows, 4)}
    assert 0 <= outputs['score_second'].min() and outputs['score_second'].max() <= 1
    with torch.no_grad():
        expected = model.bbox_head(model.extract_feat(x))
    got = onnx_outputs_to_head_inputs(outputs, model.bbox_head, (128, 128))
    for branch, (ref_levels, got_levels) in enumerate(zip(expected, got)):
        for ref, out in zip(ref_levels, got_levels):
            assert out.shape == ref.shape
            np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-3, atol=1e-4, err_msg=f'branch {branch}')
    if name == 'ainnoface':  # the max-out level's second-step logits are the reduced ones (1 per anchor)
        assert model.bbox_head.maxout_levels == (0,) and expected[2][0].shape[1] == 2


def test_the_wrapper_refuses_another_head():
    model = init_face_detector(str(REPO_ROOT / TOY_CONFIGS['retinaface']))
    with pytest.raises(TypeError, match='expected a SRNHead, got RetinaFaceHead'):
        SRNExportWrapper(model)
