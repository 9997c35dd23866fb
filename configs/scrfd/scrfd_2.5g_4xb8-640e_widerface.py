# SCRFD-2.5GF: ResNetV1e (BasicBlock) + PAFPN + shared GN head, no keypoints.
# 0.67M parameters, 2.53 GFLOPs at VGA (640x480) in SCRFD's table.
_base_ = [
    '../_base_/datasets/widerface.py',
    '../_base_/schedules/scrfd_640e.py',
    '../_base_/default_runtime.py',
    '../_base_/models/scrfd_2.5g.py',
]

