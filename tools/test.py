"""Test a face detector: WIDER FACE Easy / Medium / Hard AP exactly as the official evaluation kit computes them.
``tools/test_widerface.py`` is the same tool (same options, same numbers) under the WIDER FACE name; the reusable
pieces (config building, the model run, submission scoring) are :mod:`mmdet_face.engine.evaluate`.

Score an existing submission folder (``<event>/<image>.txt``); imports neither torch nor mmdet:
    python tools/test.py --pred-dir DIR --gt-dir GT_DIR [--json RESULT.json]

Run a model on the validation set through mmengine's test loop, then score it:
    python tools/test.py CONFIG CHECKPOINT [--out DIR] [--gt-dir GT_DIR]
        [--mode vga|origin|fixed --size N] [--tta] [--max-size N] [--cfg-options ...]
    bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [same options]

Run an ONNX export of CONFIG instead (onnxruntime; same pipeline, head decoding, metric and submission files, so an
FP32 and an INT8 file are one command each; not with --tta or --partial-load):
    python tools/test.py CONFIG --onnx FILE [--ort-threads N] [--out DIR] [--gt-dir GT_DIR] [--mode ...]

Test-time scales (the Resize step of ``cfg.test_dataloader.dataset.pipeline`` is replaced):
    vga     long side 640, aspect ratio kept (SCRFD's "VGA" protocol; --size changes 640)
    origin  the original image, no resizing (RetinaFace's single-scale protocol)
    fixed   every image resized to exactly N x N (--size N), boxes mapped back per axis
    --tta   multi-scale (--tta-scales, factors of the original size) + horizontal-flip test-time augmentation,
            merged by FaceTTAModel with NMS or box voting (--tta-merge), unless the config defines its own
            ``tta_model`` / ``tta_pipeline``
    --max-size N  cap every test scale of --tta and of --mode origin so that the resized image has at most N x N
            pixels (the area cap of the SRN release, ChiCheng123/SRN tools/test.py: ``largest_input =
            max_size * max_size``); ``--max-size-mode side`` caps the long side at N instead. A scale that would
            pass the cap is clipped to it, and scales that clip to the same size are tested once per image.

SRN's multi-scale + flip protocol (Chi et al., AAAI 2019; main result max size 1400, Hard-best 2100):
    python tools/test.py CONFIG CHECKPOINT --tta --tta-scales 0.5 1 1.5 2.25 3.375 16 \
        --tta-merge vote --tta-iou 0.5 --max-size 1400
The release tests 0.5x, 1x (+ flip), every 1.5^t x whose area stays under max_size^2, and one view exactly at
the cap; the scale 16 above always clips to that cap view. Merged by box voting at IoU >= 0.5, top 750. Not
reproduced here: the release flips only the 1x view (we flip every scale), keeps only boxes with max side > 30 px
from the 0.5x view and min side < 100 px from the enlarged views, and tests an image already over the cap at
r, 0.75 r, 0.5 r (r = the cap ratio) where the clipping here gives the listed scales that fit plus r.

WIDER FACE test submission (the test split's boxes are held by the benchmark's server; nothing is scored here):
    python tools/test.py CONFIG CHECKPOINT --submission DIR [--zip FILE]
        [--image-list wider_face_split/wider_face_test_filelist.txt --image-root WIDER_test/images] [--overwrite]
runs the model on the images of the test dataset's list (``configs/_base_/datasets/widerface_test.py``, or the list
given by --image-list with its images under --image-root), writes DIR/<event>/<image>.txt (the image name, the box
count, then ``x y w h score`` lines), checks it against the list (every listed image has its file, each count
matches its lines, no NaN or inf, scores in [0, 1], boxes with w, h > 0, nothing else in DIR) and zips it to
DIR.zip (or FILE). An existing DIR or archive is refused unless --overwrite. tools/check_widerface_submission.py
checks a folder written elsewhere.

Predictions are scored by the config's ``test_evaluator`` (every metric of a list, e.g. the landmark metric too) with
the WIDER FACE ground truth the config names (``--gt-dir`` overrides it); ``--out DIR`` also writes the submission
folder to DIR and the PR curves to ``DIR_pr_curves.json`` (tools/analysis/plot_widerface_pr.py plots them). A
DIR holding a submission is refused unless ``--overwrite`` (which replaces it whole); a file, or a folder holding
anything else (images, ground truth, your files), is refused whatever the flags, before the model is built.
Without the official difficulty lists the AP is printed as ``all``, never as Easy / Medium / Hard. The checkpoint
must fit the config exactly (``--partial-load`` loads the matching weights only, on purpose).

Other benchmarks: ``--dataset-config configs/_base_/datasets/afw.py`` (or ``pascal_face.py``) takes the test
dataset and evaluator from that file and keeps the model's test pipeline (``--mode`` / ``--tta`` apply to it):
    python tools/test.py CONFIG CHECKPOINT --dataset-config configs/_base_/datasets/afw.py [--mode origin]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

# light: importing these imports no torch, mmengine or mmdet, so --pred-dir scoring stays numpy-only
from mmdet_face.utils.output_file import is_inside  # noqa: E402
from mmdet_face.engine.cli import (ConfigOptionsAction, float_in, non_negative_int, positive_float,  # noqa: E402
                                   positive_int)
from mmdet_face.engine.evaluate import build_test_cfg, end_process, run_model, score_submission  # noqa: E402,F401


def parse_args(argv=None, prog=None):
    parser = argparse.ArgumentParser(prog=prog, description='WIDER FACE Easy/Medium/Hard AP (official protocol)')
    parser.add_argument('config', nargs='?', help='model config (not needed with --pred-dir)')
    parser.add_argument('checkpoint', nargs='?', help='model checkpoint (not needed with --pred-dir)')
    parser.add_argument('--pred-dir', help='score this submission folder instead of running a model')
    parser.add_argument('--gt-dir', help='folder of the official wider_{face,easy,medium,hard}_val.mat; '
                        'required with --pred-dir, else overrides the config\'s test_evaluator.gt_dir')
    parser.add_argument('--json', help='with --pred-dir: write APs and PR curves to this JSON file')
    parser.add_argument('--out', help='write the submission folder here (and DIR_pr_curves.json)')
    parser.add_argument('--overwrite', action='store_true',
                        help='with --out or --submission: replace an existing submission folder whole (and the '
                        '--submission archive; refused by default)')
    parser.add_argument('--submission', metavar='DIR',
                        help='WIDER FACE test submission: write DIR/<event>/<image>.txt for the test list, check it, '
                        'zip it (no scoring; the config\'s metrics are not run)')
    parser.add_argument('--zip', metavar='FILE', help='with --submission: the archive (default DIR.zip)')
    parser.add_argument('--image-list', metavar='FILE',
                        help='with --submission: the image list (wider_face_test_filelist.txt) instead of the test '
                        'dataset\'s annotation file')
    parser.add_argument('--image-root', metavar='DIR',
                        help='with --image-list: the folder its <event>/<image>.jpg paths are relative to')
    parser.add_argument('--partial-load', action='store_true',
                        help='load only the checkpoint weights that fit the model (default: refuse a checkpoint '
                        'that does not fit the config exactly)')
    parser.add_argument('--mode', choices=['vga', 'origin', 'fixed'], help='test scale (default: the config\'s)')
    parser.add_argument('--size', type=positive_int, help='long side for vga (default 640), side for fixed')
    parser.add_argument('--tta', action='store_true', help='multi-scale + flip test-time augmentation')
    parser.add_argument('--tta-scales', type=positive_float, nargs='+',
                        help='with --tta: factors of the original image size (e.g. 0.5 1 1.5 2; default 1)')
    parser.add_argument('--tta-merge', choices=['nms', 'vote'],
                        help='with --tta: merge the views by NMS (0.4, default) or box voting (0.3)')
    parser.add_argument('--tta-iou', type=float_in(0, 1, low_open=True, what='an IoU threshold'),
                        help='with --tta: IoU threshold of the merge (default 0.4 for nms, 0.3 for vote; '
                        'the SRN release votes at 0.5)')
    parser.add_argument('--max-size', type=positive_int,
                        help='with --tta or --mode origin: cap every test scale so that the resized image has at '
                        'most N x N pixels (SRN release: 1400, or 2100 for its best Hard AP); a scale over the cap '
                        'is clipped to it (the release drops such scales and adds one view exactly at the cap, '
                        'which clipping reproduces when a scale above the cap is listed); duplicates are tested '
                        'once')
    parser.add_argument('--max-size-mode', choices=['area', 'side'],
                        help='with --max-size: cap the area at N*N (SRN release, default) or the long side at N')
    parser.add_argument('--dataset-config',
                        help='score on another benchmark: take test_dataloader\'s dataset and test_evaluator from '
                        'this dataset config (e.g. configs/_base_/datasets/afw.py or pascal_face.py), keeping the '
                        'model config\'s test pipeline; --cfg-options apply after it')
    parser.add_argument('--onnx', help='run this ONNX export of CONFIG with onnxruntime instead of CHECKPOINT')
    parser.add_argument('--ort-threads', type=positive_int,
                        help='with --onnx: onnxruntime intra-op threads (default: one per physical core)')
    parser.add_argument('--work-dir')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction, metavar='KEY=VALUE',
                        help='config overrides key=value (mmengine DictAction: numbers, tuples, lists parsed)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=non_negative_int, default=0)
    args = parser.parse_args(argv)
    if args.pred_dir:
        if not args.gt_dir:
            parser.error('--pred-dir needs --gt-dir')
        if args.json and osp.isdir(args.json):
            parser.error(f'--json {args.json}: is a folder; give the name of the JSON file to write')
        for folder, option in ((args.pred_dir, '--pred-dir'), (args.gt_dir, '--gt-dir')):
            if args.json and is_inside(args.json, folder):
                parser.error(f'--json {args.json}: is inside the {option} folder {folder}; writing there would '
                             'change an input of the scoring. Write the JSON file elsewhere')
    elif args.onnx and args.checkpoint:
        parser.error(f'--onnx {args.onnx}: the ONNX file holds the weights; give CONFIG --onnx FILE without a '
                     f'CHECKPOINT (got {args.checkpoint})')
    elif not (args.config and (args.checkpoint or args.onnx)):
        parser.error('give CONFIG CHECKPOINT, CONFIG --onnx FILE, or --pred-dir DIR --gt-dir GT_DIR')
    check_option_combinations(parser, args)
    return args


MODEL_RUN_OPTIONS = ('out', 'overwrite', 'submission', 'zip', 'image_list', 'image_root', 'partial_load', 'mode',
                     'size', 'tta', 'tta_scales', 'tta_merge', 'tta_iou',
                     'max_size', 'max_size_mode', 'work_dir', 'cfg_options', 'dataset_config',
                     'onnx', 'ort_threads')


def check_option_combinations(parser, args):
    """Refuse options that would be silently ignored in the combination given (each names the option it needs),
    then fill in the defaults of the dependent options."""
    def flag(dest):
        return '--' + dest.replace('_', '-')

    given = {dest for dest in MODEL_RUN_OPTIONS if getattr(args, dest) not in (None, False)}
    if args.pred_dir and given:
        parser.error(f'{", ".join(sorted(flag(d) for d in given))}: not used with --pred-dir (which scores an '
                     'existing submission folder without running a model)')
    if args.pred_dir and (args.config or args.checkpoint):
        parser.error('give CONFIG CHECKPOINT (run a model) or --pred-dir (score a submission folder), not both')
    if args.json and not args.pred_dir:
        parser.error('--json applies to --pred-dir; a model run writes its APs and PR curves with --out DIR')
    if args.mode == 'fixed' and not args.size:
        parser.error('--mode fixed needs --size N')
    if args.size is not None and args.mode not in ('vga', 'fixed'):
        parser.error('--size sets the test size of --mode vga (long side) or --mode fixed (side); '
                     f'{"--mode " + args.mode if args.mode else "without --mode"} it would do nothing')
    if args.tta and args.mode:
        parser.error(f'--mode {args.mode} sets a single test scale, which --tta replaces by its views '
                     '(--tta-scales, factors of the original size; --max-size caps them)')
    for dest in ('tta_scales', 'tta_merge', 'tta_iou'):
        if getattr(args, dest) is not None and not args.tta:
            parser.error(f'{flag(dest)} applies to --tta, which is not given')
    if args.max_size_mode is not None and args.max_size is None:
        parser.error('--max-size-mode applies to --max-size, which is not given')
    if args.overwrite and not (args.out or args.submission):
        parser.error('--overwrite applies to --out or --submission, neither of which is given')
    if args.submission:
        for dest, why in (('out', 'writes a validation submission and scores it'),
                          ('gt_dir', 'scores against ground truth')):
            if getattr(args, dest):
                parser.error(f'{flag(dest)} {why}; --submission writes a test submission without scoring: give one')
    for dest in ('zip', 'image_list'):
        if getattr(args, dest) and not args.submission:
            parser.error(f'{flag(dest)} applies to --submission, which is not given')
    if args.zip and args.submission and is_inside(args.zip, args.submission):
        parser.error(f'--zip {args.zip}: is inside the --submission folder {args.submission}, which holds the '
                     'submission files only; write the archive elsewhere')
    if bool(args.image_list) != bool(args.image_root):
        parser.error('--image-list and --image-root go together (the list\'s <event>/<image>.jpg paths are '
                     'relative to --image-root)')
    if args.dataset_config and (args.out or args.gt_dir):
        parser.error(f'{"--out" if args.out else "--gt-dir"} applies to WIDER FACE; with --dataset-config the '
                     'dataset config\'s test_evaluator scores the run (set its options with --cfg-options, e.g. '
                     'test_evaluator.outfile=DETS.txt)')
    if args.ort_threads is not None and not args.onnx:
        parser.error('--ort-threads applies to --onnx, which is not given')
    for dest in ('tta', 'partial_load'):
        if args.onnx and getattr(args, dest):
            parser.error(f'{flag(dest)} is not available with --onnx (the ONNX file is run on the single test scale '
                         'and holds all its weights)')
    args.tta_scales = args.tta_scales or [1.0]
    args.tta_merge = args.tta_merge or 'nms'
    args.max_size_mode = args.max_size_mode or 'area'
    if args.max_size is not None:
        if args.mode in ('vga', 'fixed'):
            parser.error(f'--max-size applies to --tta and --mode origin; --mode {args.mode} sets the size (--size)')
        if not (args.tta or args.mode == 'origin'):
            parser.error('--max-size needs --tta or --mode origin')


def main(argv=None, prog='tools/test.py'):
    """Score a submission folder (``--pred-dir``), or run a model through mmengine's test loop and score it.
    Returns the metrics. ``prog`` is the program the user ran; the messages start with it."""
    args = parse_args(argv, prog)
    if args.pred_dir:
        return score_submission(args.pred_dir, args.gt_dir, args.json, prog)
    from mmdet_face.engine.dist import record_errors

    return record_errors(run_model)(args, prog)  # under torchrun: a failing rank's error is the root cause


if __name__ == '__main__':
    main()
    end_process()  # a distributed run ends without the interpreter's teardown (engine.dist)
