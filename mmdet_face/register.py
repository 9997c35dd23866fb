"""Deprecated name of :mod:`mmdet_face.all_modules`, kept because configs dumped by earlier versions (work dirs,
checkpoints' embedded configs) name it in ``custom_imports``; new configs name ``mmdet_face.all_modules``."""
from .all_modules import *  # noqa: F401,F403  (importing it registers every module)
