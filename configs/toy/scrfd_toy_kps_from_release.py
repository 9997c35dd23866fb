# The toy SCRFD with keypoints (./scrfd_toy_kps.py) started from the converted SCRFD-0.5GF-kps release (same
# network): give --cfg-options load_from=<the converter's output> (docs/finetune.md). The release's BatchNorm is
# folded into its convs; FoldedBNCalibrationHook gives the converter's identity BNs the statistics of the training
# data before the first step, so that training starts from the release's function.
_base_ = ['./scrfd_toy_kps.py']

# (a list replaces the inherited one: FiniteCheckHook is restated)
custom_hooks = [dict(type='FiniteCheckHook'), dict(type='FoldedBNCalibrationHook', num_batches=20)]
