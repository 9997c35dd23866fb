"""FDDB: the discrete and continuous ROC, and the true-positive rate at 1,000 false positives of both, exactly as the
official ``evaluate`` program computes them (Jain and Learned-Miller, UMass tech. report UM-CS-2010-009, 2010).

Score a detection file, taking what the official program takes (``evaluate -d -a -l -i -r -f -z``):
    python tools/test_fddb.py --pred DETS.txt --gt ellipseList.txt --list imList.txt --img-dir originalPics \
        --out-prefix PREFIX [--det-format rectangle|ellipse] [--image-ext .jpg] [--plot ROC.png]
writes ``PREFIXDiscROC.txt`` (``TPR FP threshold`` per line, thresholds ascending) and ``PREFIXContROC.txt``
(``TPR FP``) as ``evaluate -r PREFIX`` does, and prints both headline numbers as its last line. The detection file
holds, per listed image, its name, the number of detections, then ``left top width height score`` per line
(rectangles) or ``major_axis_radius minor_axis_radius angle center_x center_y score`` (ellipses). The ten folds
pooled (as papers report) are the concatenated fold lists, ellipse lists and detections.

Run a model on the folds first, then score it (the model's test pipeline; batch size 1):
    python tools/test_fddb.py CONFIG CHECKPOINT --fold-dir FDDB-folds --img-dir originalPics \
        [--folds 1 2 ...] [--out-prefix PREFIX] [--cfg-options ...]
with ``--out-prefix`` it also writes the detections as ``PREFIXDets.txt`` in the official program's input layout.

Conversions some papers apply to box detectors (off by default): ``--height-scale 1.2`` (each box's height about
its centre), ``--to-ellipse`` (the ellipse inscribed in each box). ``--matching optimal`` replaces the official
program's assignment solver, which is not always maximal, by a maximum-weight matching (not the official number).
Existing ROC files are refused unless ``--overwrite``.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmdet_face.engine.cli import ConfigOptionsAction, positive_float, int_in  # noqa: E402

PROG = 'tools/test_fddb.py'
DET_FORMAT_NAMES = {'rectangle': 'rectangle', 'ellipse': 'ellipse', '0': 'rectangle', '1': 'ellipse'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description='FDDB discrete / continuous ROC (official protocol)')
    parser.add_argument('config', nargs='?', help='model config (not with --pred)')
    parser.add_argument('checkpoint', nargs='?', help='model checkpoint (not with --pred)')
    parser.add_argument('--pred', help='score this detection file (evaluate -d)')
    parser.add_argument('--gt', help='with --pred: the ellipse annotations, e.g. the concatenated '
                        'FDDB-fold-XX-ellipseList.txt (evaluate -a)')
    parser.add_argument('--list', help='with --pred: the images to score, e.g. the concatenated FDDB-fold-XX.txt '
                        '(evaluate -l)')
    parser.add_argument('--img-dir', required=True, help='the originalPics folder (evaluate -i)')
    parser.add_argument('--fold-dir', help='with a model: the FDDB-folds folder')
    parser.add_argument('--folds', nargs='+', type=int_in(1, 10), help='with a model: the folds (default all ten)')
    parser.add_argument('--out-prefix', help='write PREFIXDiscROC.txt and PREFIXContROC.txt (evaluate -r)')
    parser.add_argument('--det-format', default='rectangle', choices=sorted(DET_FORMAT_NAMES),
                        help='with --pred: detections as rectangles (0) or ellipses (1) (evaluate -f)')
    parser.add_argument('--image-ext', default='.jpg', help='appended to each image name (evaluate -z)')
    parser.add_argument('--matching', choices=['official', 'optimal'], default='official',
                        help='the official program\'s assignment solver (default) or a maximum-weight matching')
    parser.add_argument('--height-scale', type=positive_float, default=1.0,
                        help='multiply each detected box\'s height about its centre (e.g. 1.2; default 1: off)')
    parser.add_argument('--to-ellipse', action='store_true', help='score the ellipse inscribed in each box')
    parser.add_argument('--plot', help='with --pred: draw both ROC curves to this image file')
    parser.add_argument('--overwrite', action='store_true', help='replace existing output files')
    parser.add_argument('--work-dir')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction, metavar='KEY=VALUE',
                        help='config overrides key=value')
    args = parser.parse_args(argv)
    args.det_format = DET_FORMAT_NAMES[args.det_format]
    if args.pred:
        if args.config or args.checkpoint:
            parser.error('give CONFIG CHECKPOINT (run a model) or --pred (score a detection file), not both')
        for option in ('gt', 'list'):
            if not getattr(args, option):
                parser.error(f'--pred needs --{option}')
        for option in ('fold_dir', 'folds', 'work_dir', 'cfg_options'):
            if getattr(args, option):
                parser.error(f'--{option.replace("_", "-")}: applies to a model run, not to --pred')
    else:
        if not (args.config and args.checkpoint):
            parser.error('give CONFIG CHECKPOINT --fold-dir DIR, or --pred DETS --gt ELLIPSES --list LIST')
        if not args.fold_dir:
            parser.error('a model run needs --fold-dir (the FDDB-folds folder)')
        for option in ('gt', 'list', 'plot'):
            if getattr(args, option):
                parser.error(f'--{option}: applies to --pred; a model run reads the fold files of --fold-dir')
        if args.det_format != 'rectangle':
            parser.error('--det-format: a model run scores its boxes (rectangles; --to-ellipse for ellipses)')
    if args.to_ellipse and args.det_format == 'ellipse':
        parser.error('--to-ellipse converts rectangle detections; these are ellipses already')
    if args.height_scale != 1.0 and args.det_format == 'ellipse':
        parser.error('--height-scale applies to rectangle detections')
    if args.overwrite and not (args.out_prefix or args.plot):
        parser.error('--overwrite applies to --out-prefix / --plot, neither of which is given')
    return args


def check_outputs(args, with_detections=False):
    """End the tool before any work when an output exists and --overwrite is not given."""
    from mmdet_face.evaluation.functional.fddb_roc import roc_paths
    outputs = []
    if args.out_prefix:
        outputs += [(path, '--out-prefix') for path in roc_paths(args.out_prefix).values()]
        if with_detections:
            outputs.append((args.out_prefix + 'Dets.txt', '--out-prefix'))
    if args.plot:
        outputs.append((args.plot, '--plot'))
    for path, option in outputs:
        if os.path.lexists(path) and not args.overwrite:
            sys.exit(f'{PROG}: {option}: {path} already exists and was left unchanged; choose another {option}, '
                     'or pass --overwrite to replace it')


def score(args):
    from mmdet_face.engine.fddb_evaluate import FDDBInputError, score_detection_file
    from mmdet_face.evaluation.functional.fddb_roc import format_headline
    from mmdet_face.utils.output_file import OutputIsInputError
    check_outputs(args)
    try:
        result = score_detection_file(args.pred, args.gt, args.list, args.img_dir, args.out_prefix,
                                      args.det_format, args.image_ext, args.matching, args.height_scale,
                                      args.to_ellipse, args.plot, args.overwrite)
    except (OSError, FDDBInputError, OutputIsInputError) as err:
        sys.exit(f'{PROG}: {err}')
    if args.out_prefix:
        print(f'ROC files written: {args.out_prefix}DiscROC.txt, {args.out_prefix}ContROC.txt')
    if args.plot:
        print(f'ROC plot written: {args.plot}')
    print(f'{result.num_images} images, {result.num_faces} faces, {len(result.thresholds)} ROC points')
    print(format_headline(result))
    return result


def run_model(args):
    import mmdet_face
    from mmengine.runner import Runner

    from mmdet_face.apis.checkpoint import CheckpointMismatchError, load_runner_checkpoint
    from mmdet_face.engine.cli import tool_config
    from mmdet_face.engine.fddb_evaluate import fddb_test_cfg

    mmdet_face.register_all_modules(init_default_scope=False)
    for path, option in ((args.fold_dir, '--fold-dir'), (args.img_dir, '--img-dir')):
        if not osp.isdir(path):
            sys.exit(f'{PROG}: {option} {path}: no such folder')
    check_outputs(args, with_detections=True)  # before the model is built
    from mmdet_face.evaluation.functional.fddb_files import read_fddb_folds
    from mmdet_face.datasets.image_file import UnreadableImageError
    try:  # the fold files' messages name the file and line; checked before the model is built
        read_fddb_folds(args.fold_dir, args.folds or range(1, 11))
    except (OSError, ValueError) as err:
        sys.exit(f'{PROG}: {err}')
    cfg = tool_config(args.config, 'none', args.cfg_options, args.work_dir)
    cfg.load_from = None  # loaded strictly below
    try:
        fddb_test_cfg(cfg, args.fold_dir, args.img_dir, args.folds or range(1, 11), args.out_prefix, args.overwrite,
                      args.matching, args.height_scale, args.to_ellipse, args.image_ext)
        runner = Runner.from_cfg(cfg)
    except ValueError as err:
        sys.exit(f'{PROG}: {err}')
    try:
        load_runner_checkpoint(runner, args.checkpoint, strict=True, config_name=args.config)
    except (CheckpointMismatchError, FileNotFoundError) as err:
        sys.exit(f'{PROG}: {err}')
    try:
        metrics = runner.test()
    except (FileNotFoundError, UnreadableImageError) as err:  # a listed image missing or unreadable
        sys.exit(f'{PROG}: {err}')
    print(f'FDDB TPR@1000FP: discrete {metrics["fddb/discrete_tpr"]:.4f}, continuous '
          f'{metrics["fddb/continuous_tpr"]:.4f}')
    return metrics


def main(argv=None):
    args = parse_args(argv)
    return score(args) if args.pred else run_model(args)


if __name__ == '__main__':
    main()
