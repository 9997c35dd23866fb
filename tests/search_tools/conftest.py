"""Fixtures shared by the search_tools tests that train for real (test_search_e2e, test_worker)."""
import pytest


@pytest.fixture(scope='module')
def toy_data(tmp_path_factory):
    """A tiny toy WIDER FACE folder (8 train / 4 val images of 160 px), made once per test module."""
    from mmdet_face.datasets.toy import make_toy_widerface
    root = tmp_path_factory.mktemp('toy_widerface')
    make_toy_widerface(str(root), num_train=8, num_val=4, size=160, seed=3)
    return root
