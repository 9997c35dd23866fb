"""WIDER FACE test: run a model on the val set and score it (Easy / Medium / Hard AP, exactly the official kit), or
score a submission folder (``--pred-dir DIR --gt-dir GT``, numpy only: imports neither torch nor mmdet).

    python tools/test_widerface.py CONFIG CHECKPOINT [--mode vga|origin|fixed --size N] [--tta ...] [--max-size N]
        [--out DIR [--overwrite]] [--gt-dir GT] [--partial-load] [--cfg-options key=value ...]
    python tools/test_widerface.py --pred-dir DIR --gt-dir GT_DIR [--json RESULT.json]
    bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [same options]

``tools/test.py`` is the same tool under mmdet's name. The logic and every option are documented in
:mod:`mmdet_face.engine.widerface_test`.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmdet_face.engine.widerface_test import end_process, main  # noqa: E402

if __name__ == '__main__':
    main(prog='tools/test_widerface.py')
    end_process()  # a distributed run ends without the interpreter's teardown (engine.dist)
