"""Generated FDDB data for the tests: synthetic images with ellipse annotations and detections in the layout the
official ``evaluate`` program reads (:func:`make_case`), and a tiny ``FDDB-folds`` / ``originalPics`` tree
(:func:`make_fddb_layout`)."""
import numpy as np


def make_case(root, seed, det_format, num_images=40, num_scores=9):
    """Synthetic FDDB-layout data under ``root``: ``img/<name>.jpg``, ``list.txt``, ``ann.txt``, ``det.txt``;
    returns ``(names, annotations, detections, sizes)``. Each annotated ellipse has its centre in the image (it may
    reach outside): one wholly outside, against a detection wholly outside, makes the official program divide 0 by
    0 and its solver loop forever on the NaN."""
    import cv2
    rng = np.random.default_rng(seed)
    # num_scores score values: few give ties within and across images, many a long ROC
    levels = np.round(np.linspace(0.05, 0.95, num_scores), 6)
    names, annotations, detections, sizes = [], {}, {}, {}
    (root / 'img' / 'set').mkdir(parents=True)
    for i in range(num_images):
        name = f'set/img_{i}'
        names.append(name)
        height, width = int(rng.integers(40, 140)), int(rng.integers(40, 140))
        cv2.imwrite(str(root / 'img' / f'{name}.jpg'), np.full((height, width, 3), 127, np.uint8))
        sizes[name] = (height, width)
        k = int(rng.integers(1, 4))
        ellipses = np.stack([rng.uniform(6, 30, k), rng.uniform(4, 20, k), rng.uniform(-1.6, 1.6, k),
                             rng.uniform(0, width - 1, k), rng.uniform(0, height - 1, k)], axis=1)
        annotations[name] = ellipses
        dets = []
        if i % 7 != 3:  # every seventh image has no detection
            for ra, rb, angle, cx, cy in ellipses:
                for _ in range(int(rng.integers(0, 3))):  # 0: a miss
                    jitter = rng.normal(0, 4, 4)
                    if det_format == 'rectangle':
                        dets.append([cx - rb + jitter[0], cy - ra + jitter[1], max(2 * rb + jitter[2], 0),
                                     max(2 * ra + jitter[3], 0), rng.choice(levels)])
                    else:
                        dets.append([max(ra + jitter[2], 0), max(rb + jitter[3], 0), angle + rng.normal(0, 0.3),
                                     cx + jitter[0], cy + jitter[1], rng.choice(levels)])
                    if rng.random() < 0.3:
                        dets.append(list(dets[-1]))  # an exact duplicate
                    if rng.random() < 0.2:
                        dets.append(list(dets[-1][:-1]) + [rng.choice(levels)])  # the same region, another score
            for _ in range(int(rng.integers(0, 4))):  # false positives, partly or wholly outside the image
                if det_format == 'rectangle':
                    dets.append([rng.uniform(-30, width), rng.uniform(-30, height), rng.choice([0.0, 5.0, 40.0]),
                                 rng.uniform(0, 50), rng.choice(levels)])
                else:
                    dets.append([rng.uniform(0, 25), rng.uniform(0, 25), rng.uniform(-3, 3),
                                 rng.uniform(-30, width + 30), rng.uniform(-30, height + 30), rng.choice(levels)])
        detections[name] = np.array(dets, np.float64).reshape(-1, 5 if det_format == 'rectangle' else 6)
    (root / 'list.txt').write_text(''.join(f'{n}\n' for n in names))
    (root / 'ann.txt').write_text(''.join(
        f'{n}\n{len(annotations[n])}\n' + ''.join(' '.join(repr(float(v)) for v in e) + ' 1\n'
                                                  for e in annotations[n]) for n in names))
    (root / 'det.txt').write_text(''.join(
        f'{n}\n{len(detections[n])}\n' + ''.join(' '.join(repr(float(v)) for v in d) + '\n'
                                                 for d in detections[n]) for n in names))
    return names, annotations, detections, sizes


def make_fddb_layout(root, folds=(1, 2), images_per_fold=2, seed=0):
    """A tiny FDDB download under ``root``: ``FDDB-folds/FDDB-fold-XX.txt`` and ``-ellipseList.txt`` for ``folds``,
    ``originalPics/<year>/<month>/<day>/big/img_<n>.jpg`` (noise images of 64-96 px); returns ``{name: (K, 5)
    ellipses}`` in list order."""
    import cv2
    rng = np.random.default_rng(seed)
    (root / 'FDDB-folds').mkdir(parents=True)
    annotations, n = {}, 0
    for fold in folds:
        names, blocks = [], []
        for _ in range(images_per_fold):
            name = f'2002/08/{fold:02d}/big/img_{n}'
            n += 1
            height, width = int(rng.integers(64, 97)), int(rng.integers(64, 97))
            path = root / 'originalPics' / f'{name}.jpg'
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
            k = int(rng.integers(1, 3))
            ellipses = np.stack([rng.uniform(12, 20, k), rng.uniform(8, 12, k), rng.uniform(1.2, 1.6, k),
                                 rng.uniform(20, width - 20, k), rng.uniform(20, height - 20, k)], axis=1)
            annotations[name] = ellipses
            names.append(name)
            blocks.append(f'{name}\n{k}\n' + ''.join(' '.join(f'{v:.6f}' for v in e) + '  1\n' for e in ellipses))
        (root / 'FDDB-folds' / f'FDDB-fold-{fold:02d}.txt').write_text(''.join(f'{m}\n' for m in names))
        (root / 'FDDB-folds' / f'FDDB-fold-{fold:02d}-ellipseList.txt').write_text(''.join(blocks))
    return annotations
