"""Lay out ``data/widerface/`` from the official WIDER FACE downloads, as the configs expect.

    python tools/dataset_converters/prepare_widerface.py --src ~/Downloads --out data/widerface \
        [--landmarks retinaface_gt_v1.1.zip]

Inputs (each a ``.zip`` as downloaded or the unpacked folder; ``--src DIR`` finds them there by their official
names, an explicit option wins):

- ``--train-images`` ``WIDER_train.zip`` (``WIDER_train/images/<event>/<name>.jpg``), ``--val-images``
  ``WIDER_val.zip``;
- ``--split`` ``wider_face_split.zip`` (``wider_face_split/wider_face_{train,val}_bbx_gt.txt``);
- ``--eval-kit`` ``eval_tools.zip`` or a folder holding ``ground_truth/wider_{face,easy,medium,hard}_val.mat``;
- ``--landmarks`` (optional) the 5-point annotations for training: RetinaFace's ``retinaface_gt_v1.1``
  ``train/label.txt`` (or that zip / folder) or a ``labelv2.txt``;
- ``--test-images`` (optional) ``WIDER_test.zip`` (``WIDER_test/images/<event>/<name>.jpg``, no annotations), with
  ``wider_face_split/wider_face_test_filelist.txt`` from ``--split``.

Output (``--out``, default ``data/widerface``)::

    train/images/<event>/<name>.jpg   train/labelv2.txt   (from --landmarks if given, else from the train bbx_gt)
    val/images/<event>/<name>.jpg     val/labelv2.txt     (from the val bbx_gt)
    val/gt/wider_face_val.mat  val/gt/wider_{easy,medium,hard}_val.mat
    test/images/<event>/<name>.jpg    wider_face_split/wider_face_test_filelist.txt   (with --test-images)

``labelv2.txt`` headers carry the image size read from the written image (``# <event>/<name>.jpg <width>
<height>``); boxes are converted from ``x y w h`` to ``x1 y1 x2 y2``; official faces flagged ``invalid`` become
ignore boxes (``x1 y1 x2 y2 1``); landmarks and their flags are copied as given, the trailing score of
``label.txt`` is dropped.

Before anything is written, the inputs are checked: annotations are parsed with the dataset's strict readers,
every annotated image must be in the image download, the evaluation kit's image list must equal the val
annotations', and the image counts must be the official 12,880 train / 3,226 val (``--expect-counts TRAIN VAL``
for another set, ``--no-count-check`` to skip); with the test split, every image of the test list must be in the
test download and both must hold the official 16,097 images (``--expect-test-count N``). Anything missing is
listed (``--allow-missing`` writes the rest).
While writing, every zip member is checked against its CRC and every image is decoded once; a damaged archive,
member or image is an error naming it. The dataset is written into a staging folder next to ``--out`` and moved into
place only when complete, so a failure leaves ``--out`` as it was. Existing output files are never overwritten
without ``--force``, and with it they are replaced only once the new dataset is complete. An ``--out`` that is or
holds an input (``--src`` or a download) is refused whatever the flags.
"""
import argparse
import os
import os.path as osp
import shutil
import sys
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from download_archive import PrepareError, Source, looks_like_zip  # noqa: E402  (a sibling of this tool)

from mmdet_face.datasets.formats import (content_lines, detect_format, parse_labelv2, parse_retinaface_gt,
                                         parse_wider_gt, read_lines)
from mmdet_face.datasets.image_file import image_problem, image_size
from mmdet_face.utils.output_file import is_inside, same_file
from mmdet_face.engine.cli import positive_int
from mmdet_face.evaluation.functional.widerface_gt_mat import load_gt_boxes
from mmdet_face.evaluation.functional.widerface_submission import read_image_list

OFFICIAL_COUNTS = (12880, 3226)  # train, val images of the WIDER FACE release
OFFICIAL_TEST_COUNT = 16097  # test images (32,203 in all)
TEST_LIST = 'wider_face_test_filelist.txt'
GT_MATS = ('wider_face_val.mat', 'wider_easy_val.mat', 'wider_medium_val.mat', 'wider_hard_val.mat')
SPLIT_FILES = dict(train='wider_face_train_bbx_gt.txt', val='wider_face_val_bbx_gt.txt')


