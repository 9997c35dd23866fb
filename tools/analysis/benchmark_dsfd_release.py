"""CPU latency of our DSFD-ResNet-152 against the released DSFD module, same weights, same machine, same run.

    python tools/analysis/benchmark_dsfd_release.py [--size 480 640] [--threads 1] [--repeat 3]

The release's module is the ``face-detection==0.2.2`` package's ``SSD(resnet152_model_config)`` (key-for-key the
Tencent release), run in a child process by the test harness ``tests/release_reference.py`` (it downloads the sdist
and a torchvision wheel into a cache outside the repository and shims torchvision's NMS there; the project's
environment is never touched). The release weights cannot be downloaded, so the child builds the module with seeded
random weights and calibrated BatchNorm statistics (so activations stay finite: NaN / denormal arithmetic would
distort the timing), times it, and saves its weights; this process converts them with our converter and times
``configs/dsfd/dsfd_r152_release_widerface.py`` on the same BGR mean-subtracted tensor:

  release     the package's ``SSD.forward``: network, prior boxes (its Python loop, cached per input size after the
              first call) and decoding; no score threshold, no NMS (its ``detect`` does those afterwards)
  ours        our model as built: network, then ``predict_by_feat`` (score > 0.01, top 5000, NMS 0.3, 750), with
              the post-processing share printed
  ours (opt)  the same as FaceDetector runs it (BatchNorm folded, channels-last, conv + ReLU fused)

Each figure is the median of ``--repeat`` calls after one warm-up call. Run it on an otherwise idle machine.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = r'''
import statistics, sys, time
import torch
from face_detection.dsfd.config import resnet152_model_config
from face_detection.dsfd.face_ssd import SSD

height, width, repeat = (int(v) for v in sys.argv[1:4])
torch.manual_seed(0)
net = SSD(resnet152_model_config)


class Plain(torch.nn.Module):   # calibrate_batchnorm calls module(x); SSD.forward wants two unused arguments
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x, None, None)


gen = torch.Generator().manual_seed(1)
mean = torch.tensor([104., 117., 123.])[:, None, None]
calibrate_batchnorm(Plain(net), [torch.randint(0, 256, (2, 3, 96, 128), generator=gen).float() - mean])
x = torch.randint(0, 256, (1, 3, height, width), generator=gen).float() - mean
times = []
with torch.no_grad():
    for i in range(repeat + 1):
        start = time.perf_counter()
        out = net(x, None, None)
        times.append(time.perf_counter() - start)
assert torch.isfinite(out).all()
torch.save({k: v for k, v in net.state_dict().items() if not k.endswith('num_batches_tracked')},
           OUT / 'release.pth')
torch.save(dict(x=x, times=times[1:], first=times[0]), OUT / 'timing.pth')
'''


def _median_time(fn, repeat):
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), times[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, nargs=2, default=(480, 640), metavar=('H', 'W'),
                        help='input height and width (default 480 640: a 640x480 image)')
    parser.add_argument('--threads', type=int, default=1, help='torch threads on both sides (default 1)')
    parser.add_argument('--repeat', type=int, default=3, help='timed calls after one warm-up (default 3)')
    args = parser.parse_args(argv)
    if args.threads < 1 or args.repeat < 1 or min(args.size) < 1:
        parser.error('--size, --threads and --repeat must be positive')

    sys.path.insert(0, str(REPO))   # the harness lives with the tests
    from tests.release_reference import ReferenceRunError, run_reference
    import torch

    import mmdet_face  # noqa: F401
    from mmdet_face.apis import cpu_runtime
    from mmdet_face.apis.inference import init_face_detector
    from mmdet_face.deployment.dsfd_pth_import import load_release_checkpoint

    torch.set_num_threads(args.threads)   # a tool's own process: set like the child's
    height, width = args.size
    with tempfile.TemporaryDirectory(prefix='dsfd-bench-') as tmp:
        print(f'release module: running face-detection 0.2.2 SSD(resnet152) in the reference child '
              f'({args.threads} thread(s), {width}x{height})...', flush=True)
        try:
            run_reference(CHILD, out_dir=tmp, args=[height, width, args.repeat], timeout=3600, threads=args.threads)
        except ReferenceRunError as err:
            sys.exit(f'error: the release module could not run: {err}')
        timing = torch.load(os.path.join(tmp, 'timing.pth'), weights_only=True)
        state = load_release_checkpoint(os.path.join(tmp, 'release.pth'))
    x = timing['x']
    model = init_face_detector(str(REPO / 'configs/dsfd/dsfd_r152_release_widerface.py'))
    model.load_state_dict(state, strict=True)
    model.eval()
    metas = [dict(img_shape=(height, width), batch_input_shape=(height, width), ori_shape=(height, width),
                  scale_factor=(1.0, 1.0))]

    def run(m, post_times=None):
        with torch.no_grad():
            outs = m.bbox_head(m.extract_feat(x))
            start = time.perf_counter()
            m.bbox_head.predict_by_feat(*outs, batch_img_metas=metas, rescale=True)
            if post_times is not None:
                post_times.append(time.perf_counter() - start)

    post = []
    ours, ours_first = _median_time(lambda: run(model, post), args.repeat)
    opt = cpu_runtime.optimize_for_inference(model, torch.device('cpu'))
    x = x.contiguous(memory_format=torch.channels_last)
    ours_opt, _ = _median_time(lambda: run(opt), args.repeat)
    release = statistics.median(timing['times'])
    print(f'DSFD-R152, {width}x{height}, {args.threads} thread(s), median of {args.repeat} after a warm-up:')
    print(f'  release module (net + priors + decode, no NMS): {release:7.2f} s   (first call {timing["first"]:.2f} s)')
    print(f'  ours (net + decode + NMS):                      {ours:7.2f} s   (first call {ours_first:.2f} s; '
          f'post-processing {statistics.median(post[1:]) * 1000:.0f} ms = '
          f'{100 * statistics.median(post[1:]) / ours:.1f} %)')
    print(f'  ours as FaceDetector runs it (BN folded, channels-last, conv+ReLU fused): {ours_opt:7.2f} s')
    print(f'  release / ours: {release / ours:.2f}x, release / ours (opt): {release / ours_opt:.2f}x')


if __name__ == '__main__':
    main()
