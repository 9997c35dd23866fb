"""Check a WIDER FACE submission folder against the image list it answers, before sending it to the benchmark's
server (http://shuoyang1213.me/WIDERFACE/):

    python tools/check_widerface_submission.py DIR --list wider_face_split/wider_face_test_filelist.txt \
        [--score-range 0 1]

DIR holds ``<event>/<image>.txt`` files: the image name, the box count, then ``x y w h score`` lines (what
``tools/test.py CONFIG CKPT --submission DIR`` writes). Each problem is printed with its file and line: a listed
image without its file, a file that is not text or whose count disagrees with its box lines, a line that is not five
numbers, a first line that is not the image name, a NaN or infinite value, a box with w or h <= 0, a score outside
--score-range (default [0, 1], the probabilities of this package's detectors), and any file or folder that answers
no listed image. The exit status is 1 when there is a problem, 0 when the folder is complete and valid. Imports
neither torch nor mmdet.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmdet_face.engine.cli import real_number  # noqa: E402
from mmdet_face.evaluation.functional.widerface_submission import (SCORE_RANGE, check_submission,  # noqa: E402
                                                                  read_image_list)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('pred_dir', metavar='DIR', help='the submission folder <event>/<image>.txt')
    parser.add_argument('--list', required=True, dest='image_list',
                        help='the image list the submission answers (wider_face_test_filelist.txt: one '
                        '<event>/<image>.jpg per line)')
    parser.add_argument('--score-range', type=real_number, nargs=2, metavar=('LOW', 'HIGH'), default=SCORE_RANGE,
                        help='the inclusive range of valid scores (default: %(default)s)')
    args = parser.parse_args(argv)
    if not args.score_range[0] <= args.score_range[1]:  # argparse error naming the option, exit status 2
        parser.error(f'--score-range {args.score_range[0]:g} {args.score_range[1]:g}: LOW must not exceed HIGH')
    return args


def main(argv=None):
    """Print the problems of the folder (stderr) or a one-line summary (stdout); returns the exit status."""
    args = parse_args(argv)
    try:
        names, linenos = read_image_list(args.image_list)
    except (OSError, ValueError) as err:
        print(f'check_widerface_submission: error: {err}', file=sys.stderr)
        return 1
    problems = check_submission(args.pred_dir, names, args.image_list, linenos, tuple(args.score_range))
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f'check_widerface_submission: {args.pred_dir}: {len(problems)} problem(s); not a valid submission for '
              f'the {len(names)} images of {args.image_list}', file=sys.stderr)
        return 1
    print(f'{args.pred_dir}: a valid submission for the {len(names)} images of {args.image_list}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
