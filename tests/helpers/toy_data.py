"""The small toy WIDER FACE set that the tests which train for real share (tools/train.py, the search worker and
end-to-end search): 8 train / 4 val synthetic images of 160 px with five landmarks, in the WIDER FACE layout."""

SMALL_TOY = dict(num_train=8, num_val=4, size=160, seed=3)


def make_small_toy_set(root):
    """Write the small toy set under ``root`` (a new or empty folder) and return ``root``."""
    from mmdet_face.datasets.toy import make_toy_widerface  # here, so that conftest.py imports no torch
    make_toy_widerface(str(root), **SMALL_TOY)
    return root
