"""Former name of :mod:`mmdet_face.deployment.retinaface_pth_import`; kept only until its last importer
(``tests/models/test_retinaface_parity.py``) imports the new name. Do not use in new code."""
from .retinaface_pth_import import (convert_key, convert_retinaface_checkpoint,  # noqa: F401
                                    convert_retinaface_state_dict, load_release_checkpoint)
