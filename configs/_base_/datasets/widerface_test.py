# The WIDER FACE test split (./widerface.py's pipeline and loader): the 16,097 images of the official
# wider_face_split/wider_face_test_filelist.txt, images only (the boxes are held by the benchmark's server). The test
# loop writes the submission folder the server takes, checks it against the list and zips it:
#   python tools/test.py CONFIG CKPT --submission work_dirs/wider_test_submission
# where CONFIG is a model config whose dataset base is this file (in place of ./widerface.py; a config cannot take
# both, they set the same keys), or any model config given the list directly:
#   python tools/test.py CONFIG CKPT --submission DIR \
#       --image-list data/widerface/wider_face_split/wider_face_test_filelist.txt \
#       --image-root data/widerface/test/images
# Layout under data_root (data/README.md): test/images/<event>/*.jpg, wider_face_split/wider_face_test_filelist.txt.
_base_ = ['./widerface.py']

data_root = 'data/widerface/'
submission_dir = 'work_dirs/widerface_test_submission'

test_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='wider_face_split/wider_face_test_filelist.txt',
        ann_format='wider_filelist',
        data_prefix=dict(img='test/images/'),
        test_mode=True))
test_evaluator = dict(
    _delete_=True,
    type='WiderFaceSubmissionMetric',
    outfile_prefix=submission_dir,
    image_list=data_root + 'wider_face_split/wider_face_test_filelist.txt')
