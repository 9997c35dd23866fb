"""Lay out ``data/fddb/`` from the official FDDB downloads (vis-www.cs.umass.edu/fddb/), as the FDDB config and
``tools/test_fddb.py`` expect, after checking them.

    python tools/dataset_converters/prepare_fddb.py --src ~/Downloads --out data/fddb

Inputs (each the ``.tgz`` / ``.tar.gz`` as downloaded or the unpacked folder; ``--src DIR`` finds them there by their
official names, an explicit option wins):

- ``--folds`` ``FDDB-folds.tgz`` (``FDDB-folds/FDDB-fold-XX.txt`` and ``FDDB-fold-XX-ellipseList.txt``, XX = 01..10);
- ``--images`` ``originalPics.tar.gz`` (``<year>/<month>/<day>/big/img_<n>.jpg``, with or without a leading
  ``originalPics/``).

Output (``--out``, default ``data/fddb``)::

    FDDB-folds/FDDB-fold-XX.txt  FDDB-folds/FDDB-fold-XX-ellipseList.txt   (XX = 01..10)
    originalPics/<year>/<month>/<day>/big/img_<n>.jpg                     (the listed images)

Before anything is written the folds are read with the strict readers (each fold's list and ellipse list must hold
the same images in the same order; an image in two folds is an error), every listed image must be in the image
download, and the counts must be the benchmark's 2,845 images and 5,171 faces (``--expect-counts IMAGES FACES``
for another set, ``--no-count-check`` to skip). Every written image's size is read back. The dataset is written into
a staging folder next to ``--out`` and moved into place only when complete; an existing ``--out`` is refused unless
``--force`` (which replaces it only once the new one is complete).
"""
import argparse
import os
import os.path as osp
import shutil
import sys
import tarfile
import tempfile

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from download_archive import PrepareError  # noqa: E402  (a sibling of this tool)

from mmdet_face.engine.cli import positive_int  # noqa: E402

OFFICIAL_COUNTS = (2845, 5171)  # images, annotated faces of the FDDB release
FOLDS_ARCHIVE, IMAGES_ARCHIVE = 'FDDB-folds.tgz', 'originalPics.tar.gz'


class Download:
    """A ``.tgz`` as downloaded, or its unpacked folder; members are ``/``-separated paths relative to it."""

    def __init__(self, path: str):
        self.path, self.tar = path, None
        if osp.isdir(path):
            self.names = {osp.relpath(osp.join(d, f), path).replace(os.sep, '/'): None
                          for d, _, files in os.walk(path) for f in files}
        elif osp.isfile(path):
            try:
                self.tar = tarfile.open(path)
                self.names = {m.name.lstrip('./'): m for m in self.tar.getmembers() if m.isfile()}
            except (tarfile.TarError, EOFError, OSError) as e:
                raise PrepareError(f'{path} is damaged (not a readable .tgz: {e})') from None
        else:
            raise PrepareError(f'{path}: no such file or folder')

    def prefix_of(self, suffix: str) -> str:
        """The folder prefix (``''`` or ``'x/'``) under which ``suffix`` is a member."""
        for name in self.names:
            if name == suffix or name.endswith('/' + suffix):
                return name[:len(name) - len(suffix)]
        raise PrepareError(f'{self.path}: holds no {suffix}')

    def copy(self, name: str, dst: str) -> None:
        os.makedirs(osp.dirname(dst), exist_ok=True)
        if self.tar is None:
            shutil.copyfile(osp.join(self.path, name), dst)
            return
        try:
            with self.tar.extractfile(self.names[name]) as src, open(dst, 'wb') as out:
                shutil.copyfileobj(src, out)
        except (tarfile.TarError, EOFError, OSError) as e:
            raise PrepareError(f'{self.path} is damaged: its member {name} cannot be read ({e})') from None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Check the FDDB downloads and lay out data/fddb/')
    parser.add_argument('--src', help='folder holding FDDB-folds.tgz and originalPics.tar.gz (or their folders)')
    parser.add_argument('--folds', help='FDDB-folds.tgz or the unpacked FDDB-folds folder')
    parser.add_argument('--images', help='originalPics.tar.gz or the unpacked folder')
    parser.add_argument('--out', default='data/fddb')
    parser.add_argument('--expect-counts', nargs=2, type=positive_int, metavar=('IMAGES', 'FACES'),
                        default=OFFICIAL_COUNTS, help='expected totals (default: the release\'s 2845 5171)')
    parser.add_argument('--no-count-check', action='store_true')
    parser.add_argument('--force', action='store_true', help='replace an existing --out once the new one is done')
    args = parser.parse_args(argv)
    for option, official in (('folds', FOLDS_ARCHIVE), ('images', IMAGES_ARCHIVE)):
        if getattr(args, option) is None:
            if args.src is None:
                parser.error(f'give --{option} or --src (the folder holding {official})')
            candidates = [osp.join(args.src, official), osp.join(args.src, official.split('.')[0])]
            found = [c for c in candidates if osp.exists(c)]
            if not found:
                parser.error(f'--src {args.src}: holds neither {official} nor its unpacked folder; give --{option}')
            setattr(args, option, found[0])
    return args


