from .mobilenet_v1 import MobileNetV1
from .mobilenet_v1_retinaface import MobileNetV1RetinaFace
from .resnet_v1e import ResNetV1e
from .dsfd_backbone import DSFDBackbone

__all__ = ['DSFDBackbone', 'MobileNetV1', 'MobileNetV1RetinaFace', 'ResNetV1e']
from .damofd_net import DamoFDNet

__all__ += ['DamoFDNet']
