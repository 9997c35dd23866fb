"""Framework-free evaluation functions. Keep this package free of torch / mmengine imports: ``tools/test_widerface.py
--pred-dir`` scores a submission with it alone.

WIDER FACE: the protocol (:mod:`.widerface`), the official ``.mat`` ground truth (:mod:`.widerface_gt_mat`),
submission folders (:mod:`.widerface_submission`) and reporting (:mod:`.widerface_report`). COCO-style AP of face
boxes (:mod:`.coco_face`) through pycocotools, imported when it is called.

AFW / PASCAL Face: the protocol of Mathias et al.'s toolbox (:mod:`.face_pr`) and its files
(:mod:`.afw_pascal_files`)."""
from . import coco_face, widerface, widerface_gt_mat, widerface_report, widerface_submission
from . import afw_pascal_files, face_pr
from .coco_face import *  # noqa: F401,F403
from .widerface import *  # noqa: F401,F403
from .widerface_gt_mat import *  # noqa: F401,F403
from .widerface_report import *  # noqa: F401,F403
from .widerface_submission import *  # noqa: F401,F403
from .afw_pascal_files import *  # noqa: F401,F403
from .face_pr import *  # noqa: F401,F403

__all__ = sorted({*coco_face.__all__, *widerface.__all__, *widerface_gt_mat.__all__, *widerface_report.__all__,
                  *widerface_submission.__all__, *afw_pascal_files.__all__, *face_pr.__all__})

# FDDB: the protocol (:mod:`.fddb`, with the program's solver :mod:`.fddb_hungarian` and regions
# :mod:`.fddb_regions`), the ROC files and plot (:mod:`.fddb_roc`) and detection files (:mod:`.fddb_detections`).
from . import fddb, fddb_detections, fddb_roc  # noqa: E402
from .fddb import *  # noqa: F401,F403,E402
from .fddb_detections import *  # noqa: F401,F403,E402
from .fddb_roc import *  # noqa: F401,F403,E402

__all__ = sorted({*__all__, *fddb.__all__, *fddb_detections.__all__, *fddb_roc.__all__})
