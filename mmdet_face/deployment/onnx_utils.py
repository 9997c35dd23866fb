"""Helpers shared by the ONNX exporters: graph simplification with or without onnxsim.

``simplify_onnx(path)`` rewrites ``path`` in place and returns the name of the simplifier that ran:

* ``'onnxsim'`` when ``onnxsim`` is importable and its result passes its own check;
* otherwise ``'onnxruntime'``: onnxruntime's offline graph optimisation at ``ORT_ENABLE_BASIC``
  (``SessionOptions.optimized_model_filepath``). The basic level only applies graph rewrites that keep standard
  ONNX ops (constant folding, removal of redundant nodes such as Identity / Dropout / duplicate Shape chains), so
  the result still runs on any ONNX runtime; the extended / layout levels would write onnxruntime-only fused ops
  and are not used.

Input and output names (and their order) are checked to be unchanged; if a simplifier changed them the original
file is kept and the next simplifier is tried. A result with more nodes than the original is not used either:
onnxruntime has no kernel for some ONNX function ops (opset-21 ``GroupNormalization``, which the SCRFD GN export
writes as a single node) and expands them into their ~15-node bodies. When every simplifier that ran only grew the
graph, the exported file is kept as it is and ``'none'`` is returned (export with ``--opset 17`` to get the
decomposition that onnxruntime then simplifies, or install onnxsim, which keeps the single node).
"""
import os.path as osp
import shutil
import tempfile
from typing import List, Optional, Sequence, Tuple

SIMPLIFIERS = ('onnxsim', 'onnxruntime')


def _io_names(model) -> Tuple[List[str], List[str]]:
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in initializers]
    return inputs, [o.name for o in model.graph.output]


def _log(msg: str) -> None:
    try:
        from mmengine.logging import print_log
        print_log(msg, logger='current')
    except Exception:  # pragma: no cover - mmengine is a hard dependency; keep the message anyway
        print(msg)


def _simplify_onnxsim(src: str, dst: str) -> None:
    import onnx
    from onnxsim import simplify as onnxsim_simplify  # ImportError -> caller falls back
    simplified, ok = onnxsim_simplify(onnx.load(src))
    if not ok:
        raise RuntimeError('onnxsim could not validate the simplified model')
    onnx.save(simplified, dst)


def _simplify_onnxruntime(src: str, dst: str) -> None:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = dst
    options.log_severity_level = 3  # errors only
    ort.InferenceSession(src, options, providers=['CPUExecutionProvider'])
    if not osp.isfile(dst):
        raise RuntimeError('onnxruntime did not write the optimised model')
    # onnxruntime declares every domain it knows (com.microsoft, ...); keep the original imports plus any domain a
    # node actually uses, so the file reads as the plain ONNX model it is
    import onnx
    original = {o.domain: o.version for o in onnx.load(src, load_external_data=False).opset_import}
    model = onnx.load(dst)
    used = {n.domain for n in model.graph.node}
    keep = [o for o in model.opset_import if o.domain in original or o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    onnx.checker.check_model(model)
    onnx.save(model, dst)


class _NotSimpler(RuntimeError):
    """The simplifier ran but its graph is larger than the original."""


def simplify_onnx(path: str, simplifiers: Optional[Sequence[str]] = None,
                  display_name: Optional[str] = None) -> str:
    """Simplify the ONNX file ``path`` in place; returns the simplifier used ('onnxsim' or 'onnxruntime'), or
    'none' when the simplifiers that ran would only have grown the graph (the file is then left unchanged).

    Args:
        path: ONNX file, overwritten with the simplified graph.
        simplifiers: order to try them in (default ``SIMPLIFIERS``: onnxsim, then onnxruntime's basic offline
            optimisation). A simplifier that is not installed, fails, or renames the graph inputs / outputs is
            skipped with a logged reason.
        display_name: what the log calls the file (default ``path``; the exporters simplify a temporary file).

    Raises:
        RuntimeError: none of them could run (the file is left unchanged).
    """
    import onnx
    simplifiers = tuple(SIMPLIFIERS if simplifiers is None else simplifiers)
    unknown = [s for s in simplifiers if s not in SIMPLIFIERS]
    if unknown:
        raise ValueError(f'unknown simplifier(s) {unknown}; choose from {SIMPLIFIERS}')
    shown = path if display_name is None else display_name
    original = onnx.load(path, load_external_data=False)
    expected, num_nodes = _io_names(original), len(original.graph.node)
    runners = dict(onnxsim=_simplify_onnxsim, onnxruntime=_simplify_onnxruntime)
    reasons = []
    not_simpler = False
    tmp_dir = tempfile.mkdtemp(prefix='mmdet_face_simplify_')
    try:
        for name in simplifiers:
            dst = osp.join(tmp_dir, f'{name}.onnx')
            try:
                runners[name](path, dst)
                result = onnx.load(dst, load_external_data=False)
                got = _io_names(result)
                if got != expected:
                    raise RuntimeError(f'inputs/outputs changed from {expected} to {got}')
                if len(result.graph.node) > num_nodes:
                    raise _NotSimpler(f'its graph has {len(result.graph.node)} nodes, the exported one {num_nodes} '
                                      '(ONNX function ops expanded)')
            except Exception as err:  # ImportError (onnxsim missing) included
                not_simpler = not_simpler or isinstance(err, _NotSimpler)
                reasons.append(f'{name}: {type(err).__name__}: {err}')
                _log(f'ONNX simplify: {name} not used ({type(err).__name__}: {err})')
                continue
            shutil.move(dst, path)
            _log(f'ONNX simplify: simplified {shown} with {name} ({num_nodes} -> {len(result.graph.node)} nodes)')
            return name
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    if not_simpler:
        _log(f'ONNX simplify: kept {shown} as exported ({num_nodes} nodes): ' + '; '.join(reasons))
        return 'none'
    raise RuntimeError(f'could not simplify {shown}: ' + '; '.join(reasons))


__all__ = ['SIMPLIFIERS', 'simplify_onnx']
