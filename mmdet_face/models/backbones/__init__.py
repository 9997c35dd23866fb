from .mobilenet_v1 import MobileNetV1
from .resnet_v1e import ResNetV1e
from .mobilenet_v1_retinaface import MobileNetV1RetinaFace  # noqa: F401

__all__ = ['MobileNetV1', 'ResNetV1e']
