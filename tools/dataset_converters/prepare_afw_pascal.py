"""Lay out ``data/afw/`` or ``data/pascal_face/`` from the downloads, as ``configs/_base_/datasets/afw.py`` and
``pascal_face.py`` expect, checking them first.

    python tools/dataset_converters/prepare_afw_pascal.py --dataset afw --images AFW.zip \
        --ann new_annotations_AFW.mat [--out data/afw]
    python tools/dataset_converters/prepare_afw_pascal.py --dataset pascal --images VOCdevkit/VOC2012/JPEGImages \
        --ann Annotations_Face_PASCALLayout_large_fixed.mat [--out data/pascal_face]

Inputs: ``--images`` a zip as downloaded or a folder holding the images anywhere below it (AFW: the ``testimages/``
of the AFW release; PASCAL Face: PASCAL VOC 2012's ``JPEGImages/``), found by the annotation's ``imgname``;
``--ann`` the re-annotation file of Mathias et al. (see data/README.md).

Output (``--out``): ``testimages/<name>`` (AFW) or ``JPEGImages/<name>`` (PASCAL Face) holding the annotated images
only, and the annotation file under its name.

Before anything is written: the annotation file is read with the strict reader (an error names the entry and the
field), the number of annotated images must be the benchmark's (AFW 205, PASCAL Face 851; ``--expect-count N`` for
another set, ``--no-count-check`` to skip), and every annotated image must be in ``--images`` (the missing ones are
listed; ``--allow-missing`` writes the rest). Every zip member is checked against its CRC and every image is decoded
once. The output is written into a staging folder next to ``--out`` and moved into place only when complete;
existing outputs are replaced only with ``--force``; an ``--out`` that is or holds an input is refused.
"""
import argparse
import os
import os.path as osp
import shutil
import sys
import tempfile
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from download_archive import PrepareError, Source  # noqa: E402  (siblings of this tool)
from prepare_widerface import (check_out_outside, copy_checked_images, install_staged,  # noqa: E402
                               raise_if_damaged)

from mmdet_face.engine.cli import positive_int  # noqa: E402
from mmdet_face.evaluation.functional.afw_pascal_files import (ANNOTATION_FILES, ground_truth_by_key,  # noqa: E402
                                                              load_face_eval_annotations)

# annotated images of the re-annotations (AFW: Zhu & Ramanan 2012; PASCAL Face: Yan et al. 2014), as the papers and
# /work/shared/research/field-2026.md give them; unverified against the .mat files themselves
OFFICIAL_COUNTS = {'afw': 205, 'pascal': 851}
IMAGE_DIRS = {'afw': 'testimages', 'pascal': 'JPEGImages'}
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')


def prepare_afw_pascal(dataset: str, images: str, ann: str, out_dir: str, expect_count: Optional[int] = -1,
                       force: bool = False, allow_missing: bool = False, log=print) -> dict:
    """Check the inputs, then write the dataset under ``out_dir`` (module docstring). ``expect_count``: -1 for the
    benchmark's count, None for no check. Returns ``{'images', 'faces', 'flagged', 'missing'}``.

    Raises:
        PrepareError: nothing written; an input missing or damaged (each named), a count that differs, an
            annotated image not in ``images`` (unless ``allow_missing``), an existing output (unless ``force``).
        ValueError: a malformed annotation file (the message names the entry and the field).
    """
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise PrepareError(f'{out_dir}: is a file; expected the output folder')
    check_out_outside(out_dir, dict(images=images, ann=ann))
    image_dir, ann_name = IMAGE_DIRS[dataset], ANNOTATION_FILES[dataset]
    outputs = [image_dir, ann_name]
    existing = [osp.join(out_dir, rel) for rel in outputs if osp.lexists(osp.join(out_dir, rel))]
    if existing and not force:
        raise PrepareError(f'{out_dir} already holds {", ".join(existing)}; pass --force to replace them')
    if not osp.isfile(ann):
        raise PrepareError(f'--ann {ann}: no such file (expected {ann_name})')
    annotated = load_face_eval_annotations(ann)
    ground_truth_by_key(annotated, ann)  # one entry per image
    expected = OFFICIAL_COUNTS[dataset] if expect_count == -1 else expect_count
    if expected is not None and len(annotated) != expected:
        raise PrepareError(f'{ann}: {len(annotated)} annotated images, expected {expected} for '
                           f'{"AFW" if dataset == "afw" else "PASCAL Face"}; is it the right file? (--expect-count N '
                           'for another set, --no-count-check to skip the check)')
    source = Source(images)
    by_name = {}
    for member in source.names:
        if member.lower().endswith(IMAGE_EXTENSIONS):
            by_name.setdefault(osp.basename(member), []).append(member)
    missing, members = [], {}
    for image in annotated:
        name = osp.basename(image['name'].replace('\\', '/'))
        found = by_name.get(name, [])
        if len(found) > 1:
            raise PrepareError(f'{images}: the image {name} of {ann} entry {image["entry"]} is there more than once '
                               f'({", ".join(found[:3])}); give the folder that holds it once')
        if found:
            members[name] = found[0]
        else:
            missing.append(name)
    if missing and (not allow_missing or not members):
        raise PrepareError(f'{len(missing)} of the {len(annotated)} annotated images are not in {images} (e.g. '
                           f'{", ".join(missing[:3])})' + ('; --allow-missing writes the others' if members else ''))
    parent, base = osp.split(osp.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    stage = tempfile.mkdtemp(prefix=f'.{base}.preparing-', dir=parent)
    try:
        raise_if_damaged(copy_checked_images(source, members, osp.join(stage, image_dir)))
        shutil.copyfile(ann, osp.join(stage, ann_name))
        install_staged(stage, out_dir, outputs)
    finally:
        if osp.isdir(stage):
            shutil.rmtree(stage)
    stats = dict(images=len(members), faces=sum(len(i['faces']) for i in annotated),
                 flagged=sum(int(i['ignored'].sum()) for i in annotated), missing=missing)
    log(f'{out_dir}: {stats["images"]} images in {image_dir}/, {ann_name} with {stats["faces"]} faces '
        f'({stats["flagged"]} flagged)' + (f'; {len(missing)} annotated images missing' if missing else ''))
    return stats


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--dataset', choices=sorted(IMAGE_DIRS), required=True)
    parser.add_argument('--images', required=True, help='the images: a zip or a folder (AFW: AFW.zip or its '
                        'testimages/; PASCAL Face: VOCdevkit/VOC2012/JPEGImages)')
    parser.add_argument('--ann', required=True, help=f'the re-annotation file ({", ".join(ANNOTATION_FILES.values())})')
    parser.add_argument('--out', help='output folder (default: data/afw or data/pascal_face)')
    counts = parser.add_mutually_exclusive_group()
    counts.add_argument('--expect-count', type=positive_int,
                        help='expected number of annotated images (default: AFW 205, PASCAL Face 851)')
    counts.add_argument('--no-count-check', action='store_true')
    parser.add_argument('--force', action='store_true', help='replace existing outputs')
    parser.add_argument('--allow-missing', action='store_true', help='write the images that are there')
    args = parser.parse_args(argv)
    out = args.out or ('data/afw' if args.dataset == 'afw' else 'data/pascal_face')
    try:
        prepare_afw_pascal(args.dataset, args.images, args.ann, out,
                           expect_count=None if args.no_count_check else (args.expect_count or -1),
                           force=args.force, allow_missing=args.allow_missing)
    except (PrepareError, ValueError, OSError) as e:
        print(f'prepare_afw_pascal: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
