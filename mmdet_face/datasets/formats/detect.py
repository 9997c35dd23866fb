"""The format is detected from the content (:func:`detect_format`) or forced with ``ann_format``. labelv2 and
``label.txt`` both use ``#`` headers but differ in their box convention (``x1 y1 x2 y2`` vs ``x y w h``): a header
with a size or a face line of 5 or 19 numbers means labelv2, a face line of 20 numbers means ``label.txt``. A file
with path-only headers whose face lines all have 4 numbers could be either, so it is an error unless
``ann_format`` says which. Without ``#`` headers, an image path followed by a count is the official ``bbx_gt.txt``,
an image path followed by another path an image list without annotations (``wider_filelist``; a list of one image
is read as a truncated ``bbx_gt.txt`` unless ``ann_format`` says otherwise). A MATLAB file (the AFW / PASCAL Face
re-annotations) is ``'afw_pascal_mat'``.
"""
from mmdet_face.keypoints import NUM_KEYPOINTS

from .afw_pascal_mat import parse_afw_pascal_mat
from .common import content_lines, header_tokens, read_lines
from .labelv2 import parse_labelv2
from .retinaface_label_txt import parse_retinaface_gt
from .wider_bbx_gt import parse_wider_gt
from .wider_filelist import parse_wider_filelist

ANN_FORMATS = ('labelv2', 'retinaface_gt', 'wider_gt', 'wider_filelist', 'afw_pascal_mat')
PARSERS = dict(labelv2=parse_labelv2, retinaface_gt=parse_retinaface_gt, wider_gt=parse_wider_gt,
               wider_filelist=parse_wider_filelist, afw_pascal_mat=parse_afw_pascal_mat)


def detect_format(path: str) -> str:
    """The annotation format of ``path``: ``'labelv2'``, ``'retinaface_gt'``, ``'wider_gt'`` or ``'wider_filelist'``.

    No ``#`` header on the first non-empty line: ``'wider_filelist'`` when the next non-empty line is another image
    path, else ``'wider_gt'``. With ``#`` headers: a header with width and height
    or a face line of 5 or 19 numbers means ``'labelv2'``; a face line of 20 numbers means ``'retinaface_gt'``.
    Path-only headers with only 4-number face lines are ambiguous (``x1 y1 x2 y2`` or ``x y w h``): ``ValueError``
    asking for ``ann_format``. A file without any face line (or an empty file) is ``'labelv2'``.
    """
    with open(path, 'rb') as f:
        if f.read(6) == b'MATLAB':  # the header of a MATLAB 5 / 7 .mat file
            return 'afw_pascal_mat'
    lines = read_lines(path)
    first = next(content_lines(lines), None)
    if first is None:
        return 'labelv2'
    if not first[1].startswith('#'):
        first_two = [line for _, (_, line) in zip(range(2), content_lines(lines))]
        return 'wider_filelist' if len(first_two) == 2 and '/' in first_two[1] else 'wider_gt'
    four_lineno = None
    for lineno, line in content_lines(lines):
        n = len(header_tokens(line)) if line.startswith('#') else len(line.split())
        if line.startswith('#'):
            if n == 3:
                return 'labelv2'
        elif n in (5, 4 + 3 * NUM_KEYPOINTS):
            return 'labelv2'
        elif n == 4 + 3 * NUM_KEYPOINTS + 1:
            return 'retinaface_gt'
        elif n == 4 and four_lineno is None:
            four_lineno = lineno
    if four_lineno is None:
        return 'labelv2'  # no face line of a known length: the labelv2 parser reports the file's problems
    raise ValueError(f'{path}: cannot tell the format: the headers hold only an image path and every face line has '
                     f'4 numbers (e.g. line {four_lineno}), which is "x1 y1 x2 y2" in labelv2 but "x y w h" in '
                     "RetinaFace's label.txt; pass ann_format='labelv2' or ann_format='retinaface_gt'")
