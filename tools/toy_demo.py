"""The built-in demo (``make demo``): toy face data -> train a small SCRFD on the CPU -> WIDER FACE AP -> picture.

    python tools/toy_demo.py [--work-dir work_dirs/demo] [--data data/toy_widerface] [--epochs N] [--seed S]
        [--threads T]

Everything it makes goes under the work dir and the data folder; an existing toy dataset is reused, and a data
folder holding anything else is refused (never written over), as is a work dir that is or holds the data folder. A
work dir that holds an earlier demo run is moved aside (``<work dir>.<time>``), never mixed with the new one or
deleted; one that a running demo or training holds is refused.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)
from mmdet_face.engine.cli import positive_int, read_tool_config, seed_int  # noqa: E402  (light: no torch)

DEFAULT_CONFIG = osp.join(REPO_ROOT, 'configs', 'toy', 'scrfd_toy_kps.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--data', default=osp.join(REPO_ROOT, 'data', 'toy_widerface'))
    parser.add_argument('--work-dir', default=osp.join(REPO_ROOT, 'work_dirs', 'demo'))
    parser.add_argument('--epochs', type=positive_int, help='override the config\'s number of epochs')
    parser.add_argument('--seed', type=seed_int, default=0)
    parser.add_argument('--threads', type=positive_int, default=None,
                        help='PyTorch CPU threads (default: as many as PyTorch picks, the number of cores). The same '
                        'seed and thread count give bit-identical weights and APs on one machine; another thread '
                        'count or CPU sums in another order and moves the APs (2-core VM, Hard AP: 0.9207 with 2 '
                        'threads, 0.9088 with 1)')
    args = parser.parse_args(argv)
    from mmdet_face.utils.output_file import is_inside
    if is_inside(args.data, args.work_dir):  # an earlier run's work dir is moved aside, with whatever it holds
        parser.error(f'--work-dir {args.work_dir}: is or holds the --data folder {args.data}; a work dir holding an '
                     'earlier run is moved aside, and the data would go with it. Choose a work dir outside --data')
    return args


def main(argv=None):
    args = parse_args(argv)
    from mmengine.runner import Runner

    import torch

    import mmdet_face
    from mmdet_face.datasets.toy import make_toy_widerface

    mmdet_face.register_all_modules(init_default_scope=False)
    if args.threads:
        torch.set_num_threads(args.threads)

    t0 = time.time()
    data_root = osp.abspath(args.data)
    if osp.exists(osp.join(data_root, 'val', 'gt', 'wider_hard_val.mat')):
        print(f'[demo] reusing the toy dataset in {data_root}')
    else:
        print(f'[demo] generating the toy face dataset in {data_root} ...')
        try:
            make_toy_widerface(data_root, seed=args.seed)
        except FileExistsError as err:  # a folder with other data: never written over
            sys.exit(f'tools/toy_demo.py: --data {err}')

    cfg = read_tool_config(args.config)
    from mmdet_face.engine.run_dir import WorkDirError
    try:
        lock, previous = take_work_dir(args.work_dir)  # noqa: F841  (held until the process ends)
    except WorkDirError as exc:
        sys.exit(f'tools/toy_demo.py: {exc}')
    if previous:
        print(f'[demo] moved the earlier run in {args.work_dir} to {previous}')
    cfg.work_dir = args.work_dir
    cfg.randomness = dict(seed=args.seed)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root + '/'
    for evaluator in ('val_evaluator', 'test_evaluator'):
        for metric in cfg[evaluator] if isinstance(cfg[evaluator], list) else [cfg[evaluator]]:
            if metric.get('type') == 'WiderFaceMetric':
                metric.gt_dir = osp.join(data_root, 'val', 'gt')
                metric.outfile_prefix = osp.join(args.work_dir, 'submission')
                metric.overwrite = True  # validation and the final test write the same (fresh) work dir
    if args.epochs:
        # schedulers that ran to the old last epoch now run to the new one
        for scheduler in cfg.param_scheduler:
            if scheduler.get('by_epoch', True) and scheduler.get('end') == cfg.train_cfg.max_epochs:
                scheduler.end = args.epochs
        cfg.train_cfg.max_epochs = args.epochs
        cfg.train_cfg.val_interval = args.epochs
    print(f'[demo] training {osp.relpath(args.config, REPO_ROOT)} on the CPU for '
          f'{cfg.train_cfg.max_epochs} epochs (progress every {cfg.default_hooks.logger.interval} iterations)')
    runner = Runner.from_cfg(cfg)
    runner.train()
    print('[demo] scoring on the toy val set with the WIDER FACE protocol ...')
    metrics = runner.test()

    picture = save_picture(runner, cfg, data_root, args.work_dir)
    pr_png = plot_pr_curves(args.work_dir)
    summary = {k: float(v) for k, v in metrics.items()}
    summary['minutes'] = (time.time() - t0) / 60
    summary['seed'], summary['threads'] = args.seed, torch.get_num_threads()
    with open(osp.join(args.work_dir, 'demo_result.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print('\n========== mmdet-face demo: toy SCRFD with keypoints ==========')
    print(f"WIDER FACE AP   Easy {metrics.get('widerface/easy', float('nan')):.4f}   "
          f"Medium {metrics.get('widerface/medium', float('nan')):.4f}   "
          f"Hard {metrics.get('widerface/hard', float('nan')):.4f}")
    if 'landmarks/nme' in metrics:
        print(f"Landmark NME    {metrics['landmarks/nme']:.4f} (mean distance / sqrt(box area)), "
              f"{100 * metrics['landmarks/matched']:.1f}% of annotated faces detected")
    print(f'Detections      {picture}')
    if pr_png:
        print(f'PR curves       {pr_png}')
    print(f"Total time      {summary['minutes']:.1f} min; results in {args.work_dir}")
    print(f"Reproduce       seed {args.seed}, {summary['threads']} thread(s): the same figures on this machine "
          f"(--seed, --threads)")
    return summary


def take_work_dir(work_dir):
    """``(lock, previous)``: hold ``work_dir`` for this run (:class:`mmdet_face.engine.run_dir.WorkDirLock`) after
    moving an earlier run's folder aside (:func:`move_previous_run`, ``previous`` is its new name or None). A folder
    that a live run holds is neither moved nor used (:class:`~mmdet_face.engine.run_dir.WorkDirInUseError`)."""
    from mmdet_face.engine.run_dir import WorkDirLock
    earlier = WorkDirLock(work_dir).acquire() if osp.isdir(work_dir) else None  # held while the folder moves
    try:
        previous = move_previous_run(work_dir)
        lock = WorkDirLock(work_dir).acquire()
    finally:
        if earlier is not None:
            earlier.release()
    lock.record()
    return lock, previous


def move_previous_run(work_dir):
    """Rename a non-empty ``work_dir`` to ``<work_dir>.<YYYYmmdd-HHMMSS>`` (its last change); returns the new name
    or None."""
    from mmdet_face.utils.output_file import move_aside
    if not (osp.isdir(work_dir) and os.listdir(work_dir)):
        return None
    return move_aside(work_dir, time.strftime('%Y%m%d-%H%M%S', time.localtime(osp.getmtime(work_dir))))


def plot_pr_curves(work_dir):
    """Easy/Medium/Hard PR curves of the run, drawn by tools/analysis/plot_widerface_pr.py."""
    import subprocess
    import sys
    curves = osp.join(work_dir, 'submission_pr_curves.json')
    out = osp.join(work_dir, 'pr_curves.png')
    script = osp.join(REPO_ROOT, 'tools', 'analysis', 'plot_widerface_pr.py')
    if not (osp.exists(curves) and osp.exists(script)):
        return None
    done = subprocess.run([sys.executable, script, curves, '--out', out, '--labels', 'toy SCRFD-kps'],
                          capture_output=True, text=True)
    return out if done.returncode == 0 else None


def save_picture(runner, cfg, data_root, work_dir):
    """Run the trained checkpoint through the FaceDetector API on the first val image and save the drawing
    (FaceLocalVisualizer, as the validation hook and tools/image_demo.py draw)."""
    import cv2

    from mmdet_face.apis import FaceDetector
    from mmdet_face.visualization import FaceLocalVisualizer

    img_path = runner.test_dataloader.dataset.get_data_info(0)['img_path']
    checkpoint = osp.join(work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')
    faces = FaceDetector(cfg, checkpoint)(img_path, score_thr=0.3)
    canvas = FaceLocalVisualizer(name='demo_picture').draw_detections(cv2.imread(img_path), faces)
    out = osp.join(work_dir, 'detections.jpg')
    os.makedirs(work_dir, exist_ok=True)
    cv2.imwrite(out, canvas)
    return out


if __name__ == '__main__':
    main()
