"""tools/analysis/benchmark_inference.py --onnx: several ONNX files side by side (ours FP32, INT8, the official
insightface pipeline on the same files, a PyTorch row), every stage as median and interquartile range, the target
ratios under the table; bad options are one-line errors."""
import re
import runpy
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers.onnx_backend import TOY_CONFIGS, export, random_checkpoint
from tests.helpers.paths import REPO_ROOT, shared_path

cv2 = pytest.importorskip('cv2')
ort = pytest.importorskip('onnxruntime')

TOOL = REPO_ROOT / 'tools/analysis/benchmark_inference.py'
TOY = str(REPO_ROOT / TOY_CONFIGS['scrfd_kps'])
SCRFD_500M = str(REPO_ROOT / 'configs/scrfd/scrfd_500m_bnkps_4xb16-640e_widerface.py')
CROWDED = ('real', 'images', '0_Parade_marchingband_1_765.jpg')
CELL = r'\d+\.\d\d'
ROW = re.compile(r'\s*(\d+) (ours|official|pytorch)\s+(\S+)\s+(fp32|int8|fp16)\s+(\d+)x(\d+)\s+(\d+)'
                 + rf'\s+({CELL})' * 8 + r'\s*$')


@pytest.fixture(scope='module')
def tool():
    return runpy.run_path(str(TOOL))


@pytest.fixture(scope='module')
def toy_files(tmp_path_factory):
    """A seeded toy SCRFD-with-keypoints checkpoint, its dynamic and static (64 x 64) ONNX exports, an INT8
    (dynamically quantised) copy and a 64 x 48 photo-like image."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    folder = tmp_path_factory.mktemp('bench_onnx')
    model = random_checkpoint(TOY_CONFIGS['scrfd_kps'], folder / 'toy.pth')
    export(model, folder / 'toy.onnx', shape=(64, 64), dynamic=True)
    export(model, folder / 'toy_static.onnx', shape=(64, 64))
    quantize_dynamic(str(folder / 'toy.onnx'), str(folder / 'toy_int8.onnx'), weight_type=QuantType.QUInt8)
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / 'photo.png'), cv2.GaussianBlur(image, (5, 5), 2))
    return folder


def _table(out):
    return [ROW.match(line).groups() for line in out.splitlines() if ROW.match(line)]


def test_side_by_side_table(tool, toy_files, capsys):
    tool['main']([TOY, '--onnx', str(toy_files / 'toy.onnx'), f'{toy_files / "toy_int8.onnx"}={TOY}',
                  '--checkpoint', str(toy_files / 'toy.pth'), '--image', str(toy_files / 'photo.png'),
                  '--size', '64x48', '--repeat', '2', '--threads', '1', '--score-thr', '0.3'])
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.lstrip().startswith('row'))
    assert header.split() == ['row', 'pipeline', 'model', 'prec', 'input', 'faces'] + \
        ['pre', 'iqr', 'net', 'iqr', 'decode', 'iqr', 'e2e', 'iqr'], out
    rows = _table(out)
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ('1', 'ours', 'toy.onnx', 'fp32'), ('2', 'official', 'toy.onnx', 'fp32'),
        ('3', 'ours', 'toy_int8.onnx', 'int8'), ('4', 'official', 'toy_int8.onnx', 'int8'),
        ('5', 'pytorch', 'toy.pth', 'fp32')], out
    for row in rows:
        medians = [float(v) for v in row[7::2]]
        iqrs = [float(v) for v in row[8::2]]
        assert all(m > 0 for m in medians) and all(q >= 0 for q in iqrs), row
        assert int(row[6]) > 0, f'no face kept at 0.3: the table says nothing about decoding ({row})'
    # the PyTorch checkpoint and its FP32 export find the same faces; every row ran on the same 64 x 64 input
    assert rows[0][6] == rows[4][6] and {(r[4], r[5]) for r in rows} == {('64', '64')}, out
    assert '2 timed runs per cell' in out and '1 thread(s)' in out and 'score >= 0.3' in out and 'allocator: ' in out
    assert 'cpu: ' in out and 'logical CPUs' in out
    assert re.search(r'row 1 ours toy.onnx fp32: end to end / network \d+\.\d{3} \(target <= 1.15: (NOT )?met\)', out)
    assert re.search(r'row 1 ours / row 2 official pipeline, end to end: \d+\.\d{3} \(target <= 1.00: (NOT )?met\)',
                     out)
    assert re.search(r'agreement at score >= 0.3: faces \d+ ours, \d+ official, \d+ matched', out)
    assert re.search(r'row 3 INT8 toy_int8.onnx vs row 1 FP32 toy.onnx: network \d+\.\d\dx faster '
                     r'\(target >= 1.5: (NOT )?met\)', out)


def test_a_static_graph_runs_at_its_own_size(tool, toy_files, capsys):
    """--size 128x96 runs the dynamic export at 128 x 96 (the 64 x 48 photo enlarged, padded to 32) and the static
    64 x 64 one at its size (letterboxed), in both pipelines."""
    tool['main']([TOY, '--onnx', str(toy_files / 'toy.onnx'), str(toy_files / 'toy_static.onnx'), '--image',
                  str(toy_files / 'photo.png'), '--size', '128x96', '--repeat', '1'])
    rows = _table(capsys.readouterr().out)
    assert [(r[1], r[2], r[4], r[5]) for r in rows] == [
        ('ours', 'toy.onnx', '128', '96'), ('official', 'toy.onnx', '128', '96'),
        ('ours', 'toy_static.onnx', '64', '64'), ('official', 'toy_static.onnx', '64', '64')]


def test_cpu_clock(tool, toy_files, capsys):
    """--clock cpu: the same table, timed by the calling thread's CPU time. onnxruntime with one thread computes on
    the calling thread, so the network's CPU time is counted: a good part of its wall time, not near zero."""
    args = [TOY, '--onnx', str(toy_files / 'toy.onnx'), '--image', str(toy_files / 'photo.png'), '--size',
            '256x192', '--repeat', '5']
    tool['main'](args + ['--clock', 'cpu'])
    out = capsys.readouterr().out
    assert 'milliseconds (CPU time of the calling thread)' in out, out
    rows = _table(out)
    assert [(r[1], r[2]) for r in rows] == [('ours', 'toy.onnx'), ('official', 'toy.onnx')], out
    tool['main'](args)
    wall = _table(capsys.readouterr().out)
    for cpu_row, wall_row in zip(rows, wall):
        assert all(float(v) > 0 for v in cpu_row[7::2]), cpu_row
        assert float(cpu_row[9]) > 0.2 * float(wall_row[9]), (cpu_row, wall_row)  # net


