"""FLOPs per module as ``tools/analysis/get_flops.py``'s counter (mmcv's hooks) accumulates them in one forward of
a detector: what the analytic counts of ``search_tools.flops`` are checked against part by part."""
import torch
from mmcv.cnn.utils.flops_counter import add_flops_counting_methods


def counted_forward(model, input_shape):
    """Run ``model._forward`` once on a zero image of ``(H, W)`` under mmcv's counting hooks (eval mode); returns
    ``flops(module)``: the FLOPs the hooks gave ``module`` and its children (modules never run: 0)."""
    model.eval()
    counted = add_flops_counting_methods(model)
    counted.start_flops_count()
    with torch.no_grad():
        model._forward(torch.zeros(1, 3, *input_shape))
    counted.stop_flops_count()

    def flops(module):
        return sum(getattr(m, '__flops__', 0) for m in module.modules())

    return flops
