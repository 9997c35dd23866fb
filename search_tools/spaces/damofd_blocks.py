# DamoFD's block space (Liu et al., ICLR 2023): the mutation rules of the released evolutionary search, as data.
# Read by search_tools.damofd_space.load_damofd_space(); it mutates DamoFD structure strings (scored by the
# training-free proxies of search_tools/proxies/), it is not a space `search.py sample` draws from.
# Sources: ly19965/DamoFD DDSAR/SearchSpace/search_space_XXBL.py (2.5G/10G/34G) and search_space_IDW_fixfc.py
# (0.5G), DDSAR/evolution_search.py (which block is mutated, re-chaining, splitting, the layer cap) and
# DDSAR/scripts/DamoFd_*.sh (budgets, caps, initial structures).
family = 'DamoFD'

round_base = 8     # every mutated width is smart_round(x, 8): round-half-to-even to a multiple of 8, at least 8
min_channels = 8

spaces = dict(
    # search_space_XXBL.py: residual blocks; one candidate list per group of block types
    xxbl=dict(
        block_groups=[['SuperResK1K3K1', 'SuperResK1K5K1', 'SuperResK1K7K1'],
                      ['SuperResK3K3', 'SuperResK5K5', 'SuperResK7K7']],
        out_factors=[1.75, 2, 1.5, 1.25, 1, 1 / 1.25, 1 / 1.5, 1 / 2, 1 / 2.5],
        out_clip=[8, 1024],          # min(1024, max(8, out x factor)) before rounding
        bottleneck_factors=[2.5, 2, 1.5, 1.25, 1, 1 / 1.25, 1 / 1.5, 1 / 2, 1 / 2.5],
        bottleneck_clip=[8, 256],
        layer_deltas=[0, 1, 2, -1, -2],   # max(0, layers + delta); 0 layers are dropped
        keep_1x1_conv_width=False,
    ),
    # search_space_IDW_fixfc.py: inverted depthwise blocks, expansion 1/2/4/6, kernel 3/5/7
    idw=dict(
        block_groups=[['SuperResIDWE1K3', 'SuperResIDWE2K3', 'SuperResIDWE4K3', 'SuperResIDWE6K3',
                       'SuperResIDWE1K5', 'SuperResIDWE2K5', 'SuperResIDWE4K5', 'SuperResIDWE6K5',
                       'SuperResIDWE1K7', 'SuperResIDWE2K7', 'SuperResIDWE4K7', 'SuperResIDWE6K7']],
        out_factors=[2.5, 2, 1.5, 1.25, 1],
        out_clip=[8, 128],
        bottleneck_factors=[2.5, 2, 1.5, 1.25, 1, 1 / 1.25, 1 / 1.5, 1 / 2, 1 / 2.5],
        bottleneck_clip=[8, None],   # no upper bound
        layer_deltas=[0, 1, 2, -1, -2],
        keep_1x1_conv_width=True,    # "fixfc": a SuperConvK1BNRELU block keeps its width
    ),
)

# evolution_search.py: block 0 (the stem) is never mutated (random.randint(1, len - 1)); a mutated block takes the
# previous block's output width as its input, and every later block is re-chained; a conv block's mutation resets
# it to one layer; after mutation, a block of >= 6 layers is split into two (threshold // 2 = 3 layers, then the
# rest at stride 1); a structure with more layers (sum of the blocks' layers) than the cap is discarded.
mutable_from_block = 1
split_layer_threshold = 6
mutations_per_child = (1, 2)   # 1 while the population holds <= 10 members, else 2 (from a random member)

# DDSAR/scripts/DamoFd_*.sh: FLOPs budgets at the 224x224 search resolution (the VGA budget x 224^2 / (640 x 480)),
# layer caps, the space and the initial structure of each published model.
models = {
    '0.5g': dict(space='idw', budget_flops=65e6, max_layers=14,
                 init='SuperConvK3BNRELU(3,32,2,1)SuperResIDWE1K3(8,32,2,8,1)SuperResIDWE4K3(32,48,2,32,1)'
                      'SuperResIDWE1K3(48,96,2,48,1)SuperResIDWE1K3(96,128,2,96,1)'),
    '2.5g': dict(space='xxbl', budget_flops=345e6, max_layers=20,
                 init='SuperConvK3BNRELU(3,24,2,2)SuperResK3K3(32,32,2,32,3)SuperResK3K3(32,48,2,64,2)'
                      'SuperResK3K3(48,64,2,128,2)SuperResK3K3(64,128,2,16,3)'),
    '10g': dict(space='xxbl', budget_flops=1414e6, max_layers=20,
                init='SuperConvK3BNRELU(3,24,2,1)SuperResK3K3(24,48,2,64,5)SuperResK3K3(48,64,2,64,5)'
                     'SuperResK3K3(64,96,2,128,3)SuperResK3K3(96,128,2,16,1)'),
    '34g': dict(space='xxbl', budget_flops=4375e6, max_layers=20,
                init='SuperConvK3BNRELU(3,56,2,2)SuperResK3K3(56,112,2,96,5)SuperResK3K3(112,224,2,96,5)'
                     'SuperResK3K3(224,448,2,128,3)SuperResK3K3(448,1024,2,16,1)'),
}
search = dict(resolution=224, population_size=512, evolution_max_iter=96000, proxy='ddsar')
