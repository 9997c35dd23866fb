"""Plot WIDER FACE precision-recall curves: three panels (Easy / Medium / Hard), one line per result, AP in legend.

    python tools/analysis/plot_widerface_pr.py RESULT.json [RESULT2.json ...] --out pr.png [--labels A B]

RESULT.json is what ``tools/test_widerface.py --pred-dir ... --json RESULT.json`` (or ``--out DIR``, as
``DIR_pr_curves.json``) writes, i.e. ``mmdet_face.evaluation.functional.widerface_report.dump_pr_curves``.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmdet_face.utils.output_file import same_file  # noqa: E402  (light: no torch)

SETTINGS = ('easy', 'medium', 'hard')


def load_result(path):
    with open(path) as f:
        data = json.load(f)
    missing = [s for s in SETTINGS if s not in data or s not in data.get('pr_curves', {})]
    if missing:
        raise ValueError(f'{path}: not a WIDER FACE PR-curve file (missing {missing}); '
                         'write one with tools/test_widerface.py --json')
    return data


def curve_points(curve):
    """(recall, precision) lists without the thresholds no box passes (precision null there)."""
    pts = [(r, p) for r, p in zip(curve['recall'], curve['precision']) if r is not None and p is not None]
    return [r for r, _ in pts], [p for _, p in pts]


def plot(results, labels, out):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    for ax, setting in zip(axes, SETTINGS):
        order = sorted(range(len(results)), key=lambda i: -results[i][setting])
        for i in order:
            rec, prec = curve_points(results[i]['pr_curves'][setting])
            ax.plot(rec, prec, linewidth=2, label=f'{results[i][setting]:.3f} {labels[i]}')
        ax.set_title(f'{setting.capitalize()} Val')
        ax.set_xlabel('Recall')
        ax.set_ylabel('Precision')
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.grid(True, alpha=0.3)
        ax.legend(loc='lower left', fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description='Plot WIDER FACE PR curves')
    parser.add_argument('results', nargs='+', help='JSON files written by tools/test_widerface.py --json')
    parser.add_argument('--out', required=True, help='output image (png, pdf, svg ...)')
    parser.add_argument('--labels', nargs='+', help='legend names (default: the name in each file, or its stem)')
    args = parser.parse_args(argv)
    for path in args.results:  # the plot must not replace a result it reads, whatever its extension
        if same_file(args.out, path):
            parser.error(f'--out {args.out}: is the input RESULT {path}; the plot would replace it. Choose another '
                         '--out')
    results = [load_result(p) for p in args.results]
    if args.labels and len(args.labels) != len(results):
        parser.error(f'--labels has {len(args.labels)} names for {len(results)} results')
    labels = args.labels or [r.get('name') or osp.splitext(osp.basename(p))[0] for r, p in zip(results, args.results)]
    plot(results, labels, args.out)
    print(f'PR curves written to {args.out}')


if __name__ == '__main__':
    main()
