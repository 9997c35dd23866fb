"""``FaceDetector``: config + checkpoint -> boxes, scores and landmarks for images, in one call.

    detector = FaceDetector('configs/scrfd/scrfd_500m_bnkps_4xb8-640e_widerface.py', 'scrfd_500m_bnkps.pth')
    faces = detector('photo.jpg', score_thr=0.5)    # also a BGR numpy image or a PIL image; see read_image
    faces.bboxes     # (N, 4) float32 x1, y1, x2, y2 in original-image pixels, inside the image
    faces.scores     # (N,)
    faces.keypoints  # (N, K, 2), K = the head's num_keypoints (5: left eye, right eye, nose, left mouth,
                     # right mouth), or None for a model without landmarks

An ONNX export runs the same way with onnxruntime: :class:`mmdet_face.deployment.onnx_runtime.OnnxFaceDetector`
(the same pre-processing, head decoding and result type).

Inference only: building the model is :func:`mmdet_face.apis.inference.init_face_detector`, the CPU speed-ups are
:mod:`mmdet_face.apis.cpu_runtime` (exact ones on by default; the process-wide allocator tuning only on request,
``tune_allocator=True``) and drawing is :class:`mmdet_face.visualization.FaceLocalVisualizer`.
"""
import copy
import math
import numbers
import os
import os.path as osp
import sys
import warnings
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import numpy as np
import torch

from mmdet_face.apis import fast_preprocess

ImageLike = Union[str, np.ndarray, 'PIL.Image.Image']
#: threshold pairs whose call configs a detector keeps (:meth:`FaceDetector._shared_call_cfg`)
MAX_SHARED_CALL_CFGS = 8


class RandomWeightsWarning(UserWarning):
    """A :class:`FaceDetector` built without a checkpoint: its detections come from the model's initial (random)
    weights. Where that is meant (a test, a speed measurement), silence it with
    ``warnings.simplefilter('ignore', RandomWeightsWarning)``."""


@dataclass
class FaceDetections:
    """Faces found in one image, as numpy arrays in original-image pixels (x1y1x2y2, no +1; boxes inside the image
    unless the detector has ``clip_boxes=False``)."""
    bboxes: np.ndarray
    scores: np.ndarray
    keypoints: Optional[np.ndarray]

    def __len__(self):
        return len(self.scores)


def _jpeg_is_complete(data: bytes) -> bool:
    """Whether a JPEG stream has its end-of-image marker (``FF D9``) after its first scan.

    libjpeg decodes a cut-off JPEG without error (only a "Premature end of JPEG file" warning on stderr) and fills
    the missing rows with grey, so a truncated download would be detected on as a half-grey picture. Inside the
    entropy-coded data every ``FF`` byte is followed by ``00`` or a restart marker, so ``FF D9`` after the first
    start-of-scan can only be the end marker; the segments before the scan (an EXIF thumbnail holds its own
    ``FF D9``) are skipped by their lengths. Data after the end marker (a motion photo's video) is allowed.
    """
    pos = 2  # after SOI
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return False  # not a marker where one must be: damaged header
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return False  # end of image before any scan
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], 'big')
        if marker == 0xDA:  # start of scan: the end marker must follow the scan data
            return data.find(b'\xff\xd9', pos + 2 + length) >= 0
        pos += 2 + length
    return False


def _read_file(path: str) -> np.ndarray:
    import cv2
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such image file')
    with open(path, 'rb') as f:
        data = f.read()
    if data[:2] == b'\xff\xd8' and not _jpeg_is_complete(data):
        raise ValueError(f'{path}: truncated or damaged JPEG (no end-of-image marker after the image data); '
                         f'the decoder would fill the missing part with grey')
    array = cv2.imread(path, cv2.IMREAD_COLOR)  # imread (not imdecode of the bytes) applies the EXIF orientation
    if array is None:
        raise ValueError(f'{path}: not a readable image (unknown format, truncated or damaged)')
    return array


