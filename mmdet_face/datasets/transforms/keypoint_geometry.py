"""Guard against geometry transforms that move the image but not ``gt_keypoints``.

mmdet's ``Resize`` / ``RandomFlip`` (a config that writes ``mmdet.Resize``, or one built outside the ``mmdet_face``
scope) move the image and the boxes but know nothing of landmarks: the sample would train on landmarks in the
wrong place with no error. So :class:`LoadFaceAnnotations` and every keypoint-aware transform record the geometry
the keypoints are in (the ``img_shape``, ``scale_factor``, ``flip`` and ``flip_direction`` entries that mmcv / mmdet
geometry transforms set), and :class:`PackFaceInputs` checks that nothing changed them since: a transform that did
changed the image without moving the keypoints. A Resize placed before ``LoadFaceAnnotations`` (test pipelines:
ground truth stays in original-image pixels) is fine, the record is taken when the keypoints are loaded.
"""
import numpy as np

GEOMETRY_KEYS = ('img_shape', 'scale_factor', 'flip', 'flip_direction')
RECORD_KEY = 'keypoints_geometry'

_MISSING = '<not set>'


def _current(results: dict) -> dict:
    out = {}
    for key in GEOMETRY_KEYS:
        value = results.get(key, _MISSING)
        # tuples and lists (and numpy shapes) compare as tuples of floats
        if isinstance(value, (tuple, list, np.ndarray)):
            value = tuple(float(v) for v in np.asarray(value, dtype=np.float64).ravel())
        out[key] = value
    return out


def record_keypoint_geometry(results: dict) -> dict:
    """Note that ``gt_keypoints`` (if any) are in the image geometry ``results`` now describes."""
    results[RECORD_KEY] = _current(results)
    return results


def check_keypoint_geometry(results: dict) -> None:
    """Raise ``ValueError`` if a transform changed the image geometry after the keypoints were last moved.

    Nothing is checked without ``gt_keypoints`` or without a record (results built by hand).
    """
    if results.get('gt_keypoints', None) is None or RECORD_KEY not in results:
        return
    recorded, now = results[RECORD_KEY], _current(results)
    changed = [key for key in GEOMETRY_KEYS if recorded.get(key, _MISSING) != now[key]]
    if not changed:
        return
    if 'scale_factor' in changed:
        hint = "a resize: use type='FaceResize' (not 'Resize' / 'mmdet.Resize')"
    elif 'flip' in changed or 'flip_direction' in changed:
        hint = "a flip: use type='FaceRandomFlip' (not 'RandomFlip' / 'mmdet.RandomFlip')"
    else:
        hint = ('a change of image size: use a keypoint-aware transform (FaceResize, RandomSquareCrop, '
                'DataAnchorSampling)')
    details = ', '.join(f'{key} {recorded.get(key, _MISSING)} -> {now[key]}' for key in changed)
    raise ValueError(f'{results.get("img_path", "<no img_path>")}: a transform after LoadFaceAnnotations changed '
                     f'the image geometry ({details}) without moving gt_keypoints; this looks like {hint}')
