"""Training-pipeline throughput (images/s in one process, i.e. per dataloader worker) on real-sized photos.

    python tools/analysis/benchmark_pipeline.py [--images ../shared/real/images] [--config CFG] [--iters 40]

Uses ``train_pipeline`` of the config (default: the SCRFD WIDER FACE recipe, 640x640 output) with synthetic faces
(random boxes with 5 landmarks inside them), since only the cost of decoding + geometry + photometric jitter +
packing matters here.
"""
import argparse
import glob
import os.path as osp
import time
from typing import Dict, List, Sequence

import numpy as np
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmdet_face.engine.cli import positive_int, read_tool_config, seed_int


def synthetic_instances(rng: np.random.Generator, width: int, height: int, num_faces: int = 20) -> List[dict]:
    """``num_faces`` random faces (side 8..25 % of the short side) with 5 landmarks inside each box."""
    short = min(width, height)
    instances = []
    for _ in range(num_faces):
        s = rng.uniform(0.08, 0.25) * short
        x1, y1 = rng.uniform(0, width - s), rng.uniform(0, height - s)
        kps = np.stack([rng.uniform(x1, x1 + s, 5), rng.uniform(y1, y1 + s, 5)], 1)
        instances.append(dict(bbox=[x1, y1, x1 + s, y1 + s], bbox_label=0, ignore_flag=0, keypoints=kps.tolist(),
                              keypoints_weights=[1.0] * 5))
    return instances


def benchmark_pipeline(pipeline_cfg: Sequence[dict], image_paths: Sequence[str], iters: int = 40,
                       warmup: int = 3, seed: int = 0, single_thread: bool = True) -> Dict[str, float]:
    """Run the pipeline ``warmup + iters`` times cycling over ``image_paths``; return images/s and ms/image.

    ``single_thread`` makes OpenCV and torch single-threaded, as they are inside a dataloader worker
    (mmengine's ``opencv_num_threads=0``, torch's one thread per worker), so the figure is per worker.
    """
    import cv2
    import torch

    from mmdet_face.datasets.image_file import image_size as _image_size

    if single_thread:
        cv2.setNumThreads(0)
        torch.set_num_threads(1)

    init_default_scope('mmdet_face')
    pipeline = Compose(pipeline_cfg)
    rng = np.random.default_rng(seed)
    np.random.seed(seed)
    infos = []
    for i, path in enumerate(image_paths):
        w, h = _image_size(path)  # as decoded (EXIF orientation applied), so LoadFaceAnnotations' size check holds
        infos.append(dict(img_path=path, img_id=osp.splitext(osp.basename(path))[0], width=w, height=h,
                          instances=synthetic_instances(rng, w, h), sample_idx=i))
    for i in range(warmup):
        pipeline(dict(infos[i % len(infos)]))
    start = time.perf_counter()
    for i in range(iters):
        out = pipeline(dict(infos[i % len(infos)]))
        assert out is not None
    elapsed = time.perf_counter() - start
    return dict(images_per_s=iters / elapsed, ms_per_image=1000 * elapsed / iters, iters=iters,
                out_shape=tuple(out['inputs'].shape))


def default_images(folder: str) -> List[str]:
    paths = sorted(glob.glob(osp.join(folder, '*.jpg')) + glob.glob(osp.join(folder, '*.png')))
    if not paths:
        raise FileNotFoundError(f'no .jpg/.png images in {folder}')
    return paths


REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', default=osp.join(REPO, '..', 'shared', 'real', 'images'),
                        help='folder of .jpg/.png photos (default: ../shared/real/images)')
    parser.add_argument('--config', default=osp.join(REPO, 'configs', '_base_', 'datasets', 'widerface.py'))
    parser.add_argument('--iters', type=positive_int, default=40)
    parser.add_argument('--seed', type=seed_int, default=0)
    args = parser.parse_args(argv)
    cfg = read_tool_config(args.config)
    paths = default_images(args.images)
    r = benchmark_pipeline(cfg.train_pipeline, paths, iters=args.iters, seed=args.seed)
    print(f'train pipeline on {len(paths)} photos from {args.images}: {r["images_per_s"]:.1f} images/s per worker '
          f'({r["ms_per_image"]:.1f} ms/image, {r["iters"]} images, output {r["out_shape"]})')


if __name__ == '__main__':
    main()
