"""``OnnxFaceModel``: a face config's detector whose network is an ONNX file run by onnxruntime, for mmengine's test
loop (registered in ``mmdet_face``'s ``MODELS``).

``tools/test.py CONFIG --onnx FILE`` puts this model in place of ``cfg.model``: the config's data preprocessor
makes the same input batch, :class:`~mmdet_face.deployment.onnx_runtime.OnnxNetwork` runs the file and maps its
outputs back to the head's maps, and the config's head decodes them (``predict_by_feat``, the face tail) into the
same ``pred_instances`` the PyTorch detector gives, so the test path, the metric and the submission files are
unchanged and an FP32 and an INT8 file are each scored by one command. Inference only.
"""
from typing import Optional, Sequence

from mmengine.model import BaseModel

from mmdet_face.registry import MODELS


@MODELS.register_module()
class OnnxFaceModel(BaseModel):
    """Args:
        detector (dict): the config's ``model`` (built without weights: its data preprocessor and head are used).
        onnx (str): an ONNX export of that config (see :mod:`mmdet_face.deployment.onnx_runtime`).
        config_name (str): what errors call the config.
        ort_threads / ort_graph_optimization / ort_providers: the session options of
            :class:`~mmdet_face.deployment.onnx_runtime.OnnxNetwork`.
    """

    def __init__(self, detector: dict, onnx: str, config_name: str = 'the config', ort_threads: Optional[int] = None,
                 ort_graph_optimization: str = 'all', ort_providers: Optional[Sequence[str]] = None,
                 init_cfg=None):
        from mmengine.registry import DefaultScope

        from .onnx_runtime import OnnxNetwork
        with DefaultScope.overwrite_default_scope('mmdet_face'):
            model = MODELS.build(detector)
        super().__init__(data_preprocessor=model.data_preprocessor, init_cfg=init_cfg)
        self.detector = model.eval()
        self.network = OnnxNetwork(onnx, model.bbox_head, config_name=config_name, threads=ort_threads,
                                   graph_optimization=ort_graph_optimization, providers=ort_providers)

    def forward(self, inputs, data_samples=None, mode: str = 'predict'):
        """``mode='predict'`` only: ``data_samples`` with ``pred_instances`` in original-image pixels."""
        if mode != 'predict':
            raise ValueError(f"OnnxFaceModel runs inference only (mode='predict'), got mode={mode!r}")
        outs = self.network(inputs)
        metas = [sample.metainfo for sample in data_samples]
        results = self.detector.bbox_head.predict_by_feat(*outs, batch_img_metas=metas, rescale=True)
        return self.detector.add_pred_to_datasample(data_samples, results)
