"""FP32 ONNX detector -> INT8 ONNX by onnxruntime's static quantisation, calibrated on real pre-processed images.

Static quantisation (``onnxruntime.quantization.quantize_static``) stores weights as int8 and fixes the scale and
zero point of every quantised activation from its range over a calibration set (MinMax calibration). The
calibration blobs must be exactly what the FP32 model is fed at test time, so they come from one of:

* a **folder** of images (searched recursively; ``.jpg .jpeg .png .bmp .webp``, sorted by path, the first ``num``
  taken), pre-processed as the file's layout says. The layout is read from the graph's input / output names, as
  the exporters of :mod:`mmdet_face.deployment` write them and the releases they copy:

  - SCRFD (insightface ``scrfd2onnx.py``; :mod:`.scrfd_onnx_export`): input ``input.1``, outputs ``score_*``:
    RGB, ``(x - 127.5) / 128``, letterboxed into the input size as insightface's ``SCRFD.detect`` does (aspect
    kept, top-left, black padding);
  - RetinaFace / DSFD (:mod:`.retinaface_onnx_export`, :mod:`.dsfd_onnx_export`): input ``input``, outputs
    ``loc, conf[, landms]``: BGR minus ``(104, 117, 123)``, letterboxed the same way;

  any other file needs a config;
* a **config** (an mmengine ``Config``): its ``test_dataloader`` (else ``val_dataloader``) dataset through the
  config's own test pipeline and ``model.data_preprocessor``, the blob placed top-left into the input size and
  padded with the preprocessor's pad value (0).

Before quantising, the graph goes through onnxruntime's ``quant_pre_process`` (symbolic shape inference, then the
basic graph optimisation and ONNX shape inference), which the onnxruntime documentation recommends so that the
quantiser sees every tensor's shape and folded constants; when it fails, the original graph is quantised and the
report says so.

``quant_format``: ``'qdq'`` (QuantizeLinear / DequantizeLinear pairs around float ops; onnxruntime fuses them into
integer kernels when it loads the file; other runtimes such as TensorRT read it) or ``'qoperator'`` (QLinearConv
... nodes written directly). Activations are uint8 and weights int8 (onnxruntime's recommended U8S8 on x86-64);
``per_channel`` gives each output channel of a conv its own weight scale (a QDQ graph is converted to opset 13 first:
earlier DequantizeLinear has no axis); ``reduce_range`` quantises weights to 7 bits (onnxruntime suggests it for
x86-64 CPUs without VNNI, whose int16 intermediate sums can saturate). The first conv stays in float by default
(``DEFAULT_EXCLUDE``); the exclusion groups are resolved on the pre-processed graph.

The written file is checked before it is kept: onnxruntime runs it on a few calibration blobs; its outputs must
have the FP32 file's names and shapes and be finite (the largest absolute difference to FP32 per output is
reported). A failure, like any other, leaves nothing under the output's name (:mod:`mmdet_face.utils.output_file`).
"""
import os
import os.path as osp
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from mmdet_face.utils.letterbox import letterbox
from mmdet_face.utils.output_file import atomic_output, check_output_path

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')
QUANT_FORMATS = ('qdq', 'qoperator')
# The first conv reads the 3-channel full-resolution image: as an integer kernel it needs the input quantised and
# transposed to NHWC and runs no faster than onnxruntime's blocked float conv, so it stays in float by default.
DEFAULT_EXCLUDE = ('first_conv',)
EXCLUDE_GROUPS = ('first_conv', 'heads', 'depthwise')


class QuantizationError(ValueError):
    """The calibration data or the quantised model is unusable (the message says which file and why)."""


class QuantizationCheckError(QuantizationError):
    """The INT8 file does not run like the FP32 file (other outputs, other shapes or non-finite values)."""


@dataclass(frozen=True)
class BlobLayout:
    """How an image becomes the network input: ``(pixel[channels] - mean) / std`` per channel, ``to_rgb``: the
    channels in RGB order (images are decoded BGR)."""
    family: str
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]
    to_rgb: bool


SCRFD_LAYOUT = BlobLayout('scrfd', (127.5, 127.5, 127.5), (128.0, 128.0, 128.0), True)
BGR_MEAN_LAYOUT = BlobLayout('retinaface/dsfd', (104.0, 117.0, 123.0), (1.0, 1.0, 1.0), False)


