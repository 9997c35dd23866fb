# Template of the toy architecture search (search_tools/README.md, `make search-demo`): the toy SCRFD-0.5GF with
# keypoints (./scrfd_toy_kps.py) whose backbone the search reshapes, with its data, runtime and AdamW schedule.
# Cheaper for a proxy on a CPU: the first 200 of the 400 toy training images (25 iterations an epoch at batch 8;
# validation still on all 100 val images) and a 20-iteration warm-up instead of 100, so that a 3-epoch proxy is
# not all warm-up. The search puts the cosine schedule on the proxy's epochs (search_tools/training.py apply_proxy).
_base_ = ['./scrfd_toy_kps.py']

train_dataloader = dict(dataset=dict(indices=200))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', begin=0, end=12, by_epoch=True, eta_min_ratio=0.05,
         convert_to_iter_based=True),
]
