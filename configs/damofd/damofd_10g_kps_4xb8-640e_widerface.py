# DamoFD-10G with keypoints (the released configs/DamoFD_lmks/DamoFD_10g_lms.py): the same network with the
# 5-landmark branch on (the shared GN head is kept, unlike SCRFD's BN "bnkps" heads).
# Published (ly19965/EasyFace face_project/face_detection/DamoFD/README.md): WIDER FACE val Easy/Medium/Hard
# 95.42 / 94.35 / 83.94, 9.83 GFLOPs at VGA.
_base_ = './damofd_10g_4xb8-640e_widerface.py'

model = dict(bbox_head=dict(use_kps=True))
