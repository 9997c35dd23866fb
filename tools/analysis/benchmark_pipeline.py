"""Training-pipeline throughput (images/s in one process, i.e. per dataloader worker) on real-sized photos.

    python tools/analysis/benchmark_pipeline.py [--images ../shared/real/images] [--config CFG] [--iters 40]

Uses ``train_pipeline`` of the config (default: the SCRFD WIDER FACE recipe, 640x640 output) with synthetic faces
(boxes + 5 landmarks) on the given photos. Logic: :mod:`mmdet_face.datasets.benchmark`.
"""
import argparse
import os.path as osp

from mmengine.config import Config

from mmdet_face.datasets.benchmark import benchmark_pipeline, default_images

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', default=osp.join(REPO, '..', 'shared', 'real', 'images'),
                        help='folder of .jpg/.png photos (default: ../shared/real/images)')
    parser.add_argument('--config', default=osp.join(REPO, 'configs', '_base_', 'datasets', 'widerface.py'))
    parser.add_argument('--iters', type=int, default=40)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    paths = default_images(args.images)
    r = benchmark_pipeline(cfg.train_pipeline, paths, iters=args.iters, seed=args.seed)
    print(f'train pipeline on {len(paths)} photos from {args.images}: {r["images_per_s"]:.1f} images/s per worker '
          f'({r["ms_per_image"]:.1f} ms/image, {r["iters"]} images, output {r["out_shape"]})')


if __name__ == '__main__':
    main()
