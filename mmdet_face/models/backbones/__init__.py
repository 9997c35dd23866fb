from .mobilenet_v1 import MobileNetV1
from .mobilenet_v1_retinaface import MobileNetV1RetinaFace
from .resnet_v1e import ResNetV1e

__all__ = ['MobileNetV1', 'MobileNetV1RetinaFace', 'ResNetV1e']
