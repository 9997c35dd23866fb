# DamoFD-34G with keypoints (the released configs/DamoFD_lmks/DamoFD_34g_lms.py): the same network with the
# 5-landmark branch on (the shared GN head is kept, unlike SCRFD's BN "bnkps" heads).
# Published (ly19965/EasyFace face_project/face_detection/DamoFD/README.md): WIDER FACE val Easy/Medium/Hard
# 95.96 / 95.08 / 86.09, 34.32 GFLOPs at VGA.
_base_ = './damofd_34g_4xb8-640e_widerface.py'

model = dict(bbox_head=dict(use_kps=True))
