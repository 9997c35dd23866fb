"""WIDER FACE test: ``tools/test.py`` under the WIDER FACE name (same options, same numbers, documented there).

    python tools/test_widerface.py CONFIG CHECKPOINT [--mode vga|origin|fixed --size N] [--tta ...] [--max-size N]
        [--out DIR [--overwrite]] [--gt-dir GT] [--partial-load] [--cfg-options key=value ...]
    python tools/test_widerface.py --pred-dir DIR --gt-dir GT_DIR [--json RESULT.json]   # numpy only
"""
import os.path as osp
import runpy

if __name__ == '__main__':
    test_tool = runpy.run_path(osp.join(osp.dirname(osp.abspath(__file__)), 'test.py'))
    test_tool['main'](prog='tools/test_widerface.py')
    test_tool['end_process']()  # a distributed run ends without the interpreter's teardown (engine.dist)