def test_official_pipeline_matches_insightface_conventions(tool):
    """Hand-made outputs of one 16 x 16 input (strides 8 / 16 / 32: 4 + 1 + 0 locations, 2 anchors each): the
    boxes are centre -/+ distance * stride, divided by det_scale, sorted by score, overlapping ones suppressed with
    the +1 area convention, scores below the threshold dropped."""
    class Session:
        def get_inputs(self):
            return [type('I', (), {'name': 'input.1'})()]

        def get_outputs(self):
            return [type('O', (), {'name': n})() for n in ('s8', 's16', 's32', 'b8', 'b16', 'b32', 'k8', 'k16', 'k32')]

    pipe = tool['InsightfaceScrfdPipeline'](Session(), (16, 16), score_thr=0.5)
    scores = [np.zeros((1, 8, 1), np.float32), np.zeros((1, 2, 1), np.float32), np.zeros((1, 0, 1), np.float32)]
    boxes = [np.ones((1, 8, 4), np.float32), np.ones((1, 2, 4), np.float32), np.ones((1, 0, 4), np.float32)]
    kps = [np.zeros((1, 8, 10), np.float32), np.zeros((1, 2, 10), np.float32), np.zeros((1, 0, 10), np.float32)]
    scores[0][0, 3, 0] = 0.9   # stride 8, row 3: location 1 = (x 1, y 0) -> centre (8, 0), anchor 1
    scores[0][0, 2, 0] = 0.8   # the same location, anchor 0: the same box, suppressed
    scores[0][0, 6, 0] = 0.49  # below the threshold
    scores[1][0, 0, 0] = 0.7   # stride 16, centre (0, 0): box (-16, -16, 16, 16); IoU with (0, -8, 16, 8) < 0.4
    kps[0][0, 3] = np.arange(10) / 8.0  # offsets 0..9 px after the stride
    dets, kpss = pipe.decode(scores + boxes + kps, det_scale=0.5)
    np.testing.assert_allclose(dets, [[0, -16, 32, 16, 0.9], [-32, -32, 32, 32, 0.7]])
    np.testing.assert_allclose(kpss[0], (np.array([8, 0] * 5) + np.arange(10)).reshape(5, 2) / 0.5)
    # the letterbox: a 100 x 50 (w x h) image into 16 x 16 fills the width, height int(16 * 0.5) = 8
    blob, det_scale = pipe.preprocess(np.full((50, 100, 3), (0, 0, 255), np.uint8))
    assert blob.shape == (1, 3, 16, 16) and det_scale == 8 / 50
    np.testing.assert_allclose(blob[0, :, 0, 0], [(255 - 127.5) / 128, -127.5 / 128, -127.5 / 128])  # RGB
    np.testing.assert_allclose(blob[0, :, 8, 0], [-127.5 / 128] * 3)  # black padding below


