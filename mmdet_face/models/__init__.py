from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .dense_heads import *  # noqa: F401,F403
from .dense_heads import RetinaFaceHead, SCRFDHead, SRNHead
from .detectors import *  # noqa: F401,F403
from .detectors import __all__ as _detectors
from .layers import *  # noqa: F401,F403
from .layers import __all__ as _layers
from .necks import *  # noqa: F401,F403
from .necks import __all__ as _necks
from .task_modules import *  # noqa: F401,F403
from .task_modules import __all__ as _task_modules
from .test_time_augs import *  # noqa: F401,F403
from .test_time_augs import __all__ as _test_time_augs

__all__ = [*_backbones, 'RetinaFaceHead', 'SCRFDHead', 'SRNHead', *_detectors, *_layers, *_necks, *_task_modules,
           *_test_time_augs]