def _fmt(value: float) -> str:
    """A coordinate as short text: integers without a decimal point, others to 6 decimals at most."""
    text = f'{float(value):.6f}'.rstrip('0').rstrip('.')
    return '0' if text == '-0' else text


def _default(src: Optional[str], names: Sequence[str]) -> Optional[str]:
    if src is None:
        return None
    for name in names:
        if osp.exists(osp.join(src, name)):
            return osp.join(src, name)
    return None


def _landmark_lines(path: str, fmt: str) -> Dict[str, Tuple[int, Optional[Tuple[int, int]], List[str]]]:
    """``{image name: (header line number, (width, height) from the header or None, labelv2 face lines)}``.

    Called after the dataset's parser accepted the file, so the layout is known to be valid; the face lines are
    rewritten as text to keep the landmark flags exactly as given."""
    blocks: Dict[str, Tuple[int, Optional[Tuple[int, int]], List[str]]] = {}
    current: Optional[List[str]] = None
    for lineno, line in content_lines(read_lines(path)):
        tokens = line[1:].split() if line.startswith('#') else line.split()
        if line.startswith('#'):
            if tokens[0] in blocks:
                raise PrepareError(f'{path}:{lineno}: the image {tokens[0]} is listed a second time (first on line '
                                   f'{blocks[tokens[0]][0]})')
            size = (int(float(tokens[1])), int(float(tokens[2]))) if len(tokens) == 3 else None
            current = []
            blocks[tokens[0]] = (lineno, size, current)
        elif fmt == 'retinaface_gt':
            x, y, w, h = (float(t) for t in tokens[:4])
            box = [_fmt(x), _fmt(y), _fmt(x + w), _fmt(y + h)]
            current.append(' '.join(box + tokens[4:19]))  # the 20th number (a score) is not part of labelv2
        else:
            current.append(' '.join(tokens))
    return blocks


def _wider_gt_lines(images: List[dict], desc: str) -> Dict[str, Tuple[int, Optional[Tuple[int, int]], List[str]]]:
    blocks = {}
    for image in images:
        if image['name'] in blocks:
            raise PrepareError(f'{desc}:{image["lineno"]}: the image {image["name"]} is listed a second time (first '
                               f'on line {blocks[image["name"]][0]})')
        lines = []
        for bbox, _, _, ignore in image['faces']:
            lines.append(' '.join(_fmt(v) for v in bbox.tolist()) + (' 1' if ignore else ''))
        blocks[image['name']] = (image['lineno'], None, lines)
    return blocks


def _mat_image_names(path: str) -> List[str]:
    """``<event>/<name>.jpg`` of every image in an official ``wider_face_val.mat`` (read and checked by the
    evaluator's :func:`load_gt_boxes`)."""
    return [f'{event}/{name}.jpg' for event, images in load_gt_boxes(path).items() for name in images]


def _examples(items: Sequence[str], k: int = 3) -> str:
    items = sorted(items)
    return ', '.join(items[:k]) + (f', ... ({len(items)} in all)' if len(items) > k else '')


# what the tool writes under --out, relative to it; each is replaced as a whole
OUTPUTS = ('train/images', 'train/labelv2.txt', 'val/images', 'val/labelv2.txt',
           *(f'val/gt/{mat}' for mat in GT_MATS), 'test/images', f'wider_face_split/{TEST_LIST}')


def copy_checked_images(source: Source, members: Dict[str, str], dest_dir: str) -> List[str]:
    """Copy each ``{relative path: member}`` of ``source`` to ``dest_dir/<relative path>`` (a zip member's CRC
    checked as it is read) and decode it once; returns the problems (each naming the image), whose copies are
    removed."""
    damaged: List[str] = []
    for rel, member in members.items():
        dest = osp.join(dest_dir, rel)
        try:
            source.copy(member, dest)
        except PrepareError as e:
            damaged.append(str(e))
            continue
        problem = image_problem(dest)
        if problem is not None:
            damaged.append(f'{source.describe(member)} {problem}')
            os.remove(dest)
    return damaged


