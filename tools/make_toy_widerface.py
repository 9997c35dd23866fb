"""Write the synthetic toy WIDER FACE used by the demo and the tests.

    python tools/make_toy_widerface.py --out data/toy_widerface [--num-train 400 --num-val 100 --size 320 --seed 0]

OUT must be new, empty or an earlier toy set; a folder holding anything else (a real WIDER FACE, other files) is
refused, naming what it holds, and nothing is written. The logic lives in :mod:`mmdet_face.datasets.toy`.
"""
from mmdet_face.datasets.toy import main

if __name__ == '__main__':
    main()