def _pil_to_array(image) -> np.ndarray:
    """A PIL image as a BGR / grayscale array with the dtype rules of :func:`_to_uint8` (PIL holds RGB)."""
    mode = image.mode
    if mode.startswith('I;16'):  # 16-bit grayscale, any byte order
        return np.asarray(image).astype(np.uint16)
    if mode in ('L', 'I', 'F'):  # 8-bit, 32-bit integer and float grayscale: the array rules decide
        return np.asarray(image)
    if mode == '1':
        return np.asarray(image.convert('L'))
    if mode != 'RGB':  # P, PA, LA, RGBA, RGBX, CMYK, YCbCr, LAB, HSV ...: alpha is dropped, as for arrays
        try:
            image = image.convert('RGB')
        except ValueError as exc:
            raise ValueError(f'a PIL image of mode {mode!r} cannot be converted to RGB: {exc}') from exc
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Pixel values as uint8 without guessing silently: see :func:`read_image` for the rules."""
    dtype = array.dtype
    if dtype == np.uint8:
        return array
    if dtype == np.uint16:  # full 16-bit range onto the 8-bit range: 65535 -> 255, 257 -> 1
        return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if dtype.kind in 'iu':
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ValueError(f'an image of dtype {dtype} must hold values in 0..255, got {low}..{high}; '
                             f'scale it to uint8 yourself (its range is not known here)')
        return array.astype(np.uint8)
    if dtype.kind == 'f':
        if not np.isfinite(array).all():
            raise ValueError(f'the {dtype} image holds NaN or infinite values')
        low, high = float(array.min()), float(array.max())
        if low < 0 or high > 255:
            raise ValueError(f'a float image must hold values in 0..1 or 0..255, got {low:g}..{high:g}')
        if high <= 1:
            array = array * 255.0
        return np.rint(array).astype(np.uint8)
    if dtype == np.bool_:
        raise TypeError('got a bool array (a mask?), expected an image of dtype uint8, uint16 or float')
    raise TypeError(f'got an array of dtype {dtype}, expected an image of dtype uint8, uint16, float or an '
                    f'integer type holding 0..255')


def read_image(image) -> np.ndarray:
    """A BGR uint8 (H, W, 3) image from a path, a numpy array or a PIL image.

    Arrays are BGR (OpenCV's order); (H, W) and (H, W, 1) are grayscale, (H, W, 4) BGRA (alpha dropped). Values:
    uint8 as is; uint16 divided by 257 (65535 -> 255); other integer dtypes must hold 0..255; float images with
    a maximum of at most 1 are taken as 0..1 and multiplied by 255, otherwise as 0..255 (so a float image in
    0..255 whose brightest pixel is at most 1 is read as 0..1), rounded; negative, larger or non-finite values are
    refused, as are bool, complex and object arrays. A PIL image is converted from its mode (RGB, RGBA, L, LA, P,
    I;16, F ...), so its colours are right. Files: anything OpenCV reads; a truncated JPEG is refused.
    """
    import cv2
    if isinstance(image, (str, bytes)) or hasattr(image, '__fspath__'):
        return _read_file(osp.expanduser(os.fsdecode(image)))
    pil = sys.modules.get('PIL.Image')  # a PIL image exists only once PIL.Image is imported
    if pil is not None and isinstance(image, pil.Image):
        array = _pil_to_array(image)
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise TypeError(f'expected an image path, a numpy array or a PIL image, got {type(image).__name__}')
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ValueError(f'expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, got shape {array.shape}')
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f'empty image of shape {array.shape}')
    array = _to_uint8(array)
    if array.ndim == 2 or array.shape[2] == 1:
        array = cv2.cvtColor(array.reshape(array.shape[:2]), cv2.COLOR_GRAY2BGR)
    elif array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    return array


def _is_positive_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def _check_call_args(score_thr, nms_thr, max_size, batch_size) -> None:
    """Refuse values that would fail deep in OpenCV or the NMS, or silently keep nothing / everything."""
    if not isinstance(score_thr, numbers.Real) or isinstance(score_thr, bool) or math.isnan(score_thr):
        raise ValueError(f'score_thr must be a number, got {score_thr!r}')
    if (not isinstance(nms_thr, numbers.Real) or isinstance(nms_thr, bool) or math.isnan(nms_thr)
            or not 0 <= nms_thr <= 1):
        raise ValueError(f'nms_thr must be an IoU threshold in [0, 1], got {nms_thr!r}')
    if max_size is not None and not _is_positive_int(max_size):
        raise ValueError(f'max_size must be a positive int (pixels of the long side) or None, got {max_size!r}')
    if not _is_positive_int(batch_size):
        raise ValueError(f'batch_size must be a positive int, got {batch_size!r}')


def check_detector_args(letterbox, clip_boxes) -> None:
    """Refuse a ``letterbox`` that is not a positive int or None, a ``clip_boxes`` that is not a bool."""
    if not isinstance(clip_boxes, bool):
        raise TypeError(f'clip_boxes must be True or False, got {clip_boxes!r}')
    if letterbox is not None and not _is_positive_int(letterbox):
        raise ValueError(f'letterbox must be a positive int (the canvas side in pixels) or None, got {letterbox!r}')


def clip_to_image(bboxes: np.ndarray, shape) -> None:
    """Clip (N, 4) x1y1x2y2 boxes in place to an image of ``shape`` (h, w)."""
    h, w = shape
    np.clip(bboxes[:, 0::2], 0, w, out=bboxes[:, 0::2])
    np.clip(bboxes[:, 1::2], 0, h, out=bboxes[:, 1::2])


class FaceDetector:
    """Runs any face config of this repository on images (inference only).

    Args:
        config (str | mmengine.Config): a face config.
        checkpoint (str, optional): weights to load; without it the model keeps its initialisation (random
            weights: the detections mean nothing) and a :class:`RandomWeightsWarning` says so.
        device (str): 'cpu', 'cuda', 'cuda:1' ...
        fp16 (bool, optional): half-precision inference; default True on CUDA, False on the CPU.
        letterbox (int, optional): instead of the config's test pipeline, preprocess as the released SCRFD
            ONNX models do (insightface ``SCRFD.detect``): resize keeping the aspect ratio so the long side is
            ``letterbox`` (short side truncated to an int), place it in the top-left of a black
            ``letterbox x letterbox`` canvas, one scale factor (the height's) for both axes. ``max_size`` then
            overrides it.
        clip_boxes (bool): clip the boxes to the image after NMS (default), for every model family; keypoints are
            never clipped. False returns the boxes as the head gives them, for comparisons with a release: the
            RetinaFace and DSFD releases do not clip (their heads say so with ``clips_boxes = False``: boxes may
            start left of or above the image), the other heads clip to the network input, which the letterbox
            maps back slightly wider than the image (one scale factor for both axes).
        optimize (bool): the exact, model-local rewrites of
            :func:`~mmdet_face.apis.cpu_runtime.optimize_for_inference`: BatchNorm folded into the convolutions and,
            on the CPU, channels-last and ReLU fused into its conv (SCRFD-500M, 640 x 640, one thread: about 1.5x
            faster; outputs equal up to float rounding). False keeps the model exactly as built (e.g. to fine-tune).
        strict (bool): the checkpoint must hold exactly the model's weights, all finite
            (:func:`~mmdet_face.apis.checkpoint.load_face_checkpoint` raises ``CheckpointMismatchError`` naming the
            missing and unexpected keys otherwise); False loads the matching weights only, on purpose, and logs
            the rest. Non-finite weights are refused either way.
        tune_allocator (bool): opt in to :func:`~mmdet_face.apis.cpu_runtime.tune_cpu_allocator` on a CPU device:
            raise glibc's malloc thresholds so activation buffers are reused between calls instead of being
            faulted in again (the README lists the measured gain). This changes the allocator of the whole process,
            which is why it is off by default; ``MMDET_FACE_DEFAULT_MALLOC=1`` in the environment vetoes it.

    A detector may be called from several threads at once: a call's ``score_thr`` / ``nms_thr`` go to the head
    as that call's own test config, and nothing of the detector is changed by a call.

    The stages of a call are methods of their own, for tools that time or replace one: :meth:`preprocess` (images
    -> the network's input batch and the image metas), :meth:`run_network` (batch -> the head's ``forward``
    outputs) and :meth:`decode` (those outputs -> :class:`FaceDetections`: the head's ``predict_by_feat``, NMS,
    clipping). :class:`mmdet_face.deployment.onnx_runtime.OnnxFaceDetector` replaces :meth:`run_network` by an
    onnxruntime session of an ONNX file and keeps the other two.
    """

    def __init__(self, config, checkpoint: Optional[str] = None, device: str = 'cpu',
                 fp16: Optional[bool] = None, letterbox: Optional[int] = None, optimize: bool = True,
                 strict: bool = True, tune_allocator: bool = False, clip_boxes: bool = True):
        from mmdet_face.apis import cpu_runtime
        from mmdet_face.apis.inference import init_face_detector

        check_detector_args(letterbox, clip_boxes)
        self.device = torch.device(device)
        model = init_face_detector(config, checkpoint, device=self.device, strict=strict)
        cfg = model.cfg
        if checkpoint is None:
            name = (os.fspath(config) if isinstance(config, (str, os.PathLike))
                    else getattr(model.cfg, 'filename', None))
            warnings.warn(f'FaceDetector: no checkpoint given, so the model of {name or "the config"} runs with its '
                          f'initial (random) weights and its detections mean nothing; pass the trained weights as '
                          f'checkpoint', RandomWeightsWarning, stacklevel=2)
        if optimize:
            model = cpu_runtime.optimize_for_inference(model, self.device)
        if tune_allocator and self.device.type == 'cpu':
            cpu_runtime.tune_cpu_allocator()
        self.fp16 = (self.device.type == 'cuda') if fp16 is None else fp16
        self._attach(model, cfg, letterbox, clip_boxes)

    def _attach(self, model, cfg, letterbox: Optional[int], clip_boxes: bool) -> None:
        """Hold ``model`` (built from the config ``cfg``): its head, test pipeline and the options the stages
        read."""
        from mmdet_face.keypoints import NUM_KEYPOINTS
        self.model = model
        self.cfg = cfg
        self.head = model.bbox_head
        self.num_keypoints = getattr(self.head, 'num_keypoints', NUM_KEYPOINTS)
        self._scope = self.cfg.get('default_scope', 'mmdet_face')
        self._base_pipeline = self._inference_pipeline(self.cfg.test_dataloader.dataset.pipeline)
        self._pipelines = {}
        self._plain_pipelines = {}  # max_size -> fast_preprocess.plain_pipeline of its pipeline
        self._call_cfgs = {}  # (score_thr, nms_thr) -> (the head's test_cfg then, the call's cfg): _shared_call_cfg
        self.letterbox = letterbox
        # Clipped to the image itself, whatever the head does: a head that clips to the network input (its
        # ``clips_boxes``) still comes back wider than the image after the letterbox's one scale factor (1024.9 px
        # for 1024 x 687 at 640), and the RetinaFace and DSFD heads keep their releases' unclipped boxes.
        self.clip_boxes = clip_boxes
        self._plain_preprocessor = fast_preprocess.is_plain_det_preprocessor(model.data_preprocessor)
        # read-only, computed once: the fused pipelines read them on every call
        self._norm_tables = (fast_preprocess.normalization_tables(model.data_preprocessor)
                             if self._plain_preprocessor else None)
        if self._norm_tables is not None:
            self._norm_tables.flags.writeable = False

    @staticmethod
    def _inference_pipeline(pipeline):
        """The test pipeline with images given as arrays and no annotation loading."""
        steps = []
        for step in copy.deepcopy(list(pipeline)):
            kind = step['type']
            if kind == 'LoadImageFromFile':
                step = dict(type='mmdet.LoadImageFromNDArray')
            elif 'Annotations' in kind:
                continue
            elif kind in ('PackDetInputs', 'PackFaceInputs'):
                step['meta_keys'] = ('img_id', 'ori_shape', 'img_shape', 'scale_factor', 'pad_shape')
            steps.append(step)
        return steps

    def _pipeline(self, max_size):
        pipeline = self._pipelines.get(max_size)
        if pipeline is None:
            from mmengine.dataset import Compose
            from mmengine.registry import DefaultScope

            from mmdet_face.datasets.transforms.capped_test_scales import RESIZE_TYPES
            steps = copy.deepcopy(self._base_pipeline)
            if max_size is not None:
                for step in steps:
                    if step['type'] in RESIZE_TYPES:
                        step.pop('scale_factor', None)
                        step['scale'] = (int(max_size), int(max_size))
                        step['keep_ratio'] = True
            with DefaultScope.overwrite_default_scope(self._scope):  # names resolve in the config's scope
                pipeline = Compose(steps)
            self._pipelines[max_size] = pipeline  # two threads may both build it: the same pipeline either way
        return pipeline

    def _call_cfg(self, score_thr: float, nms_thr: float):
        """The head's ``test_cfg`` with this call's thresholds, as a new object (the head's stays as it is)."""
        from mmengine.config import ConfigDict
        cfg = ConfigDict(copy.deepcopy(self.head.test_cfg) or {})
        cfg.score_thr = float(score_thr)
        nms = ConfigDict(cfg.get('nms') or dict(type='nms'))
        nms.iou_threshold = float(nms_thr)
        cfg.nms = nms
        return cfg

    def _shared_call_cfg(self, score_thr: float, nms_thr: float):
        """:meth:`_call_cfg`, kept for the next calls with the same thresholds while the head's ``test_cfg`` stays
        equal to what it was (the stages only read it; building a ``ConfigDict`` costs a call more than its
        decoding's Python around the compiled passes). At most ``MAX_SHARED_CALL_CFGS`` threshold pairs are kept."""
        key = (float(score_thr), float(nms_thr))
        kept = self._call_cfgs.get(key)
        if kept is not None and kept[0] == self.head.test_cfg:
            return kept[1]
        cfg = self._call_cfg(score_thr, nms_thr)
        if len(self._call_cfgs) >= MAX_SHARED_CALL_CFGS:
            self._call_cfgs.clear()
        self._call_cfgs[key] = (copy.deepcopy(self.head.test_cfg), cfg)
        return cfg

    @torch.no_grad()
    def preprocess(self, images: Sequence[np.ndarray], max_size: Optional[int] = None, first_id: int = 0,
                   allocate=None):
        """Stage 1: BGR uint8 images (:func:`read_image`'s) -> ``(inputs, img_metas)``: the network's input batch
        ``(B, 3, H, W)`` float32 (the test pipeline or letterbox, then the config's ``data_preprocessor``:
        normalised, channel order converted, padded to a common size) and one meta dict per image
        (``ori_shape``, ``img_shape``, ``scale_factor``, ``batch_input_shape`` ...). ``allocate(shape)``: the array
        the fused pipelines write the batch into (default: a new one)."""
        prep = self.model.data_preprocessor
        fuse = self._plain_preprocessor and fast_preprocess.fusable(images)
        if self.letterbox:
            if fuse:  # the letterbox written straight into the batch
                return fast_preprocess.letterbox_normalize_pad(images, max_size or self.letterbox, prep, first_id,
                                                               self._norm_tables, allocate)
            data = [self._letterbox(img, first_id + i, max_size or self.letterbox) for i, img in enumerate(images)]
        else:
            pipeline = self._pipeline(max_size)
            plain = self._plain_pipelines.get(max_size, False)
            if plain is False:
                plain = self._plain_pipelines[max_size] = fast_preprocess.plain_pipeline(pipeline.transforms)
            if fuse and plain is not None:  # a pipeline that only resizes, fused with the normalisation
                return fast_preprocess.resize_normalize_pad(images, plain, prep, first_id, self._norm_tables,
                                                            allocate)
            data = [pipeline(dict(img=img, img_id=first_id + i)) for i, img in enumerate(images)]
        images, samples = [d['inputs'] for d in data], [d['data_samples'] for d in data]
        if self._plain_preprocessor and fast_preprocess.applies_to(images):  # the same batch, bitwise, faster
            inputs, samples = fast_preprocess.normalize_and_pad(images, samples, prep)
        else:
            batch = prep(dict(inputs=images, data_samples=samples), False)
            inputs, samples = batch['inputs'], batch['data_samples']
        return inputs, [sample.metainfo for sample in samples]

    @torch.no_grad()
    def run_network(self, inputs: torch.Tensor) -> tuple:
        """Stage 2: the preprocessed batch -> the head's ``forward`` outputs (lists over levels of
        ``(B, A * C, h, w)``)."""
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.fp16):
            return self.head(self.model.extract_feat(inputs))

    @torch.no_grad()
    def decode(self, outs: tuple, img_metas: List[dict], cfg) -> List[FaceDetections]:
        """Stage 3: the head's outputs -> one :class:`FaceDetections` per image (the head's ``predict_by_feat``
        with the call's ``cfg`` (:meth:`_call_cfg`), rescaled to the original images, then clipped to them unless
        ``clip_boxes=False``)."""
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.fp16):
            predictions = self.head.predict_by_feat(*outs, batch_img_metas=img_metas, cfg=cfg, rescale=True)
        return self.finish(predictions, img_metas)

    def finish(self, predictions: list, img_metas: List[dict]) -> List[FaceDetections]:
        """The head's per-image predictions (``InstanceData``, original-image pixels) -> :class:`FaceDetections`,
        clipped to the images unless ``clip_boxes=False``."""
        results = []
        for meta, pred in zip(img_metas, predictions):
            faces = self._to_numpy(pred)
            if self.clip_boxes:
                clip_to_image(faces.bboxes, meta['ori_shape'][:2])
            results.append(faces)
        return results

    @torch.no_grad()
    def __call__(self, images: Union[ImageLike, Sequence[ImageLike]], score_thr: float = 0.5,
                 nms_thr: float = 0.4, max_size: Optional[int] = None,
                 batch_size: int = 8) -> Union[FaceDetections, List[FaceDetections]]:
        """Detect faces.

        Args:
            images: a path, a BGR ``numpy`` image, a PIL image, or a list of them (values and colour conversions
                as in :func:`read_image`).
            score_thr: minimum score kept (not NaN). nms_thr: IoU threshold of the NMS, in [0, 1].
            max_size: resize so the long side is ``max_size`` (a positive int; aspect kept); None uses the config's
                test size.
            batch_size: images per forward pass (a positive int; padded to a common size).

        Returns:
            FaceDetections for one image, a list of them for a list.
        """
        _check_call_args(score_thr, nms_thr, max_size, batch_size)
        single = not isinstance(images, (list, tuple))
        images = [images] if single else list(images)
        cfg = self._shared_call_cfg(score_thr, nms_thr)
        results = []
        for start in range(0, len(images), batch_size):
            chunk = [read_image(img) for img in images[start:start + batch_size]]
            inputs, img_metas = self.preprocess(chunk, max_size, first_id=start, allocate=self._batch_allocator())
            results.extend(self._detect(inputs, img_metas, cfg))
        return results[0] if single else results

    def _batch_allocator(self):
        """Where a call's preprocessing writes the batch (None: a new array)."""
        return None

    def _detect(self, inputs: torch.Tensor, img_metas: List[dict], cfg) -> List[FaceDetections]:
        """One preprocessed batch -> its detections (:meth:`run_network`, then :meth:`decode`)."""
        return self.decode(self.run_network(inputs), img_metas, cfg)

    @staticmethod
    def _letterbox(img: np.ndarray, img_id: int, size: int) -> dict:
        """The released SCRFD preprocessing (same integer sizes and scale as insightface's ``SCRFD.detect``)."""
        from mmdet.structures import DetDataSample

        from mmdet_face.utils.letterbox import letterbox
        h, w = img.shape[:2]
        canvas, new_h, new_w, scale = letterbox(img, size, size)
        sample = DetDataSample(metainfo=dict(img_id=img_id, ori_shape=(h, w), img_shape=(new_h, new_w),
                                             scale_factor=(scale, scale), pad_shape=(size, size)))
        return dict(inputs=torch.from_numpy(canvas).permute(2, 0, 1).contiguous(), data_samples=sample)

    def _to_numpy(self, pred) -> FaceDetections:
        """(N, 4) boxes, (N,) scores and (N, K, 2) keypoints (K = the head's ``num_keypoints``) as float32 numpy."""
        keypoints = None
        if 'keypoints' in pred:
            keypoints = pred.keypoints.float().cpu().numpy().reshape(-1, self.num_keypoints, 2)
        return FaceDetections(bboxes=pred.bboxes.float().cpu().numpy().reshape(-1, 4),
                              scores=pred.scores.float().cpu().numpy().reshape(-1), keypoints=keypoints)
