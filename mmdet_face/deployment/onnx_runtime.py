"""The onnxruntime backend: an ONNX file of one of our families run where the PyTorch network runs, with the same
pre-processing, decoding, post-processing and result type.

    detector = OnnxFaceDetector('configs/scrfd/scrfd_500m_bnkps_4xb16-640e_widerface.py', 'scrfd_500m_bnkps.onnx')
    faces = detector('photo.jpg', score_thr=0.5)      # as FaceDetector: paths, arrays, PIL images, lists

:class:`OnnxFaceDetector` is :class:`~mmdet_face.apis.FaceDetector` with its network stage replaced:
``preprocess`` (the config's test pipeline or the SCRFD letterbox, then the ``data_preprocessor``) and ``decode``
(the head's own ``predict_by_feat`` and face tail, clipping) are FaceDetector's, ``run_network`` runs
:class:`OnnxNetwork`. Each stage is callable on its own (for timing, or to swap the file for a quantised one):

    inputs, metas = detector.preprocess([image])                 # (B, 3, H, W) float32 tensor, image metas
    outputs = detector.network.run(inputs.numpy())               # {name: (B, N, C) array}
    faces = detector.decode_outputs(outputs, inputs.shape[2:], metas, detector._call_cfg(0.5, 0.4))
    # the same through the head's maps:
    head_inputs = detector.network.to_head_inputs(outputs, inputs.shape[2:])   # lists of (B, A * C, h, w)
    faces = detector.decode(head_inputs, metas, detector._call_cfg(0.5, 0.4))  # list of FaceDetections

A call runs ``preprocess``, the session and ``decode_outputs``. Where the family's exporter module goes from the
outputs to the final detections itself (SCRFD with its standard test config on the CPU:
``onnx_outputs_to_detections``, compiled, :mod:`mmdet_face.deployment.scrfd_onnx_tail`), ``decode_outputs`` returns
those; where it reads the candidates straight from the output rows (SCRFD: ``onnx_outputs_to_candidates``, only
the rows above the score threshold decoded), it hands them to the head's own face tail (rescale, NMS,
``max_per_img``). Both give bitwise the detections of ``decode`` on the maps, without rebuilding the maps. Other
families, and test configs those paths do not cover, go through the maps. Where the compiled path applies, a call
writes its batch into its thread's input array and runs the session through an ``io_binding`` whose outputs are
that thread's preallocated arrays (:meth:`OnnxNetwork.input_buffer`, :meth:`OnnxNetwork.run_bound`): no input
wrapping and no output allocation per call.

The test tool's ``--onnx`` runs :class:`OnnxNetwork` inside mmengine's test loop
(:class:`~mmdet_face.deployment.onnx_face_model.OnnxFaceModel`).

Files it reads: every export of :mod:`mmdet_face.deployment` (``<family>_onnx_export.py``: SCRFD with or without
keypoints, RetinaFace, DSFD, SRN / AInnoFace; static or dynamic) and insightface's released SCRFD files (fixed batch
1 and 640 x 640 in some: a batch is then run image by image, and an input of another size is refused, naming the
``letterbox`` to use). The layout is recognised from the output names and must be the config's family
(:func:`mmdet_face.deployment.onnx_layouts.check_output_names`).

Session options are per session (``SessionOptions``: intra- / inter-op threads, graph optimisation level;
providers): nothing process-wide is changed. ``InferenceSession.run`` may be called from several threads at once
(onnxruntime's documented guarantee); :class:`OnnxNetwork` holds no per-call state, and its bound arrays are per
thread (``threading.local``), so concurrent calls never share them.
"""
import math
import os
import threading
from typing import Dict, List, Optional, Sequence

import numpy as np

from mmdet_face.apis.face_detector import FaceDetector, check_detector_args

from .onnx_layouts import check_output_names, exporter_module

GRAPH_OPTIMIZATION_LEVELS = ('disable', 'basic', 'extended', 'all')
#: input shapes whose bound arrays a thread keeps (a dataset of many sizes runs the others unbound or rebinds)
MAX_BOUND_SHAPES = 2
#: larger inputs run unbound: their arrays are not kept between calls (1 x 3 x 640 x 640 float32 is 4.9 MB)
MAX_BOUND_INPUT_BYTES = 64 << 20


