"""Convert face annotations between formats: COCO JSON, Pascal VOC XML folders, YOLO-face label folders, labelme
JSON folders and the WIDER FACE text formats in; labelv2, COCO, VOC and YOLO-face out.

    python tools/dataset_converters/convert_faces.py --from coco --to labelv2 annotations/train.json train.txt \\
        --images images/

SRC is a file (coco, widerface) or a folder (voc: the XML files, yolo: the label files, labelme: the JSON files);
DST is a file (labelv2, coco) or a new folder (voc, yolo). The images are not copied: the output names them by the
same paths relative to the image folder. --images (default: yolo .../labels/<split> -> .../images/<split>, labelme:
SRC, voc: ../JPEGImages, widerface: ./images next to SRC, where they exist) makes every image be checked: it must
exist and have the annotated size; sizes the annotations omit are read from it. Boxes are clipped to the image and
zero-size boxes dropped, with the counts printed. An existing DST is never replaced without --force, and never when
it is (or, for a folder, holds) an input. Formats: mmdet_face/datasets/formats/ and docs/custom_data.md.
"""
import argparse
import sys
from typing import List, Optional

from mmdet_face.engine.cli import positive_int

FROM = ('coco', 'voc', 'yolo', 'labelme', 'widerface', 'labelv2', 'retinaface_gt', 'wider_gt')
TO = ('labelv2', 'coco', 'yolo', 'voc')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--from', dest='src_format', required=True, choices=FROM,
                        help='format of SRC (widerface: labelv2, retinaface_gt or wider_gt detected from the content)')
    parser.add_argument('--to', dest='dst_format', required=True, choices=TO, help='format of DST')
    parser.add_argument('src', metavar='SRC')
    parser.add_argument('dst', metavar='DST')
    parser.add_argument('--images', help='the image folder (see above)')
    parser.add_argument('--category', help='coco: the category name of the faces (default: the only category, '
                                           "else 'face')")
    parser.add_argument('--box-label', nargs='+', default=None, metavar='LABEL=ROLE',
                        help="voc, labelme: what a box label is: face, ignore or skip (default: face=face; any "
                             'other label is an error)')
    parser.add_argument('--keypoint-labels', nargs=5, metavar='LABEL',
                        help='labelme: the point labels of the five landmarks in the order left eye, right eye, '
                             'nose, left mouth corner, right mouth corner (default: left_eye right_eye nose '
                             'left_mouth right_mouth)')
    parser.add_argument('--yolo-ignore-class', type=positive_int, metavar='K',
                        help='yolo: the class of ignore boxes, read and written (default: none; ignore boxes are '
                             'then left out of yolo output, with a count)')
    parser.add_argument('--force', action='store_true', help='replace DST if it exists')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from mmdet_face.datasets.formats.convert import convert_faces
    from mmdet_face.datasets.formats.labels import parse_box_label_options
    src_format = None if args.src_format == 'widerface' else args.src_format
    options = {}
    try:
        if args.category is not None:
            options['category'] = args.category
        if args.box_label is not None:
            options['box_labels'] = parse_box_label_options(args.box_label)
        if args.keypoint_labels is not None:
            options['keypoint_labels'] = {label: k for k, label in enumerate(args.keypoint_labels)}
        stats = convert_faces(args.src, src_format, args.dst, args.dst_format, images_dir=args.images,
                              overwrite=args.force, ignore_class=args.yolo_ignore_class, **options)
    except (ValueError, OSError) as e:
        print(f'convert_faces: error: {e}', file=sys.stderr)
        return 1
    print(f'read {stats["images"]} images with {stats["faces"]} faces ({stats["ignore"]} ignore boxes, '
          f'{stats["with_landmarks"]} with landmarks) from {args.src} ({args.src_format})')
    if stats['sizes_from_images']:
        print(f'{stats["sizes_from_images"]} image sizes read from the images')
    print(f'{stats["clipped"]} boxes clipped to the image, {stats["dropped"]} dropped (zero size or outside the '
          'image)')
    if stats['left_out']:
        print(f'{stats["left_out"]} ignore boxes left out: YOLO-face has no ignore boxes (--yolo-ignore-class K '
              'writes them as class K)')
    if stats['landmarks_left_out']:
        print(f'{stats["landmarks_left_out"]} ignore boxes written without their landmarks (a labelv2 ignore line is '
              'the box and the flag)')
    print(f'wrote {args.dst} ({args.dst_format})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
