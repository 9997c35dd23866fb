"""Score a detection file on AFW or PASCAL Face exactly as the evaluation toolbox of Mathias et al. (ECCV 2014,
``marcopede/face-eval`` ``plot_AP.py``) does: the re-annotated ground truth, faces under 30 x 30 px ignored,
detections of at most 21 px dropped, VOC overlap > 0.5 with inclusive pixels, five runs of box adjustment, VOC area
AP (:mod:`mmdet_face.evaluation.functional.face_pr`). Imports neither torch nor mmdet.

    python tools/test_afw_pascal.py --dataset afw --pred DETS.txt [--gt ANN.mat] [--out RESULT.json [--overwrite]]
        [--min-width 30 --min-height 30] [--iterations 5] [--iou-thresh 0.5]

DETS.txt has one detection per line, ``image_id score x1 y1 x2 y2`` (the toolbox's format; the image id is the
image file name with or without its extension). ``--gt`` defaults to the layout of data/README.md
(``data/afw/new_annotations_AFW.mat``, ``data/pascal_face/Annotations_Face_PASCALLayout_large_fixed.mat``).
``--out`` writes the AP and the curve as JSON (an existing file is kept unless ``--overwrite``). The last line
printed is ``AP <value>``. To run a model on the images, use ``tools/test.py CONFIG CHECKPOINT --dataset-config
configs/_base_/datasets/afw.py`` (or ``pascal_face.py``).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmdet_face.engine.cli import float_in, non_negative_float, positive_int  # noqa: E402

DEFAULT_GT = {'afw': 'data/afw/new_annotations_AFW.mat',
              'pascal': 'data/pascal_face/Annotations_Face_PASCALLayout_large_fixed.mat'}
NAMES = {'afw': 'AFW', 'pascal': 'PASCAL Face'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='AFW / PASCAL Face AP of a detection file (the face-eval toolbox '
                                     'of Mathias et al.)')
    parser.add_argument('--dataset', choices=sorted(DEFAULT_GT), required=True)
    parser.add_argument('--pred', required=True, help='detection file: "image_id score x1 y1 x2 y2" per line')
    parser.add_argument('--gt', help='the re-annotation .mat file (default: ' +
                        ', '.join(f'{k}: {v}' for k, v in DEFAULT_GT.items()) + ')')
    parser.add_argument('--out', help='write the AP and the precision-recall curve to this JSON file')
    parser.add_argument('--overwrite', action='store_true', help='with --out: replace an existing file')
    parser.add_argument('--min-width', type=non_negative_float, default=30,
                        help='faces narrower than this are ignored (toolbox --minw, 30)')
    parser.add_argument('--min-height', type=non_negative_float, default=30,
                        help='faces lower than this are ignored (toolbox --minh, 30)')
    parser.add_argument('--iterations', type=positive_int, default=5,
                        help='evaluation runs, each but the last followed by a box adjustment (toolbox --nit, 5)')
    parser.add_argument('--iou-thresh', type=float_in(0, 1, high_open=True, what='an overlap threshold'), default=0.5,
                        help='overlap a true positive must exceed (0.5)')
    args = parser.parse_args(argv)
    if args.overwrite and not args.out:
        parser.error('--overwrite applies to --out, which is not given')
    args.gt = args.gt or DEFAULT_GT[args.dataset]
    return args


def main(argv=None):
    """Score ``--pred``; returns the result of :func:`evaluate_face_pr`. A file that cannot be read or scored ends
    the tool with a message naming it."""
    args = parse_args(argv)
    from mmdet_face.evaluation.functional.afw_pascal_files import (dump_face_pr, ground_truth_by_key,
                                                                  load_face_eval_annotations, read_detections)
    from mmdet_face.evaluation.functional.face_pr import evaluate_face_pr
    from mmdet_face.utils.output_file import check_output_path
    prog = 'tools/test_afw_pascal.py'
    try:
        if args.out:
            check_output_path(args.out, args.overwrite, inputs=(args.pred, args.gt))
        for path, option in ((args.pred, '--pred'), (args.gt, '--gt')):
            if not osp.isfile(path):
                raise FileNotFoundError(f'{option} {path}: no such file')
        gt = ground_truth_by_key(load_face_eval_annotations(args.gt), args.gt)
        keys, scores, boxes = read_detections(args.pred)
        unknown = sorted(set(keys) - set(gt))
        if unknown:  # counted as false positives, as the toolbox does, but most likely a naming mistake
            print(f'{prog}: warning: {len(unknown)} image id(s) of {args.pred} are not in {args.gt} (e.g. '
                  f'{unknown[0]!r}); their detections count as false positives', file=sys.stderr)
        result = evaluate_face_pr(gt, keys, scores, boxes, min_width=args.min_width, min_height=args.min_height,
                                  iou_thresh=args.iou_thresh, iterations=args.iterations)
        if args.out:
            dump_face_pr(result, args.out, name=osp.basename(args.pred), overwrite=args.overwrite)
    except (OSError, ValueError) as err:  # the messages name the file and what was expected
        sys.exit(f'{prog}: {err}')
    print(f'{NAMES[args.dataset]}: {len(gt)} images, {result["num_gt"]} counted faces, {len(result["tp"])} '
          f'detections ({result["num_dropped"]} more dropped under the size rule), {int(result["tp"].sum())} true '
          f'positives')
    if args.out:
        print(f'AP and precision-recall curve written to {args.out}')
    print(f'AP {result["ap"]:.6f}')
    return result


if __name__ == '__main__':
    main()