@dataclass
class QuantizationReport:
    """What :func:`quantize_onnx` did: the calibration images / samples used, the input size, the options, which
    pre-processing ran, and per output the largest ``|INT8 - FP32|`` over the checked blobs."""
    num_calibration: int
    input_size: Tuple[int, int]
    quant_format: str
    per_channel: bool
    reduce_range: bool
    pre_process: str
    excluded_nodes: List[str]
    max_abs_diff: Dict[str, float] = field(default_factory=dict)
    calibration_source: str = ''


# ---------------------------------------------------------------------------------------------------------------
# the FP32 file


def read_onnx(path: str):
    """The ONNX model at ``path``, checked to be complete and runnable by onnxruntime.

    Raises:
        FileNotFoundError: no such file.
        QuantizationError: the file is not a complete ONNX model (truncated, damaged, another format) or onnxruntime
            cannot load it; the message names the file.
    """
    import onnx
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such ONNX file')
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model)
    except Exception as err:  # protobuf DecodeError, checker ValidationError, external data missing ...
        raise QuantizationError(f'{path}: not a complete ONNX model (truncated, damaged or another format; '
                                f'{type(err).__name__}: {str(err).strip()[:300]})') from None
    if not model.graph.node or not model.graph.output:
        raise QuantizationError(f'{path}: the ONNX graph has no nodes or no outputs (truncated file?)')
    try:
        _session(path)
    except Exception as err:
        raise QuantizationError(f'{path}: onnxruntime cannot load it ({type(err).__name__}: '
                                f'{str(err).strip()[:300]})') from None
    return model


def _session(path: str, threads: int = 1):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])


