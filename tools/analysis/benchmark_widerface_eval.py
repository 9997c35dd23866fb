"""Time the WIDER FACE evaluator against a straightforward single-process port of the official kit.

    python tools/analysis/benchmark_widerface_eval.py [--gt-dir ../shared/widerface_gt] [--fp-per-image 20] [--skip-kit]

Predictions (~100k on the 3226 val images by default) are made from the real ground truth: jittered copies of most
faces, a few duplicates and random false positives, scores in [0, 1], each image sorted by score (as detectors
write them, so the kit's Python port, which does not sort, sees the same order as the MATLAB reader). The kit port
(:mod:`mmdet_face.evaluation.functional.widerface_reference`, the reference the tests check the evaluator against)
follows the kit loop for loop; its IoU is vectorised per image (numpy) where the original calls a compiled Cython
routine, so the comparison does not penalise it for pure-Python IoU.
"""
import argparse
import os.path as osp
import sys
import time

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmdet_face.engine.cli import non_negative_float  # noqa: E402  (light: no torch)
import mmdet_face.evaluation.functional as wf  # noqa: E402  (numpy only)
from mmdet_face.evaluation.functional.widerface_reference import kit_evaluation, kit_ground_truth  # noqa: E402


# --- synthetic predictions --------------------------------------------------------------------------------------
def make_predictions(gt, fp_per_image, seed=0):
    rng = np.random.default_rng(seed)
    preds = {}
    for event, images in gt['boxes'].items():
        preds[event] = {}
        for name, boxes in images.items():
            b = np.asarray(boxes, np.float64).reshape(-1, 4)
            b = b[rng.random(len(b)) < 0.9]
            size = np.maximum(b[:, 2:4], 1)
            b = np.c_[b[:, :2] + rng.normal(0, 0.1, (len(b), 2)) * size, size * np.exp(rng.normal(0, 0.1, (len(b), 2)))]
            dup = b[rng.random(len(b)) < 0.05]
            n_fp = rng.poisson(fp_per_image)
            fp = np.c_[rng.uniform(0, 1000, (n_fp, 2)), rng.uniform(4, 120, (n_fp, 2))]
            boxes = np.concatenate([b, dup, fp])
            scores = np.concatenate([rng.beta(4, 1, len(b)), rng.beta(2, 2, len(dup)), rng.beta(1, 3, n_fp)])
            p = np.c_[boxes, scores]
            preds[event][name] = p[np.argsort(-p[:, 4], kind='stable')]
    return preds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--gt-dir', default=osp.join(osp.dirname(ROOT), 'shared', 'widerface_gt'))
    parser.add_argument('--fp-per-image', type=non_negative_float, default=20.0,
                        help='mean random false positives per image')
    parser.add_argument('--skip-kit', action='store_true', help='time only our evaluator')
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    try:
        gt = wf.load_ground_truth(args.gt_dir)
    except (OSError, ValueError) as err:  # the messages name the file and what was expected
        sys.exit(f'{parser.prog}: --gt-dir {err}')
    t_load = time.perf_counter() - t0
    preds = make_predictions(gt, args.fp_per_image)
    n = sum(len(p) for e in preds.values() for p in e.values())
    print(f'{n} predictions on {sum(len(e) for e in preds.values())} images')

    t0 = time.perf_counter()
    ours = wf.evaluate_widerface(preds, gt)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours_dir = wf.evaluate_widerface(preds, args.gt_dir)
    t_ours_dir = time.perf_counter() - t0
    assert all(ours[s] == ours_dir[s] for s in wf.SETTINGS)
    print(f'ours:     {t_ours:7.2f} s with the ground truth already loaded ({t_load:.2f} s to load it), '
          f'{t_ours_dir:.2f} s from the .mat folder   ' + '  '.join(f'{s} {ours[s]:.6f}' for s in wf.SETTINGS))
    if args.skip_kit:
        return
    t0 = time.perf_counter()
    kit = kit_evaluation(preds, kit_ground_truth(args.gt_dir))
    t_kit = time.perf_counter() - t0
    print(f'kit port: {t_kit:7.2f} s (from the .mat folder)   ' + '  '.join(f'{s} {kit[s]:.6f}' for s in wf.SETTINGS))
    print('max |AP difference|: %.3g' % max(abs(ours[s] - kit[s]) for s in wf.SETTINGS))
    print(f'speedup: {t_kit / t_ours_dir:.1f}x (both from the .mat folder), {t_kit / t_ours:.1f}x with loaded GT')


if __name__ == '__main__':
    main()