def test_official_pipeline_agrees_on_the_released_scrfd(tool):
    """insightface's pipeline and OnnxFaceDetector on the released SCRFD-500M-kps file and the crowded photo find
    the same faces (both letterbox to 640 x 640 the same way)."""
    from mmdet_face.apis.face_detector import read_image
    from mmdet_face.deployment.onnx_runtime import OnnxFaceDetector
    onnx_file = str(shared_path('real', 'weights', 'scrfd_500m_bnkps.onnx'))
    img = read_image(str(shared_path(*CROWDED)))
    detector = OnnxFaceDetector(SCRFD_500M, onnx_file, ort_threads=1)
    pipe = tool['InsightfaceScrfdPipeline'](ort.InferenceSession(onnx_file, providers=['CPUExecutionProvider']),
                                            (640, 640), score_thr=0.5)
    dets, kpss = pipe(img)
    ours = detector(img, score_thr=0.5)
    count_ours, count_official, matched, worst = tool['detection_agreement'](ours.bboxes, dets)
    assert count_ours == count_official == matched and count_ours > 30, (count_ours, count_official, matched)
    assert worst < 0.01 and kpss.shape == (count_ours, 5, 2)


def _run(*args):
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, cwd=REPO_ROOT,
                          timeout=300)


@pytest.mark.parametrize('extra, message', [
    (['--onnx', 'missing.onnx'], '--onnx missing.onnx: no such file'),
    (['--onnx', '{onnx}=nowhere.py'], '=nowhere.py: no such config file'),
    (['--onnx', '{onnx}', '--image', 'nowhere.jpg'], '--image nowhere.jpg: no such file'),
    (['--onnx', '{onnx}', '--fp16'], '--fp16 runs with --device cuda only'),
    (['--onnx', '{onnx}', '--size', '64x48', '32x32'], '--onnx takes one --size WxH'),
    (['--onnx', '{onnx}', '--clock', 'cpu', '--threads', '2'], '--clock cpu measures the calling thread: it needs '
                                                               '--threads 1 and --device cpu'),
    (['--clock', 'cpu'], '--clock belongs to the ONNX mode'),
])
def test_bad_options_are_clear_errors(toy_files, extra, message):
    result = _run(TOY, *[e.format(onnx=toy_files / 'toy.onnx') for e in extra])
    assert result.returncode == 2 and message in result.stderr and 'Traceback' not in result.stderr, result.stderr


def test_cuda_where_there_is_none(toy_files):
    if 'CUDAExecutionProvider' in ort.get_available_providers():
        pytest.skip('onnxruntime has a CUDA provider here')
    result = _run(TOY, '--onnx', str(toy_files / 'toy.onnx'), '--device', 'cuda')
    assert result.returncode == 2 and 'Traceback' not in result.stderr, result.stderr
    assert "CUDAExecutionProvider is not available here" in result.stderr, result.stderr
