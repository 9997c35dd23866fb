# FDDB (Jain and Learned-Miller, UMass tech. report UM-CS-2010-009, 2010) as the test set: the ten folds pooled,
# scored by FDDBMetric exactly as the official `evaluate` program (discrete and continuous TPR at 1,000 FP).
# Layout under data_root (tools/dataset_converters/prepare_fddb.py writes it; see data/README.md):
#   FDDB-folds/FDDB-fold-XX.txt, FDDB-folds/FDDB-fold-XX-ellipseList.txt, originalPics/<year>/.../img_<n>.jpg
# Training stays on WIDER FACE (./widerface.py); this file replaces ./widerface.py in a model config's _base_ list
# to test that model on FDDB. Any model config can also be tested on FDDB without a new file:
#   python tools/test_fddb.py CONFIG CKPT --fold-dir data/fddb/FDDB-folds --img-dir data/fddb/originalPics
# or by a child config of it that sets the two entries below with _delete_=True and pipeline={{_base_.test_pipeline}}.
_base_ = ['./widerface.py']

fddb_root = 'data/fddb/'

test_dataloader = dict(
    batch_size=1,  # FDDB images have many sizes
    num_workers=2,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        _delete_=True,
        type='FDDBDataset',
        data_root=fddb_root,
        ann_file='FDDB-folds',
        folds=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        data_prefix=dict(img='originalPics/'),
        test_mode=True,
        pipeline={{_base_.test_pipeline}}))
# height_scale / to_ellipse: box conversions some papers apply, off here (the boxes are scored as they are)
test_evaluator = dict(_delete_=True, type='FDDBMetric', fold_dir=fddb_root + 'FDDB-folds')