class OnnxNetwork:
    """An onnxruntime session of an ONNX file whose layout is ``head``'s family's.

    Args:
        path: the ONNX file.
        head: the config's built head (its weights are not used: it gives the layout, strides and anchors).
        config_name: what errors call the config.
        threads: onnxruntime's intra-op threads (None: onnxruntime's default, one per physical core).
        inter_op_threads: inter-op threads (None: onnxruntime's default).
        graph_optimization: one of :data:`GRAPH_OPTIMIZATION_LEVELS` (default 'all', onnxruntime's default).
        providers: execution providers in order of preference (default: ``['CPUExecutionProvider']``).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not an ONNX model (a truncated or damaged file included) or one onnxruntime cannot load; an
            :class:`~mmdet_face.deployment.onnx_layouts.OnnxLayoutError` when its outputs are another family's or
            variant's (the message names the expected outputs and the config to use).
    """

    def __init__(self, path: str, head, config_name: str = 'the config', threads: Optional[int] = None,
                 inter_op_threads: Optional[int] = None, graph_optimization: str = 'all',
                 providers: Optional[Sequence[str]] = None):
        import onnxruntime as ort

        from .scrfd_onnx_import import read_onnx_model
        self.path = str(path)
        self.head = head
        self.layout = exporter_module(head)
        model = read_onnx_model(self.path, expected=f'an ONNX export of {config_name}')
        initializers = {i.name for i in model.graph.initializer}
        inputs = [i for i in model.graph.input if i.name not in initializers]
        outputs = [o.name for o in model.graph.output]
        if len(inputs) != 1:
            names = ', '.join(i.name for i in inputs)
            raise ValueError(f'{self.path}: the ONNX graph has {len(inputs)} inputs ({names}), expected one image '
                             'batch (B, 3, H, W)')
        check_output_names(outputs, head, self.path, config_name)
        self.input_name = inputs[0].name
        dims = inputs[0].type.tensor_type.shape.dim
        shape = [d.dim_value if d.HasField('dim_value') else None for d in dims]
        if len(shape) != 4 or shape[1] not in (3, None):
            raise ValueError(f'{self.path}: the input {self.input_name} has shape {shape}, expected (B, 3, H, W)')
        #: fixed sizes of the graph input (None where symbolic): batch, height, width
        self.fixed_batch, self.fixed_hw = shape[0], (None if None in shape[2:] else (shape[2], shape[3]))
        del model
        if graph_optimization not in GRAPH_OPTIMIZATION_LEVELS:
            raise ValueError(f'graph_optimization must be one of {", ".join(GRAPH_OPTIMIZATION_LEVELS)}, got '
                             f'{graph_optimization!r}')
        options = ort.SessionOptions()
        options.graph_optimization_level = {
            'disable': ort.GraphOptimizationLevel.ORT_DISABLE_ALL, 'basic': ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            'extended': ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            'all': ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[graph_optimization]
        for value, attr in ((threads, 'intra_op_num_threads'), (inter_op_threads, 'inter_op_num_threads')):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(f'{attr.replace("_num", "")}: expected a positive int or None, got {value!r}')
                setattr(options, attr, value)
        self.providers = list(providers) if providers else ['CPUExecutionProvider']
        try:
            self.session = ort.InferenceSession(self.path, options, providers=self.providers)
        except Exception as err:  # onnxruntime's own exception types (Fail, InvalidGraph, ...)
            raise ValueError(f'{self.path}: onnxruntime cannot load this model ({type(err).__name__}: {err})') from err
        self.output_names = outputs
        # runs bound to preallocated arrays (the CPU provider only): per thread, per input shape
        self._bindable = self.providers == ['CPUExecutionProvider']
        self._bindings = threading.local()

    def check_input_size(self, hw: Sequence[int]) -> None:
        """Refuse an input of ``hw`` that a graph with a fixed height and width cannot take."""
        if self.fixed_hw is not None and tuple(hw) != tuple(self.fixed_hw):
            side = f'use letterbox={self.fixed_hw[0]}, or ' if self.fixed_hw[0] == self.fixed_hw[1] else ''
            raise ValueError(f'{self.path}: the ONNX graph takes {self.fixed_hw[0]} x {self.fixed_hw[1]} inputs only '
                             f'(a static export), got {hw[0]} x {hw[1]}; {side}export the model with --dynamic')

    def run(self, blob: np.ndarray) -> Dict[str, np.ndarray]:
        """``{output name: (B, N, C) array}`` for a preprocessed batch ``blob`` ``(B, 3, H, W)`` float32 (a graph
        with a fixed batch size is run that many images at a time)."""
        blob = np.ascontiguousarray(blob, dtype=np.float32)
        self.check_input_size(blob.shape[2:])
        step = self.fixed_batch or len(blob)
        if len(blob) % step:
            raise ValueError(f'{self.path}: the ONNX graph takes batches of {step} images, got {len(blob)}')
        runs = [self.session.run(self.output_names, {self.input_name: blob[i:i + step]})
                for i in range(0, len(blob), step)]
        outputs = {}
        for k, name in enumerate(self.output_names):
            parts = [run[k] if run[k].ndim == 3 else run[k][None] for run in runs]  # older files: no batch axis
            outputs[name] = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return outputs

    def input_buffer(self, shape: Sequence[int]) -> Optional[np.ndarray]:
        """This thread's float32 input array of ``shape`` ``(B, 3, H, W)`` for :meth:`run_bound` (the preprocessing
        writes the batch into it), or None where runs are not bound (a provider other than the CPU's alone, a graph
        that takes another batch size, an input over ``MAX_BOUND_INPUT_BYTES``). Each thread holds its own arrays,
        for ``MAX_BOUND_SHAPES`` input shapes at most (a new shape beyond them drops the others)."""
        shape = tuple(int(v) for v in shape)
        if (not self._bindable or (self.fixed_batch and shape[0] != self.fixed_batch)
                or 4 * math.prod(shape) > MAX_BOUND_INPUT_BYTES):
            return None
        bindings = self._bindings.__dict__.setdefault('by_shape', {})
        binding = bindings.get(shape)
        if binding is None:
            if len(bindings) >= MAX_BOUND_SHAPES:
                bindings.clear()
            binding = bindings[shape] = _Binding(np.empty(shape, np.float32))
        return binding.input

    def run_bound(self, blob: np.ndarray) -> Dict[str, np.ndarray]:
        """:meth:`run` of a ``blob`` that :meth:`input_buffer` gave this thread, through an ``io_binding`` whose
        outputs are this thread's preallocated arrays: no input wrapping and no output allocation per call. The
        returned arrays are overwritten by this thread's next bound run of the same shape: read them before (copy
        what is kept). Any other array runs through :meth:`run`."""
        binding = self._bindings.__dict__.get('by_shape', {}).get(tuple(blob.shape))
        if (binding is None or binding.io is False or blob.dtype != np.float32 or not blob.flags.c_contiguous
                or blob.__array_interface__['data'][0] != binding.input.__array_interface__['data'][0]):
            return self.run(blob)
        if binding.io is None:  # the first run of this shape: a plain one, which gives the output shapes
            self.check_input_size(blob.shape[2:])
            raw = self.session.run(self.output_names, {self.input_name: blob})
            if not all(r.ndim == 3 and r.dtype == np.float32 and r.flags.c_contiguous for r in raw):
                binding.io = False  # outputs without a batch axis (older files): plain runs
                return self.run(blob)
            io = self.session.io_binding()
            io.bind_cpu_input(self.input_name, binding.input)
            binding.outputs = {name: np.empty_like(r) for name, r in zip(self.output_names, raw)}
            for name, array in binding.outputs.items():
                io.bind_output(name, 'cpu', 0, np.float32, list(array.shape), array.ctypes.data)
            binding.io = io
            return dict(zip(self.output_names, raw))
        self.session.run_with_iobinding(binding.io)
        return binding.outputs

    def to_head_inputs(self, outputs: Dict[str, np.ndarray], input_hw: Sequence[int]):
        """What the head's ``forward`` returns for these outputs (the family's ``onnx_outputs_to_head_inputs``)."""
        return self.layout.onnx_outputs_to_head_inputs(outputs, self.head, input_hw)

    def to_candidates(self, outputs: Dict[str, np.ndarray], input_hw: Sequence[int], cfg) -> Optional[list]:
        """Per image the head's ``decode_image`` candidates read from the outputs directly (the family's
        ``onnx_outputs_to_candidates``: only the candidate rows decoded), or None where the family or ``cfg`` has
        no such path (then :meth:`to_head_inputs` and the head's ``predict_by_feat`` decode them)."""
        direct = getattr(self.layout, 'onnx_outputs_to_candidates', None)
        return None if direct is None else direct(outputs, self.head, input_hw, cfg)

    def to_detections(self, outputs: Dict[str, np.ndarray], input_hw: Sequence[int], img_metas: List[dict], cfg,
                      clip_boxes: bool = True, applicable: Optional[bool] = None) -> Optional[list]:
        """Per image the final :class:`~mmdet_face.apis.face_detector.FaceDetections` computed from the outputs in
        one compiled pass (the family's ``onnx_outputs_to_detections``: SCRFD on the CPU with its standard test
        config, bitwise the head's path), or None where the family, ``cfg`` or the metas have no such path.
        ``applicable``: :meth:`detections_apply`'s verdict where the caller has it (None: asked here)."""
        direct = getattr(self.layout, 'onnx_outputs_to_detections', None)
        if direct is None or applicable is False:
            return None
        return direct(outputs, self.head, input_hw, img_metas, cfg, clip_boxes, applicable)

    def detections_apply(self, cfg, img_metas: List[dict]) -> bool:
        """Whether :meth:`to_detections` computes the final detections for this ``cfg`` and these metas (the
        family's ``onnx_detections_apply``)."""
        check = getattr(self.layout, 'onnx_detections_apply', None)
        return check is not None and check(self.head, cfg, img_metas)

    def __call__(self, inputs):
        """``head.forward``'s result for a preprocessed batch (a ``(B, 3, H, W)`` tensor or array)."""
        blob = inputs.detach().cpu().float().numpy() if hasattr(inputs, 'detach') else np.asarray(inputs)
        return self.to_head_inputs(self.run(blob), blob.shape[2:])


class _Binding:
    """One thread's bound run of one input shape: the input array, the ``io_binding`` (None before the first run,
    False when the file's outputs cannot be bound) and the output arrays it writes."""

    def __init__(self, input_array: np.ndarray):
        self.input = input_array
        self.io = None
        self.outputs = None


class OnnxFaceDetector(FaceDetector):
    """:class:`~mmdet_face.apis.FaceDetector` running an ONNX file with onnxruntime (see the module docstring).

    Args:
        config (str | mmengine.Config): the config the file was exported from (its head decodes the outputs; its
            family is checked against the file's output names). No weights are loaded into it.
        onnx (str): the ONNX file: an export of :mod:`mmdet_face.deployment` (static or dynamic) or a released
            SCRFD file.
        letterbox (int, optional): as FaceDetector's. Default: None, except for a file with a fixed square input
            (the released SCRFD files: 640 x 640), which is letterboxed to that size (the released pre-processing).
        clip_boxes (bool): as FaceDetector's.
        ort_threads (int, optional): onnxruntime intra-op threads of this detector's session (None: onnxruntime's
            default, one per physical core). ort_inter_op_threads: its inter-op threads.
        ort_graph_optimization (str): 'disable', 'basic', 'extended' or 'all' (onnxruntime's default).
        ort_providers (list, optional): onnxruntime execution providers (default: the CPU one).

    The session options are this detector's own: nothing process-wide changes. Several threads may call one
    detector at once, as with FaceDetector (``InferenceSession.run`` is thread-safe).

    Raises:
        FileNotFoundError / ValueError / OnnxLayoutError: see :class:`OnnxNetwork`.
    """

    def __init__(self, config, onnx: str, letterbox: Optional[int] = None, clip_boxes: bool = True,
                 ort_threads: Optional[int] = None, ort_inter_op_threads: Optional[int] = None,
                 ort_graph_optimization: str = 'all', ort_providers: Optional[Sequence[str]] = None):
        import torch

        from mmdet_face.apis.inference import init_face_detector
        check_detector_args(letterbox, clip_boxes)
        self.device = torch.device('cpu')
        self.fp16 = False
        model = init_face_detector(config)  # the data preprocessor and the head; its weights are not used
        name = (os.fspath(config) if isinstance(config, (str, os.PathLike))
                else getattr(model.cfg, 'filename', None)) or 'the config'
        self.network = OnnxNetwork(os.fspath(onnx), model.bbox_head, config_name=name, threads=ort_threads,
                                   inter_op_threads=ort_inter_op_threads, graph_optimization=ort_graph_optimization,
                                   providers=ort_providers)
        fixed = self.network.fixed_hw
        if letterbox is None and fixed is not None and fixed[0] == fixed[1]:
            letterbox = fixed[0]
        self._attach(model, model.cfg, letterbox, clip_boxes)

    def run_network(self, inputs) -> tuple:
        """Stage 2: the preprocessed batch -> the head's ``forward`` outputs, by the onnxruntime session (the
        family's ``onnx_outputs_to_head_inputs`` maps the file's outputs back)."""
        return self.network(inputs)

    def decode_outputs(self, outputs: Dict[str, np.ndarray], input_hw: Sequence[int], img_metas: List[dict],
                       cfg, applicable: Optional[bool] = None) -> list:
        """Stages 2b + 3: the session's outputs (``{name: (B, N, C)}`` of a batch of ``input_hw``) -> one
        :class:`~mmdet_face.apis.face_detector.FaceDetections` per image, the same as
        ``decode(network.to_head_inputs(outputs, input_hw), img_metas, cfg)`` gives: in one compiled pass where the
        family has it (:meth:`OnnxNetwork.to_detections`: SCRFD with its standard test config), else the candidates
        straight from the rows where the family has that path (:meth:`OnnxNetwork.to_candidates`), then the head's
        own face tail (rescale, NMS ...) and FaceDetector's clipping; otherwise through the head's maps.
        ``applicable``: :meth:`OnnxNetwork.detections_apply`'s verdict where the caller has it (None: asked here)."""
        detections = self.network.to_detections(outputs, input_hw, img_metas, cfg, self.clip_boxes, applicable)
        if detections is not None:
            return detections
        candidates = self.network.to_candidates(outputs, input_hw, cfg)
        if candidates is None:
            return self.decode(self.network.to_head_inputs(outputs, input_hw), img_metas, cfg)
        return self.finish([self.head._face_post_process(c, meta, cfg, rescale=True)
                            for c, meta in zip(candidates, img_metas)], img_metas)

    def _batch_allocator(self):
        """Where a call's preprocessing writes the batch: this thread's input array bound to the session
        (:meth:`OnnxNetwork.input_buffer`), or a new array where runs are not bound."""
        network = self.network

        def allocate(shape):
            buffer = network.input_buffer(shape)
            return np.empty(shape, np.float32) if buffer is None else buffer
        return allocate

    def _detect(self, inputs, img_metas: List[dict], cfg) -> list:
        """One preprocessed batch -> its detections: the session, then :meth:`decode_outputs`. A batch in this
        thread's bound input array runs bound (:meth:`OnnxNetwork.run_bound`) where the outputs go straight to final
        detections (:meth:`OnnxNetwork.detections_apply`): those copy out what they keep before the next run."""
        blob = inputs.numpy()
        network = self.network
        bound = network.detections_apply(cfg, img_metas)
        outputs = network.run_bound(blob) if bound else network.run(blob)
        return self.decode_outputs(outputs, blob.shape[2:], img_metas, cfg, applicable=bound)


__all__ = ['GRAPH_OPTIMIZATION_LEVELS', 'OnnxFaceDetector', 'OnnxNetwork']
