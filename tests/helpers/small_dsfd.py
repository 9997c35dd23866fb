"""A small DSFD for quick tests: the release config (``configs/dsfd/dsfd_r152_release_widerface.py``) with a
ResNet-18 body and narrow extras / FEM / head, so a model builds and runs in well under a second on a CPU."""
from mmengine.config import Config

from tests.helpers.paths import REPO_ROOT

RELEASE_CONFIG = REPO_ROOT / 'configs/dsfd/dsfd_r152_release_widerface.py'


def small_dsfd_config() -> Config:
    """The release config with a ResNet-18 body, 32 / 16-channel extras, 16 / 8-channel FEM branches and a head
    on 32 channels with 16 feature channels; everything else (priors, test_cfg, pipelines) is the release's."""
    cfg = Config.fromfile(str(RELEASE_CONFIG))
    model = cfg.model
    model.backbone.backbone.depth = 18
    model.backbone.in_channels = 512
    model.backbone.extra_channels = [(32, 32), (16, 16)]
    model.neck.in_channels = [64, 128, 256, 512, 32, 16]
    model.neck.branch_channels = [16, 8, 8]
    model.bbox_head.in_channels = 32
    model.bbox_head.feat_channels = 16
    return cfg
