# SCRFD-0.5GF: MobileNetV1 + PAFPN + shared depthwise GN head. 0.57M parameters, 0.508 GFLOPs at VGA.
_base_ = [
    '../_base_/datasets/widerface.py',
    '../_base_/schedules/scrfd_640e.py',
    '../_base_/default_runtime.py',
    '../_base_/models/scrfd_500m.py',
]
