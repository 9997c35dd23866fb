"""The small toy WIDER FACE set that the tests which train for real share (tools/train.py, the search worker and
end-to-end search): 8 train / 4 val synthetic images of 160 px with five landmarks, in the WIDER FACE layout."""

SMALL_TOY = dict(num_train=8, num_val=4, size=160, seed=3)


def make_small_toy_set(root):
    """Write the small toy set under ``root`` (a new or empty folder) and return ``root``."""
    from mmdet_face.datasets.toy import make_toy_widerface  # here, so that conftest.py imports no torch
    make_toy_widerface(str(root), **SMALL_TOY)
    return root


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
