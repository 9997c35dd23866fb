"""What the tests of the annotation formats share: tiny images of a given size, and the comparison of two lists of
per-image records (``mmdet_face.datasets.formats``) image by image, face by face."""
import numpy as np


def write_image(path, width, height):
    """A grey JPEG of ``width`` x ``height`` pixels at ``path`` (folders made); returns ``path``."""
    import cv2
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((height, width, 3), 128, np.uint8))
    return path


def face_arrays(faces):
    """``(boxes (N, 4), keypoints (N, 5, 2), weights (N, 5), ignore (N,))`` of a record's faces."""
    return (np.array([f[0] for f in faces], np.float32).reshape(-1, 4),
            np.array([f[1] for f in faces], np.float32).reshape(-1, 5, 2),
            np.array([f[2] for f in faces], np.float32).reshape(-1, 5),
            np.array([f[3] for f in faces], bool))


def assert_same_records(expected, actual, sizes=True):
    """The same images (matched by name, in any order), each with the same faces in the same order: boxes,
    landmarks and weights bit for bit, the same ignore flags; and the same sizes unless ``sizes`` is False."""
    expected = {image['name']: image for image in expected}
    actual = {image['name']: image for image in actual}
    assert sorted(actual) == sorted(expected)
    for name, image in expected.items():
        if sizes:
            assert (actual[name]['width'], actual[name]['height']) == (image['width'], image['height']), name
        for a, b, what in zip(face_arrays(actual[name]['faces']), face_arrays(image['faces']),
                              ('boxes', 'keypoints', 'weights', 'ignore')):
            np.testing.assert_array_equal(a, b, err_msg=f'{name}: {what}')