def _graph_io(model) -> Tuple[str, List, List[str]]:
    """``(input name, input dims (int or None each), output names)`` of a one-input graph."""
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise QuantizationError(f'expected a graph with one image input, got {len(inputs)} inputs '
                                f'({[i.name for i in inputs]})')
    dims = [d.dim_value if d.HasField('dim_value') and d.dim_value > 0 else None
            for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or (dims[1] is not None and dims[1] != 3):
        raise QuantizationError(f'expected the input {inputs[0].name} to be an image batch (B, 3, H, W), got '
                                f'dimensions {dims}')
    return inputs[0].name, dims, [o.name for o in model.graph.output]


def blob_layout(model) -> Optional[BlobLayout]:
    """The pre-processing the graph's family expects (see the module docstring), or None for an unknown graph."""
    from .dsfd_onnx_export import INPUT_NAME as DSFD_INPUT, OUTPUT_NAMES as DSFD_OUTPUTS
    from .retinaface_onnx_export import INPUT_NAME as RETINAFACE_INPUT, OUTPUT_NAMES as RETINAFACE_OUTPUTS
    from .scrfd_onnx_export import INPUT_NAME as SCRFD_INPUT
    input_name, _, outputs = _graph_io(model)
    if input_name == SCRFD_INPUT and outputs and all(o.split('_')[0] in ('score', 'bbox', 'kps') for o in outputs):
        return SCRFD_LAYOUT
    if (input_name, tuple(outputs)) in ((RETINAFACE_INPUT, RETINAFACE_OUTPUTS), (DSFD_INPUT, DSFD_OUTPUTS)):
        return BGR_MEAN_LAYOUT
    return None


def resolve_input_size(model, input_size: Optional[Sequence[int]], path: str = 'the model') -> Tuple[int, int]:
    """``(H, W)`` the calibration blobs get: the graph's fixed size, or ``input_size`` for a graph with a symbolic
    height / width (required then; refused when it contradicts a fixed size)."""
    _, dims, _ = _graph_io(model)
    fixed = dims[2], dims[3]
    if None in fixed:
        if input_size is None:
            raise QuantizationError(f'{path}: the input height / width are symbolic ({fixed}); give the calibration '
                                    'size (--input-size H W)')
        return int(input_size[0]), int(input_size[1])
    if input_size is not None and tuple(int(v) for v in input_size) != fixed:
        raise QuantizationError(f'{path}: the input size is fixed at {fixed[0]}x{fixed[1]} (H x W); --input-size '
                                f'{input_size[0]} {input_size[1]} does not fit it')
    return int(fixed[0]), int(fixed[1])


# ---------------------------------------------------------------------------------------------------------------
# calibration blobs


def find_images(folder: str) -> List[str]:
    """Image files under ``folder`` (any depth), sorted by path."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(osp.join(root, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS))
    return sorted(found)


def image_blob(img: np.ndarray, layout: BlobLayout, height: int, width: int) -> np.ndarray:
    """A BGR uint8 image as the ``(1, 3, height, width)`` float32 input of a graph of ``layout``."""
    canvas = letterbox(img, height, width).canvas
    pixels = canvas[:, :, ::-1] if layout.to_rgb else canvas
    blob = (pixels.astype(np.float32) - np.asarray(layout.mean, np.float32)) / np.asarray(layout.std, np.float32)
    return np.ascontiguousarray(blob.transpose(2, 0, 1)[None])


def folder_blobs(folder: str, layout: BlobLayout, height: int, width: int, num: int) -> List[np.ndarray]:
    """The first ``num`` images under ``folder`` as input blobs (see :func:`image_blob`).

    Raises:
        QuantizationError: the folder holds no image file, or some of the chosen files cannot be decoded (all of
            them are named).
    """
    from mmdet_face.apis.face_detector import read_image
    if not osp.isdir(folder):
        raise QuantizationError(f'{folder}: the calibration folder does not exist')
    paths = find_images(folder)[:num]
    if not paths:
        raise QuantizationError(f'{folder}: no calibration images (files ending in {", ".join(IMAGE_EXTENSIONS)}) '
                                'in this folder or below it')
    blobs, failures = [], []
    for path in paths:
        try:
            blobs.append(image_blob(read_image(path), layout, height, width))
        except (OSError, ValueError) as err:
            failures.append(str(err))
    if failures:
        raise QuantizationError(f'{folder}: {len(failures)} of the {len(paths)} calibration images cannot be '
                                'decoded: ' + '; '.join(failures[:5]) + (' ...' if len(failures) > 5 else ''))
    return blobs


def config_blobs(cfg, height: int, width: int, num: int) -> List[np.ndarray]:
    """The first ``num`` samples of the config's ``test_dataloader`` (else ``val_dataloader``) dataset, through its
    pipeline and ``model.data_preprocessor``, each placed top-left into a ``(1, 3, height, width)`` blob padded
    with 0 (the preprocessor's pad value).

    Raises:
        QuantizationError: the config has no such dataset, the dataset is empty, or a blob is larger than the
            input size.
    """
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    from mmdet_face.registry import DATASETS, MODELS
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    name = getattr(cfg, 'filename', None) or 'the config'
    if not loader or 'dataset' not in loader:
        raise QuantizationError(f'{name}: has no test_dataloader / val_dataloader dataset to calibrate on')
    with DefaultScope.overwrite_default_scope('mmdet_face'):
        try:
            dataset = DATASETS.build(loader['dataset'])
        except (OSError, ValueError) as err:  # a missing annotation file, a bad line in it ...
            raise QuantizationError(f'{name}: its test / val dataset, the calibration data, cannot be read: '
                                    f'{err}') from None
        preprocessor = MODELS.build(cfg.model.data_preprocessor)
    if len(dataset) == 0:
        raise QuantizationError(f'{name}: its test / val dataset holds no images')
    blobs = []
    with torch.no_grad():
        for index in range(min(num, len(dataset))):
            inputs = preprocessor(pseudo_collate([dataset[index]]), False)['inputs'].float().numpy()
            h, w = inputs.shape[2:]
            if h > height or w > width:
                raise QuantizationError(f'{name}: its pipeline gives a {h}x{w} blob (sample {index}), larger than '
                                        f'the model input {height}x{width}; export the model at a larger size or '
                                        'dynamically (--input-size)')
            blob = np.zeros((1, 3, height, width), np.float32)
            blob[:, :, :h, :w] = inputs
            blobs.append(blob)
    return blobs


class BlobReader:
    """onnxruntime's ``CalibrationDataReader`` protocol over a list of blobs: ``get_next()`` gives
    ``{input name: blob}`` until the list is used up, then None; ``rewind()`` starts over."""

    def __init__(self, input_name: str, blobs: Sequence[np.ndarray]):
        self.input_name, self.blobs = input_name, list(blobs)
        self._iter: Iterator[np.ndarray] = iter(self.blobs)

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        blob = next(self._iter, None)
        return None if blob is None else {self.input_name: blob}

    def rewind(self) -> None:
        self._iter = iter(self.blobs)

    def __len__(self) -> int:
        return len(self.blobs)


# ---------------------------------------------------------------------------------------------------------------
# quantisation and check


def _pre_process(src: str, dst: str) -> str:
    """onnxruntime's ``quant_pre_process`` of ``src`` into ``dst``; returns what ran (``'quant_pre_process'``) or
    ``'none (...)'`` with the reason, ``dst`` then being a copy of ``src``."""
    from onnxruntime.quantization.shape_inference import quant_pre_process
    try:
        quant_pre_process(src, dst, skip_symbolic_shape=False, skip_optimization=False, skip_onnx_shape=False)
        if not osp.isfile(dst):
            raise RuntimeError('it wrote no file')
        return 'quant_pre_process'
    except Exception as err:
        shutil.copyfile(src, dst)
        return f'none (quant_pre_process failed: {type(err).__name__}: {str(err).strip()[:200]})'


PER_CHANNEL_QDQ_OPSET = 13  # the first opset whose DequantizeLinear takes an axis (per-channel scales)


def _ensure_opset(path: str, opset: int, shown: str) -> None:
    """Convert the ONNX file ``path`` in place to at least ``opset`` of the default domain (onnx's version
    converter); released SCRFD files are opset 11, whose DequantizeLinear has no per-channel axis."""
    import onnx
    from onnx import version_converter
    model = onnx.load(path)
    current = next((o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')), 0)
    if current >= opset:
        return
    try:
        converted = version_converter.convert_version(model, opset)
        onnx.checker.check_model(converted)
    except Exception as err:
        raise QuantizationError(f'{shown}: per-channel QDQ needs opset >= {opset}; converting the opset-{current} '
                                f'graph failed ({type(err).__name__}: {str(err).strip()[:200]}); use '
                                '--format qoperator or no --per-channel') from None
    onnx.save(converted, path)


def first_conv_and_heads(model) -> List[str]:
    """Names of the first Conv node and of the Conv nodes whose output reaches a graph output through shape-only
    ops (Transpose / Reshape / Sigmoid / Softmax / Concat / Mul ...) -- the layers whose INT8 error shows most
    directly in the detections."""
    convs = [n for n in model.graph.node if n.op_type == 'Conv']
    if not convs:
        return []
    producer = {o: n for n in model.graph.node for o in n.output}
    heads = set()
    passthrough = {'Transpose', 'Reshape', 'Sigmoid', 'Softmax', 'Concat', 'Mul', 'Flatten', 'Squeeze', 'Unsqueeze',
                   'Identity'}
    stack = [o.name for o in model.graph.output]
    seen = set()
    while stack:
        name = stack.pop()
        node = producer.get(name)
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node.op_type == 'Conv':
            heads.add(node.name)
        elif node.op_type in passthrough:
            stack.extend(node.input)
    return [convs[0].name] + sorted(heads - {convs[0].name})


def depthwise_convs(model) -> List[str]:
    """Names of the Conv nodes with more than one group (depthwise / grouped convs)."""
    from onnx import helper
    return [n.name for n in model.graph.node if n.op_type == 'Conv'
            and any(a.name == 'group' and helper.get_attribute_value(a) > 1 for a in n.attribute)]


def _nodes_to_exclude(path: str, exclude: Sequence[str], shown: str) -> List[str]:
    """The node names of the prepared graph at ``path`` that ``exclude`` names (groups resolved, see
    :func:`quantize_onnx`); unnamed nodes get the name ``<op>_<index>`` first (written back to ``path``), since the
    quantiser excludes nodes by name."""
    import onnx
    model = onnx.load(path)
    unnamed = [n for n in model.graph.node if not n.name]
    if unnamed:
        taken = {n.name for n in model.graph.node}
        for index, node in enumerate(model.graph.node):
            if not node.name:
                name = f'{node.op_type}_{index}'
                while name in taken:
                    name += '_'
                node.name = name
                taken.add(name)
        onnx.save(model, path)
    nodes = []
    for item in exclude:
        if item in ('first_conv', 'heads'):
            names = first_conv_and_heads(model)
            nodes.extend(names[:1] if item == 'first_conv' else names[1:])
        elif item == 'depthwise':
            nodes.extend(depthwise_convs(model))
        else:
            nodes.append(item)
    known = {n.name for n in model.graph.node}
    unknown = [n for n in nodes if n not in known]
    if unknown:
        raise QuantizationError(f'{shown}: no node named {unknown[:5]} to keep in float (names of the graph after '
                                'the pre-processing)')
    return list(dict.fromkeys(nodes))


def check_quantized(fp32_path: str, int8_path: str, input_name: str, blobs: Sequence[np.ndarray],
                    shown: str) -> Dict[str, float]:
    """Run both files on ``blobs``; returns ``{output: max |INT8 - FP32|}``.

    Raises:
        QuantizationCheckError: other output names or shapes, or a non-finite INT8 output (``shown`` names the file).
    """
    fp32, int8 = _session(fp32_path), _session(int8_path)
    names = [o.name for o in fp32.get_outputs()]
    got_names = [o.name for o in int8.get_outputs()]
    if got_names != names:
        raise QuantizationCheckError(f'{shown}: the INT8 graph has outputs {got_names}, the FP32 one {names}')
    diffs = {name: 0.0 for name in names}
    for k, blob in enumerate(blobs):
        ref = fp32.run(None, {input_name: blob})
        got = int8.run(None, {input_name: blob})
        for name, r, g in zip(names, ref, got):
            if g.shape != r.shape:
                raise QuantizationCheckError(f'{shown}: INT8 output {name} has shape {g.shape}, FP32 {r.shape}')
            if not np.isfinite(g).all():
                raise QuantizationCheckError(f'{shown}: INT8 output {name} holds {int((~np.isfinite(g)).sum())} '
                                             f'non-finite values on calibration blob {k}; nothing was written')
            diffs[name] = max(diffs[name], float(np.abs(g.astype(np.float64) - r).max(initial=0.0)))
    return diffs


def quantize_onnx(fp32_path: str, int8_path: str, calibration, *, num_images: int = 100,
                  per_channel: bool = False, quant_format: str = 'qdq', input_size: Optional[Sequence[int]] = None,
                  reduce_range: bool = False, exclude: Sequence[str] = DEFAULT_EXCLUDE, pre_process: bool = True,
                  num_check: int = 4, overwrite: bool = False) -> QuantizationReport:
    """Quantise the FP32 ONNX file ``fp32_path`` into ``int8_path`` (see the module docstring).

    Args:
        calibration: a folder of images (str / path-like naming a folder) or a config (mmengine ``Config``).
        num_images: how many calibration images / dataset samples (the first ones).
        per_channel: one weight scale per output channel.
        quant_format: ``'qdq'`` or ``'qoperator'``.
        input_size: ``(H, W)`` of the calibration blobs; required for a graph with symbolic height / width.
        reduce_range: 7-bit weights.
        exclude: what stays in float: ``'first_conv'`` (the default), ``'heads'`` (see
            :func:`first_conv_and_heads`), ``'depthwise'`` (:func:`depthwise_convs`) and / or node names; ``()``
            quantises every node onnxruntime can.
        pre_process: run onnxruntime's ``quant_pre_process`` first.
        num_check: how many calibration blobs the written file is checked on.
        overwrite: replace an existing ``int8_path``.

    Raises:
        OutputExistsError: ``int8_path`` exists and not ``overwrite`` (checked first; nothing is read).
        QuantizationError: unreadable input, calibration data without images, an unknown layout with a folder,
            the check failed. Nothing is written then.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    if quant_format not in QUANT_FORMATS:
        raise ValueError(f'quant_format must be one of {QUANT_FORMATS}, got {quant_format!r}')
    if num_images <= 0 or num_check < 0:
        raise ValueError(f'num_images must be > 0 and num_check >= 0, got {num_images} and {num_check}')
    fp32_path, int8_path = os.fspath(fp32_path), os.fspath(int8_path)
    check_output_path(int8_path, overwrite, inputs=(fp32_path,))
    model = read_onnx(fp32_path)
    input_name, _, _ = _graph_io(model)
    height, width = resolve_input_size(model, input_size, fp32_path)

    if isinstance(calibration, (str, os.PathLike)):
        layout = blob_layout(model)
        if layout is None:
            raise QuantizationError(f'{fp32_path}: not an SCRFD / RetinaFace / DSFD layout this tool knows (input '
                                    f'{input_name!r}); calibrate with the model\'s CONFIG instead of a folder')
        blobs = folder_blobs(os.fspath(calibration), layout, height, width, num_images)
        source = f'{len(blobs)} images of {os.fspath(calibration)} ({layout.family} pre-processing)'
    else:
        blobs = config_blobs(calibration, height, width, num_images)
        source = (f'{len(blobs)} samples of {getattr(calibration, "filename", None) or "the config"}\'s test / val '
                  'set (its pipeline and data_preprocessor)')

    tmp_dir = tempfile.mkdtemp(prefix='mmdet_face_quant_')
    try:
        prepared = osp.join(tmp_dir, 'prepared.onnx')
        if pre_process:
            pre = _pre_process(fp32_path, prepared)
        else:
            shutil.copyfile(fp32_path, prepared)
            pre = 'none (not asked for)'
        if per_channel and quant_format == 'qdq':
            _ensure_opset(prepared, PER_CHANNEL_QDQ_OPSET, fp32_path)
        nodes = _nodes_to_exclude(prepared, exclude, fp32_path)
        with atomic_output(int8_path, overwrite) as tmp:
            try:
                    quantize_static(prepared, tmp, BlobReader(input_name, blobs),
                                quant_format=QuantFormat.QDQ if quant_format == 'qdq' else QuantFormat.QOperator,
                                per_channel=per_channel, reduce_range=reduce_range,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                calibrate_method=CalibrationMethod.MinMax,
                                nodes_to_exclude=nodes)
            except Exception as err:  # onnxruntime's own errors (invalid graph, unsupported op ...)
                raise QuantizationError(f'{fp32_path}: onnxruntime could not quantise it ({type(err).__name__}: '
                                        f'{str(err).strip()[:400]})') from None
            if not osp.isfile(tmp) or osp.getsize(tmp) == 0:
                raise QuantizationError(f'{int8_path}: onnxruntime wrote no quantised model')
            diffs = check_quantized(fp32_path, tmp, input_name, blobs[:max(num_check, 1)], int8_path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return QuantizationReport(num_calibration=len(blobs), input_size=(height, width), quant_format=quant_format,
                              per_channel=per_channel, reduce_range=reduce_range, pre_process=pre,
                              excluded_nodes=nodes, max_abs_diff=diffs,
                              calibration_source=source)


__all__ = ['DEFAULT_EXCLUDE', 'EXCLUDE_GROUPS', 'IMAGE_EXTENSIONS', 'QUANT_FORMATS', 'BlobLayout', 'BlobReader',
           'QuantizationCheckError', 'QuantizationError', 'QuantizationReport', 'blob_layout', 'check_quantized',
           'config_blobs', 'depthwise_convs', 'find_images', 'first_conv_and_heads', 'folder_blobs', 'image_blob',
           'quantize_onnx', 'read_onnx', 'resolve_input_size']


def time_networks(paths: Sequence[str], blob: np.ndarray, repeat: int = 20, threads: int = 1,
                  block: int = 5) -> List[Tuple[float, float]]:
    """``(median, best)`` milliseconds of one ``session.run`` of each ONNX file in ``paths`` on ``blob`` with
    ``threads`` intra-op threads, over ``repeat`` runs measured in rotating blocks of ``block`` calls (one untimed
    call before each block) so that a slow spell of a shared machine hits every file alike. The best run is the
    one least disturbed by other jobs, the steadier figure on a shared machine."""
    import statistics
    import time
    sessions = [_session(p, threads) for p in paths]
    feeds = [{s.get_inputs()[0].name: blob} for s in sessions]
    times = [[] for _ in sessions]
    for r in range(max(1, -(-repeat // block))):
        order = list(range(len(sessions)))
        order = order[r % len(order):] + order[:r % len(order)]
        for k in order:
            sessions[k].run(None, feeds[k])
            for _ in range(block):
                start = time.perf_counter()
                sessions[k].run(None, feeds[k])
                times[k].append(time.perf_counter() - start)
    return [(1000 * statistics.median(t), 1000 * min(t)) for t in times]


__all__.append('time_networks')