def check_inputs(folds: Download, images: Download, args):
    """The images of the ten folds (list order) with the folds' files; raises PrepareError on any problem."""
    from mmdet_face.evaluation.functional.fddb_files import (NUM_FOLDS, ellipse_list_name, fold_list_name,
                                                           read_fddb_folds)
    prefix = folds.prefix_of(fold_list_name(1))
    fold_files = [prefix + name(k) for k in range(1, NUM_FOLDS + 1) for name in (fold_list_name, ellipse_list_name)]
    missing = [f for f in fold_files if f not in folds.names]
    if missing:
        raise PrepareError(f'{folds.path}: missing {", ".join(missing)}')
    with tempfile.TemporaryDirectory() as tmp:
        for name in fold_files:
            folds.copy(name, osp.join(tmp, osp.basename(name)))
        try:
            listed = read_fddb_folds(tmp)
        except ValueError as e:
            raise PrepareError(f'{folds.path}: {str(e).replace(tmp + os.sep, "")}') from None
    image_prefix = images.prefix_of(listed[0]['name'] + '.jpg')
    absent = [im['name'] for im in listed if image_prefix + im['name'] + '.jpg' not in images.names]
    if absent:
        raise PrepareError(f'{images.path}: {len(absent)} listed images are missing, e.g. {", ".join(absent[:5])}')
    counts = (len(listed), sum(len(im['regions']) for im in listed))
    if not args.no_count_check and counts != tuple(args.expect_counts):
        raise PrepareError(f'the folds list {counts[0]} images with {counts[1]} faces; expected {args.expect_counts[0]}'
                           f' and {args.expect_counts[1]} (the FDDB release); --expect-counts / --no-count-check for '
                           'another set')
    return listed, fold_files, image_prefix


def main(argv=None):
    from mmdet_face.datasets.image_file import image_size
    from mmdet_face.utils.output_file import is_inside
    args = parse_args(argv)
    try:
        for source in (args.src, args.folds, args.images):
            if source and is_inside(source, args.out):
                raise PrepareError(f'--out {args.out}: is or holds the input {source}; choose another --out')
        if osp.lexists(args.out) and not args.force:
            raise PrepareError(f'--out {args.out}: already exists and was left unchanged; pass --force to replace it')
        folds, images = Download(args.folds), Download(args.images)
        listed, fold_files, image_prefix = check_inputs(folds, images, args)
        parent = osp.dirname(osp.abspath(args.out))
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix='.fddb-staging-', dir=parent)
        try:
            for name in fold_files:
                folds.copy(name, osp.join(staging, 'FDDB-folds', osp.basename(name)))
            for im in listed:
                dst = osp.join(staging, 'originalPics', im['name'] + '.jpg')
                images.copy(image_prefix + im['name'] + '.jpg', dst)
                try:
                    image_size(dst)
                except Exception as e:
                    raise PrepareError(f'{images.path}: the image {im["name"]}.jpg cannot be read ({e})') from None
            if osp.lexists(args.out):
                shutil.rmtree(args.out)
            os.replace(staging, args.out)
        finally:
            if osp.exists(staging):
                shutil.rmtree(staging, ignore_errors=True)
    except PrepareError as e:
        sys.exit(f'tools/dataset_converters/prepare_fddb.py: {e}')
    faces = sum(len(im['regions']) for im in listed)
    print(f'FDDB written to {args.out}: {len(listed)} images, {faces} faces in 10 folds')


if __name__ == '__main__':
    main()
