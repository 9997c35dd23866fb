"""The hand-checked sample the transform tests share: an 80 x 100 image with three faces (A: kept, its right mouth
corner invisible; B: an ignore box; C: kept, touching the right border area), loaded by ``LoadFaceAnnotations``."""
import numpy as np

from mmdet_face.datasets.transforms import LoadFaceAnnotations

KPS_A = [[20, 30], [40, 31], [30, 45], [22, 55], [38, 56]]
KPS_C = [[78, 60], [90, 60], [84, 66], [80, 72], [88, 72]]


def three_faces(ignore_all=False):
    """A fresh results dict (boxes ``[10, 20, 50, 70]``, ``[60, 10, 90, 40]`` ignored, ``[70, 50, 98, 78]``);
    ``ignore_all`` marks A and C as ignore boxes too."""
    img = (np.arange(80 * 100 * 3) % 251).astype(np.uint8).reshape(80, 100, 3)
    instances = [
        dict(bbox=[10, 20, 50, 70], bbox_label=0, ignore_flag=int(ignore_all), keypoints=KPS_A,
             keypoints_weights=[1, 1, 1, 1, 0]),
        dict(bbox=[60, 10, 90, 40], bbox_label=0, ignore_flag=1, keypoints=[[0, 0]] * 5, keypoints_weights=[0] * 5),
        dict(bbox=[70, 50, 98, 78], bbox_label=0, ignore_flag=int(ignore_all), keypoints=KPS_C,
             keypoints_weights=[1] * 5),
    ]
    results = dict(img=img, img_shape=(80, 100), ori_shape=(80, 100), img_id='0--Toy/x', img_path='x.jpg',
                   instances=instances)
    return LoadFaceAnnotations()(results)