def raise_if_damaged(damaged: List[str]) -> None:
    """``PrepareError`` listing (up to 10 of) the problems of :func:`copy_checked_images`, if any."""
    if damaged:
        raise PrepareError(f'{len(damaged)} image(s) are damaged or cannot be decoded; nothing was written:\n  '
                           + '\n  '.join(damaged[:10]) + (f'\n  ... ({len(damaged)} in all)' if len(damaged) > 10
                                                           else ''))


def _write_dataset(stage: str, image_sources, annotations, mats, missing: List[str], test_list=None) -> dict:
    """Write the dataset under ``stage``: the images (each one's zip CRC checked as it is read, each one decoded
    once: a damaged or undecodable image is found here, before anything reaches ``--out``), the ``labelv2.txt``
    files with the images' sizes, the evaluation kit's ``.mat`` files, the test list (``test_list``:
    ``(source, member)``). Returns the statistics.

    Raises:
        PrepareError: listing every image that is damaged or cannot be decoded, and the first damaged
            annotation / ``.mat`` member.
    """
    stats = dict(missing=missing)
    damaged: List[str] = []
    for split_name in ('train', 'val', 'test'):
        if split_name in image_sources:
            source, members = image_sources[split_name]
            damaged += copy_checked_images(source, members, osp.join(stage, split_name, 'images'))
            stats[f'{split_name}_images'] = len(members)
    raise_if_damaged(damaged)
    for split_name in ('train', 'val'):
        if split_name in annotations and split_name in image_sources:
            desc, blocks = annotations[split_name]
            lines, num_faces = [], 0
            for name, (lineno, header_size, faces) in blocks.items():
                img_path = osp.join(stage, split_name, 'images', name)
                if not osp.isfile(img_path):
                    continue  # reported as missing before
                try:
                    size = image_size(img_path)
                except Exception as e:  # decoded above, but its header is one PIL cannot read
                    raise PrepareError(f'{desc}:{lineno}: the size of {name} cannot be read '
                                       f'({type(e).__name__}: {e})') from None
                if header_size is not None and header_size != size:
                    raise PrepareError(f'{desc}:{lineno}: the header gives {name} the size {header_size[0]}x'
                                       f'{header_size[1]}, the image is {size[0]}x{size[1]}')
                lines.append(f'# {name} {size[0]} {size[1]}')
                lines.extend(faces)
                num_faces += len(faces)
            with open(osp.join(stage, split_name, 'labelv2.txt'), 'w', encoding='utf-8') as f:
                f.write('\n'.join(lines) + '\n')
            stats[f'{split_name}_faces'] = num_faces
            stats[f'{split_name}_annotations'] = desc
    for mat, (source, member) in mats.items():
        source.copy(member, osp.join(stage, 'val', 'gt', mat))
    if test_list is not None:
        test_list[0].copy(test_list[1], osp.join(stage, 'wider_face_split', TEST_LIST))
    return stats


def _remove(path: str) -> None:
    if osp.isdir(path) and not osp.islink(path):
        shutil.rmtree(path)
    elif osp.lexists(path):
        os.remove(path)


def install_staged(stage: str, out_dir: str, rel_paths: Sequence[str]) -> None:
    """Move the finished ``rel_paths`` from ``stage`` into ``out_dir``.

    A new ``out_dir`` is the staging folder renamed. Into an existing one each path is renamed, after its old
    version (``--force``) was set aside in a folder next to ``out_dir``; the old versions are removed only when
    every new one is in place, and put back if a rename fails. Anything else in ``out_dir`` is left alone.
    """
    if not osp.lexists(out_dir):
        os.rename(stage, out_dir)
        return
    parent, base = osp.split(osp.abspath(out_dir))
    aside = tempfile.mkdtemp(prefix=f'.{base}.replaced-', dir=parent)
    done: List[Tuple[str, Optional[str]]] = []  # (target, its old version set aside or None)
    try:
        for rel in rel_paths:
            target, old = osp.join(out_dir, rel), None
            if osp.lexists(target):
                old = osp.join(aside, rel)
                os.makedirs(osp.dirname(old), exist_ok=True)
                os.rename(target, old)
            done.append((target, old))
            os.makedirs(osp.dirname(target), exist_ok=True)
            os.rename(osp.join(stage, rel), target)
    except BaseException:
        for target, old in reversed(done):
            _remove(target)  # the new version, where it got in
            if old is not None:
                os.rename(old, target)
        shutil.rmtree(aside)  # reached only when every old version is back
        raise
    shutil.rmtree(aside)


