"""The small toy WIDER FACE set that the tests which train for real share (tools/train.py, the search worker and
end-to-end search): 8 train / 4 val synthetic images of 160 px with five landmarks, in the WIDER FACE layout."""

SMALL_TOY = dict(num_train=8, num_val=4, size=160, seed=3)
LANDMARK_CHOICES = ('all', 'none', 'mixed')


def make_small_toy_set(root, landmarks='all'):
    """Write the small toy set under ``root`` (a new or empty folder) and return ``root``.

    ``landmarks`` (train and val alike): ``'all'`` as generated (faces narrower than 12 px carry none, as in the
    RetinaFace annotations); ``'none'``: no face has landmarks (face lines "x1 y1 x2 y2 -1 -1 -1 ...");
    ``'mixed'``: of the faces with landmarks, the 1st, 4th, 7th ... lose them all, the 2nd, 5th ... lose their two
    mouth corners (per-point flags -1), the others keep them.
    """
    from mmdet_face.datasets.toy import make_toy_widerface  # here, so that conftest.py imports no torch
    if landmarks not in LANDMARK_CHOICES:
        raise ValueError(f'landmarks must be one of {LANDMARK_CHOICES}, got {landmarks!r}')
    make_toy_widerface(str(root), **SMALL_TOY)
    if landmarks != 'all':
        for split in ('train', 'val'):
            path = root / split / 'labelv2.txt'
            path.write_text(_drop_landmarks(path.read_text(), landmarks))
    return root


def _drop_landmarks(text, landmarks):
    """labelv2 text with landmarks removed as :func:`make_small_toy_set` describes."""
    lines, annotated = [], 0
    for line in text.splitlines():
        tokens = line.split()
        if line.startswith('#') or len(tokens) != 19 or tokens[6] == '-1.0':
            lines.append(line)
            continue
        points = [tokens[4 + 3 * k:7 + 3 * k] for k in range(5)]
        if landmarks == 'none' or annotated % 3 == 0:
            points = [['-1.0'] * 3] * 5
        elif annotated % 3 == 1:
            points[3:] = [['-1.0'] * 3] * 2
        annotated += 1
        lines.append(' '.join(tokens[:4] + [v for point in points for v in point]))
    return '\n'.join(lines) + '\n'


def make_toy_afw(root, num_images=3, size=160, seed=5, ann_name='new_annotations_AFW.mat', image_dir='testimages'):
    """A tiny AFW-layout folder under ``root``: ``testimages/<n>.jpg`` with synthetic faces and the re-annotation
    file ``new_annotations_AFW.mat`` (structure of Mathias et al.'s; faces under 10 px flagged). Returns the list
    of images written (``name``, ``faces`` (K, 4), ``ignored`` (K,), ``size`` (w, h))."""
    import os

    import cv2
    import numpy as np

    from mmdet_face.datasets.toy import make_image
    from mmdet_face.evaluation.functional.afw_pascal_files import write_face_eval_annotations
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(str(root), image_dir), exist_ok=True)
    images = []
    for i in range(num_images):
        img, faces = make_image(rng, size)
        name = f'{1000 + i}.jpg'
        cv2.imwrite(os.path.join(str(root), image_dir, name), img)
        images.append(dict(name=name, faces=np.array([f['box'] for f in faces], float).reshape(-1, 4),
                           ignored=np.array([f['ignore'] for f in faces], bool), size=(img.shape[1], img.shape[0])))
    write_face_eval_annotations(os.path.join(str(root), ann_name), images)
    return images
