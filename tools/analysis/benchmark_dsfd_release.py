"""CPU latency of our DSFD-ResNet-152 against the released DSFD module, same weights, same machine, same run.

    python tools/analysis/benchmark_dsfd_release.py [--size 480 640] [--threads 1] [--repeat 3]

The release's module is the ``face-detection==0.2.2`` package's ``SSD(resnet152_model_config)`` (key-for-key the
Tencent release). It needs torchvision, which no build for our CPU torch imports cleanly, so everything runs in the
child process of the parity harness ``tools/analysis/release_reference.py`` (it downloads the sdist and a
torchvision wheel into a cache outside the repository and shims torchvision's NMS there; the project's environment
is never touched; our package imports there unchanged and uses no torchvision op). The release weights cannot be
downloaded, so the child builds the module with seeded random weights and calibrated BatchNorm statistics (finite
activations: NaN / denormal arithmetic would distort the timing), converts its state dict with our converter into
``configs/dsfd/dsfd_r152_release_widerface.py`` (strict load) and times, on the same BGR mean-subtracted tensor:

  release     the package's ``SSD.forward``: network, prior boxes (its Python loop, cached per input size after the
              first call) and decoding; no score threshold, no NMS (its ``detect`` does those afterwards)
  ours        our model as built: network, then ``predict_by_feat`` (score > 0.01, top 5000, NMS 0.3, 750), with
              the post-processing share printed
  ours (opt)  the same as FaceDetector runs it (BatchNorm folded, channels-last, conv + ReLU fused)

After one warm-up call of each, the three are called in turn ``--repeat`` times (so a load change on a shared
machine hits them alike) and each figure is the median. Run it on an otherwise idle machine.
"""
import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from mmdet_face.engine.cli import positive_int  # noqa: E402  (light: no torch)

CHILD = r'''
import statistics, sys, time
repo, height, width, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, repo)
import torch

import mmdet_face  # noqa: F401
from mmdet_face.apis import cpu_runtime
from mmdet_face.apis.inference import init_face_detector
from mmdet_face.deployment.dsfd_pth_import import convert_dsfd_state_dict

gen = torch.Generator().manual_seed(1)
net = dsfd_release_net(gen)   # the harness's helper: seeded random weights, calibrated BatchNorm statistics
mean = torch.tensor([104., 117., 123.])[:, None, None]
x = torch.randint(0, 256, (1, 3, height, width), generator=gen).float() - mean

config = repo + '/configs/dsfd/dsfd_r152_release_widerface.py'
converted, _ = convert_dsfd_state_dict(net.state_dict())
model, opt = init_face_detector(config), init_face_detector(config)
for m in (model, opt):
    m.load_state_dict(converted, strict=True)
    m.eval()
opt = cpu_runtime.optimize_for_inference(opt, torch.device('cpu'))
metas = [dict(img_shape=(height, width), batch_input_shape=(height, width), ori_shape=(height, width),
              scale_factor=(1.0, 1.0))]
x_last = x.contiguous(memory_format=torch.channels_last)
post = []


def release():
    out = net(x, None, None)
    assert torch.isfinite(out).all()


def ours(m, inp, record=False):
    outs = m.bbox_head(m.extract_feat(inp))
    start = time.perf_counter()
    m.bbox_head.predict_by_feat(*outs, batch_img_metas=metas, rescale=True)
    if record:
        post.append(time.perf_counter() - start)


calls = dict(release=release, ours=lambda: ours(model, x, True), opt=lambda: ours(opt, x_last))
times = {name: [] for name in calls}
with torch.no_grad():
    for i in range(repeat + 1):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
for name, values in times.items():
    print(f'{name} {values[0]:.4f} {statistics.median(values[1:]):.4f}')
print(f'post {statistics.median(post[1:]):.4f}')
'''


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=positive_int, nargs=2, default=(480, 640), metavar=('H', 'W'),
                        help='input height and width (default 480 640: a 640x480 image)')
    parser.add_argument('--threads', type=positive_int, default=1, help='torch threads (default 1)')
    parser.add_argument('--repeat', type=positive_int, default=3,
                        help='timed calls of each after one warm-up (default 3)')
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO / 'tools' / 'analysis'))
    from release_reference import ReferenceRunError, run_reference  # the parity harness, a sibling of this tool
    height, width = args.size
    print(f'running face-detection 0.2.2 SSD(resnet152) and ours in the reference child '
          f'({args.threads} thread(s), {width}x{height})...', flush=True)
    try:
        proc = run_reference(CHILD, args=[REPO, height, width, args.repeat], timeout=3600, threads=args.threads)
    except ReferenceRunError as err:
        sys.exit(f'error: the benchmark child failed: {err}')
    figures = {}
    for line in proc.stdout.splitlines():
        name, *values = line.split()
        figures[name] = [float(v) for v in values]
    (release_first, release), (ours_first, ours), (_, ours_opt) = figures['release'], figures['ours'], figures['opt']
    post = figures['post'][0]
    print(f'DSFD-R152, {width}x{height}, {args.threads} thread(s), median of {args.repeat} after a warm-up:')
    print(f'  release module (net + priors + decode, no NMS): {release:7.2f} s   (first call {release_first:.2f} s)')
    print(f'  ours (net + decode + NMS):                      {ours:7.2f} s   (first call {ours_first:.2f} s; '
          f'post-processing {post * 1000:.0f} ms = {100 * post / ours:.1f} %)')
    print(f'  ours as FaceDetector runs it (BN folded, channels-last, conv+ReLU fused): {ours_opt:7.2f} s')
    print(f'  release / ours: {release / ours:.2f}x, release / ours (opt): {release / ours_opt:.2f}x')


if __name__ == '__main__':
    main()
