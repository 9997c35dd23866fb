# DamoFD-0.5G with keypoints (the released configs/DamoFD_lmks/DamoFD_0.5g_lms.py): the same network with the
# 5-landmark branch on (the shared GN head is kept, unlike SCRFD's BN "bnkps" heads).
# Published (ly19965/EasyFace face_project/face_detection/DamoFD/README.md): WIDER FACE val Easy/Medium/Hard
# 90.41 / 88.45 / 69.97, 0.59 GFLOPs at VGA.
_base_ = './damofd_0.5g_4xb8-640e_widerface.py'

model = dict(bbox_head=dict(use_kps=True))
