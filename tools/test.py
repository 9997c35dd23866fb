"""Test a face detector: the same tool as ``tools/test_widerface.py`` (same options, same numbers) under the name
an MMDetection user types. WIDER FACE protocols (``--mode vga|origin|fixed``, ``--tta``, ``--max-size``), ``--out``,
launchers and submission scoring (``--pred-dir``) are documented in :mod:`mmdet_face.engine.widerface_test`.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out DIR] [--cfg-options ...]
    bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [same options]
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmdet_face.engine.widerface_test import end_process, main, parse_args  # noqa: E402,F401

if __name__ == '__main__':
    main(prog='tools/test.py')
    end_process()  # a distributed run ends without the interpreter's teardown (engine.dist)
