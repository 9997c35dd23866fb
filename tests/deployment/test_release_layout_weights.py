"""The random release-layout weights of tests/helpers/release_weights.py are what the converters expect of a release:
the DSFD state dict converts back to the model it came from (keys, values, the PyramidBox channels dropped), the
SCRFD ONNX file has BN folded into biased convolutions (no BatchNormalization node) and the release's outputs, and
the RetinaFace state dict is the MobileNet-0.25 release's key set."""
import pytest
import torch

from mmdet_face.apis.inference import init_face_detector
from mmdet_face.deployment.dsfd_pth_import import convert_dsfd_state_dict
from mmdet_face.deployment.retinaface_pth_import import MOBILENET, check_release_state
from tests.helpers.paths import REPO_ROOT
from tests.helpers.release_weights import (DSFD_RELEASE_OUT_CHANNELS, dsfd_release_state, retinaface_release_state,
                                           scrfd_release_onnx)


def test_dsfd_release_state_converts_back_exactly(tmp_path):
    graph = tmp_path / 'dsfd_toy_second_shot.py'
    graph.write_text(f"_base_ = [{str(REPO_ROOT / 'configs/toy/dsfd_toy.py')!r}]\n"
                     "model = dict(bbox_head=dict(first_shot=None))\n")
    ours = init_face_detector(str(graph)).state_dict()
    release = dsfd_release_state(ours)
    assert not [k for k in release if k.endswith('num_batches_tracked')]
    for head, outs in DSFD_RELEASE_OUT_CHANNELS.items():
        assert [release[f'{head}.{level}.conv4.bias'].shape[0] for level in range(6)] == outs
    converted, dropped = convert_dsfd_state_dict(release)
    assert dropped['channels'] == sum(DSFD_RELEASE_OUT_CHANNELS['loc']) + sum(DSFD_RELEASE_OUT_CHANNELS['conf']) - 48
    assert list(converted) == list(ours)
    for key, value in ours.items():
        assert torch.equal(converted[key], value), key


def test_scrfd_release_onnx_has_bn_folded(tmp_path):
    onnx = pytest.importorskip('onnx')
    graph = onnx.load(str(scrfd_release_onnx(tmp_path / 'release.onnx'))).graph
    convs = [n for n in graph.node if n.op_type == 'Conv']
    assert not [n for n in graph.node if n.op_type == 'BatchNormalization']
    # as scrfd_500m_bnkps.onnx: 60 convs, each carrying its folded bias
    assert len(convs) == 60 and all(len(n.input) == 3 for n in convs)
    assert [o.name for o in graph.output] == [f'{k}_{s}' for k in ('score', 'bbox', 'kps') for s in (8, 16, 32)]


def test_retinaface_release_state_is_the_mobilenet_release_layout():
    state = retinaface_release_state()
    assert len(state) == 300 and check_release_state(state) == MOBILENET