def check_out_outside(out_dir: str, inputs: Dict[str, Optional[str]]) -> None:
    """Refuse (whatever ``--force`` says) an output folder that is or holds one of the inputs: the copies would be
    written over, or mixed with, the downloads they are read from."""
    for option, path in inputs.items():
        if path is not None and is_inside(path, out_dir):
            where = 'is' if same_file(path, out_dir) else 'holds'
            raise PrepareError(f'--out {out_dir} {where} the input --{option.replace("_", "-")} {path}; the dataset '
                               'would be written over the files it is read from. Choose an --out folder outside the '
                               'downloads (nothing was written).')


def prepare_widerface(out_dir: str,
                      train_images: Optional[str] = None,
                      val_images: Optional[str] = None,
                      split: Optional[str] = None,
                      eval_kit: Optional[str] = None,
                      landmarks: Optional[str] = None,
                      landmarks_format: Optional[str] = None,
                      expect_counts: Optional[Tuple[int, int]] = OFFICIAL_COUNTS,
                      test_images: Optional[str] = None,
                      expect_test_count: Optional[int] = OFFICIAL_TEST_COUNT,
                      force: bool = False,
                      allow_missing: bool = False,
                      log=print) -> dict:
    """Check the inputs, then write the dataset under ``out_dir`` (see the module docstring).

    The dataset is written into a staging folder next to ``out_dir`` and moved into place only when complete
    (:func:`install_staged`): a failure at any point (a damaged zip member, an image that does not decode, an
    interruption) removes the staging folder and leaves ``out_dir`` as it was, old outputs included.

    The test split (``test_images``, with the split's ``wider_face_test_filelist.txt``) is optional: it is checked
    (every listed image in the download, ``expect_test_count`` images in both; ``None``: not counted) and written
    only when given.

    Returns ``{'train_images', 'val_images', 'train_faces', 'val_faces', 'train_annotations', 'missing'}``, and
    ``'test_images'`` with the test split.
    Raises :class:`PrepareError` (nothing written) when an input is missing (unless ``allow_missing``), damaged
    (an unreadable zip, a zip member with a bad CRC, an image that does not decode: each named), a count differs
    from ``expect_counts`` (``None``: not checked), or an output file exists (unless ``force``); ``ValueError``
    naming ``file:line`` for a malformed annotation file.
    """
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise PrepareError(f'{out_dir}: is a file; expected the output folder')
    check_out_outside(out_dir, dict(train_images=train_images, val_images=val_images, split=split,
                                    eval_kit=eval_kit, landmarks=landmarks, test_images=test_images))
    targets = [osp.join(out_dir, rel) for rel in OUTPUTS]
    existing = [t for t in targets if osp.isfile(t) or (osp.isdir(t) and os.listdir(t))]
    if existing and not force:
        raise PrepareError(f'{out_dir} already holds {", ".join(existing)}; pass --force to overwrite')

    missing: List[str] = []
    problems: List[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        # ---- images
        image_sources: Dict[str, Tuple[Source, Dict[str, str]]] = {}
        for split_name, path, official in (('train', train_images, 'WIDER_train.zip'),
                                           ('val', val_images, 'WIDER_val.zip')):
            if path is None:
                missing.append(f'the {split_name} images ({official})')
                continue
            source = Source(path)
            members = source.images()
            if not members:
                missing.append(f'the {split_name} images: no images/<event>/<name>.jpg in {path}')
                continue
            image_sources[split_name] = (source, members)
        if test_images is not None:
            source = Source(test_images)
            members = source.images()
            if members:
                image_sources['test'] = (source, members)
            else:
                missing.append(f'the test images: no images/<event>/<name>.jpg in {test_images}')

        # ---- annotations
        annotations: Dict[str, Tuple[str, Dict[str, tuple]]] = {}  # split -> (description, blocks)
        split_source = Source(split) if split is not None else None
        for split_name in ('train', 'val'):
            if split_name == 'train' and landmarks is not None:
                continue
            member = split_source.find_one([f'wider_face_split/{SPLIT_FILES[split_name]}',
                                            SPLIT_FILES[split_name]]) if split_source else None
            if member is None:
                missing.append(f"wider_face_split's {SPLIT_FILES[split_name]}" +
                               ('' if split_source else ' (wider_face_split.zip not given)'))
                continue
            images = parse_wider_gt(split_source.local_path(member, tmp))
            desc = split_source.describe(member)
            annotations[split_name] = (desc, _wider_gt_lines(images, desc))
        if landmarks is not None:
            if osp.isfile(landmarks) and not looks_like_zip(landmarks):
                lmk_path, lmk_desc = landmarks, landmarks
            else:
                lmk_source = Source(landmarks)
                member = lmk_source.find_one(['train/label.txt', 'train/labelv2.txt', 'labelv2.txt'])
                if member is None:
                    raise PrepareError(f'{landmarks}: expected train/label.txt (retinaface_gt_v1.1) or labelv2.txt '
                                       'inside')
                lmk_path, lmk_desc = lmk_source.local_path(member, tmp), lmk_source.describe(member)
            fmt = landmarks_format or detect_format(lmk_path)
            if fmt not in ('labelv2', 'retinaface_gt'):
                raise PrepareError(f'{lmk_desc}: expected RetinaFace label.txt or labelv2.txt landmarks, got the '
                                   f'{fmt} format')
            (parse_labelv2 if fmt == 'labelv2' else parse_retinaface_gt)(lmk_path)  # validates, file:line errors
            annotations['train'] = (lmk_desc, _landmark_lines(lmk_path, fmt))

        test_list = None
        if test_images is not None:
            member = split_source.find_one([f'wider_face_split/{TEST_LIST}', TEST_LIST]) if split_source else None
            if member is None:
                missing.append(f"wider_face_split's {TEST_LIST} (the test image list" +
                               (')' if split_source else '; wider_face_split.zip not given)'))
            else:
                test_list = (split_source, member)
                test_desc = split_source.describe(member)
                test_names, _ = read_image_list(split_source.local_path(member, tmp))  # file:line errors

        # ---- evaluation kit
        mats: Dict[str, Tuple[Source, str]] = {}
        kit = Source(eval_kit) if eval_kit is not None else None
        for mat in GT_MATS:
            member = kit.find_one([f'ground_truth/{mat}', mat]) if kit else None
            if member is None:
                missing.append(f"the evaluation kit's {mat}" + ('' if kit else ' (eval_tools.zip not given)'))
            else:
                mats[mat] = (kit, member)

        # ---- consistency
        for split_name in ('train', 'val'):
            if split_name in annotations and split_name in image_sources:
                desc, blocks = annotations[split_name]
                absent = [n for n in blocks if n not in image_sources[split_name][1]]
                if absent:
                    missing.append(f'{len(absent)} of the {len(blocks)} {split_name} images listed in {desc}: '
                                   f'{_examples(absent)}')
        if test_list is not None and 'test' in image_sources:
            absent = [n for n in test_names if n not in image_sources['test'][1]]
            if absent:
                missing.append(f'{len(absent)} of the {len(test_names)} test images listed in {test_desc}: '
                               f'{_examples(absent)}')
        if test_list is not None and expect_test_count is not None:
            found = [(len(test_names), test_desc)]
            if 'test' in image_sources:
                found.append((len(image_sources['test'][1]), image_sources['test'][0].path))
            for count, where in found:
                if count != expect_test_count:
                    problems.append(f'{where}: {count} test images, expected {expect_test_count} (the official '
                                    'count; --expect-test-count N for another set, --no-count-check to skip)')
        if 'wider_face_val.mat' in mats and 'val' in annotations:
            kit_src, member = mats['wider_face_val.mat']
            kit_names = set(_mat_image_names(kit_src.local_path(member, tmp)))
            val_names = set(annotations['val'][1])
            if kit_names != val_names:
                problems.append(f'{kit_src.describe(member)} lists {len(kit_names)} images, {annotations["val"][0]} '
                                f'{len(val_names)}; only in the .mat: {_examples(kit_names - val_names) or "-"}; '
                                f'only in the annotations: {_examples(val_names - kit_names) or "-"}')
        if expect_counts is not None:
            for split_name, expected in zip(('train', 'val'), expect_counts):
                found = []
                if split_name in image_sources:
                    found.append((len(image_sources[split_name][1]), f'{image_sources[split_name][0].path}'))
                if split_name in annotations:
                    found.append((len(annotations[split_name][1]), annotations[split_name][0]))
                for count, where in found:
                    if count != expected:
                        problems.append(f'{where}: {count} {split_name} images, expected {expected} (the official '
                                        'count; --expect-counts TRAIN VAL for another set, --no-count-check to '
                                        'skip)')
        if problems:
            raise PrepareError('the inputs do not make a correct WIDER FACE:\n  ' + '\n  '.join(problems))
        if missing and not allow_missing:
            raise PrepareError('missing: ' + '; '.join(missing) + '. Nothing was written (--allow-missing writes '
                               'the rest).')

        # ---- write: everything into a staging folder next to out_dir, moved into place once complete
        parent = osp.dirname(osp.abspath(out_dir))
        os.makedirs(parent, exist_ok=True)
        stage = tempfile.mkdtemp(prefix=f'.{osp.basename(osp.abspath(out_dir))}.staging-', dir=parent)
        try:
            stats = _write_dataset(stage, image_sources, annotations, mats, missing, test_list)
            install_staged(stage, out_dir, [rel for rel in OUTPUTS if osp.lexists(osp.join(stage, rel))])
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    log(f'wrote {out_dir}: ' + ', '.join(f'{k}={v}' for k, v in stats.items() if k != 'missing'))
    if missing:
        log('missing (not written): ' + '; '.join(missing))
    return stats


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--src', help='folder holding the downloads under their official names')
    parser.add_argument('--train-images', help='WIDER_train.zip or its unpacked folder')
    parser.add_argument('--val-images', help='WIDER_val.zip or its unpacked folder')
    parser.add_argument('--split', help='wider_face_split.zip or its unpacked folder')
    parser.add_argument('--eval-kit', help='eval_tools.zip or a folder holding ground_truth/*.mat')
    parser.add_argument('--landmarks', help='retinaface_gt_v1.1 train/label.txt (or its zip/folder) or labelv2.txt')
    parser.add_argument('--test-images', help='WIDER_test.zip or its unpacked folder (optional: the test split, '
                        'images only, with wider_face_test_filelist.txt from --split)')
    parser.add_argument('--landmarks-format', choices=('labelv2', 'retinaface_gt'),
                        help='format of --landmarks (default: detected)')
    parser.add_argument('--out', default='data/widerface')
    counts = parser.add_mutually_exclusive_group()
    counts.add_argument('--expect-counts', type=positive_int, nargs=2, metavar=('TRAIN', 'VAL'),
                        default=OFFICIAL_COUNTS,
                        help='expected numbers of train and val images (default: the official %(default)s)')
    counts.add_argument('--no-count-check', action='store_true', help='check no image count (train, val, test)')
    parser.add_argument('--expect-test-count', type=positive_int, default=OFFICIAL_TEST_COUNT,
                        help='expected number of test images (default: the official %(default)s)')
    parser.add_argument('--force', action='store_true', help='overwrite existing output files')
    parser.add_argument('--allow-missing', action='store_true', help='write what is there when inputs are missing')
    args = parser.parse_args(argv)
    try:
        check_out_outside(args.out, dict(src=args.src))
        prepare_widerface(
            args.out,
            train_images=args.train_images or _default(args.src, ['WIDER_train.zip', 'WIDER_train']),
            val_images=args.val_images or _default(args.src, ['WIDER_val.zip', 'WIDER_val']),
            split=args.split or _default(args.src, ['wider_face_split.zip', 'wider_face_split']),
            eval_kit=args.eval_kit or _default(args.src, ['eval_tools.zip', 'eval_tools', 'ground_truth']),
            landmarks=args.landmarks,
            landmarks_format=args.landmarks_format,
            expect_counts=None if args.no_count_check else tuple(args.expect_counts),
            test_images=args.test_images or _default(args.src, ['WIDER_test.zip', 'WIDER_test']),
            expect_test_count=None if args.no_count_check else args.expect_test_count,
            force=args.force,
            allow_missing=args.allow_missing)
    except (PrepareError, ValueError, OSError) as e:
        print(f'prepare_widerface: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
