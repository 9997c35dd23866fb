"""The FDDB protocol of mmdet_face against the official ``evaluate`` program, built here from its source.

The source (the OpenCV-3 port of the UMass ``evaluate``: evaluate.cpp, Matching.cpp, Hungarian.cpp, Results.cpp,
...) comes from the folder named by ``MMDET_FACE_FDDB_EVALUATE_SRC``, else from ``git clone`` of
``MMDET_FACE_FDDB_EVALUATE_GIT`` (default :data:`DEFAULT_GIT`, the repository the protocol was matched against) into a
temporary folder; it is compiled there with g++ and OpenCV (``pkg-config opencv4``), never into the repository. Without
source, compiler or OpenCV the tests skip and say why.

The port is written against OpenCV 3's C API, part of which OpenCV 4 no longer has. The build folder gets a
``opencv2/opencv.hpp`` placed before OpenCV's own on the include path; it includes OpenCV's header and then supplies
only what is gone, none of it on the evaluation's path:
- the C headers (``core_c.h``, ``imgproc_c.h``, ``highgui_c.h``), which OpenCV 4's ``opencv.hpp`` no longer includes
  (``cvCreateImage``, ``cvEllipse``, ``cvRectangle``, ``cvAnd`` / ``cvOr``, ``cvCountNonZero`` are OpenCV's own);
- ``cvLoadImage`` and ``CV_LOAD_IMAGE_COLOR`` (removed in 4.0): ``cv::imread`` copied into an ``IplImage``;
- ``CV_RGB`` as OpenCV 3's C macro (a ``CvScalar``; OpenCV 4's is a ``cv::Scalar``), used only to display matches;
- ``CvTypeInfo`` / ``cvTypeOf`` (the removed persistence API), called only by the debugging helpers ``matPrint``,
  ``matMedian`` and ``showImageSc`` of ``OpenCVUtils.cpp``, which the program never calls: here they abort;
- the standard headers the sources use without including (``<algorithm>``, ``<cassert>``, ``<cstdlib>``,
  ``<cstring>``).

Both programs then score generated data (synthetic images, 1-3 ellipses each, detections with ties within and across
images, misses, duplicates, zero-width boxes, boxes partly or wholly outside the image, images without detections)
and both ROC files must agree line for line, hence also the TPR at any number of false positives.
Run: MMDET_FACE_FDDB_EVALUATE_SRC=/path/to/fddb-evaluate pytest tests/evaluation/test_fddb_official.py
"""
import os
import shutil
import subprocess

import numpy as np
import pytest

from mmdet_face.evaluation.functional.fddb import evaluate_fddb, tpr_at_fp
from mmdet_face.evaluation.functional.fddb_roc import format_roc_lines, read_roc_file
from tests.helpers.fddb_data import make_case
from tests.helpers.tools import run_tool

pytestmark = pytest.mark.slow

SRC_ENV = 'MMDET_FACE_FDDB_EVALUATE_SRC'
GIT_ENV = 'MMDET_FACE_FDDB_EVALUATE_GIT'
# the OpenCV-3 port of the UMass program (evaluate.cpp, Hungarian.cpp, ...) the protocol was matched against
DEFAULT_GIT = 'https://github.com/caiqi/fddb-evaluate.git'
SOURCES = ('OpenCVUtils', 'Region', 'RegionsSingleImage', 'EllipseR', 'EllipsesSingleImage', 'RectangleR',
           'RectanglesSingleImage', 'Hungarian', 'MatchPair', 'Matching', 'Results', 'evaluate')

OPENCV3_C_API = r'''#pragma once
#include_next <opencv2/opencv.hpp>
#include <opencv2/core/core_c.h>
#include <opencv2/imgproc/imgproc_c.h>
#include <opencv2/highgui/highgui_c.h>
#include <opencv2/imgcodecs.hpp>
#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <cstring>
#define CV_LOAD_IMAGE_COLOR 1
inline IplImage *cvLoadImage(const char *name, int flags = 1) {
  cv::Mat image = cv::imread(name, flags);
  if (image.empty()) return NULL;
  IplImage header = cvIplImage(image);
  return cvCloneImage(&header);
}
#undef CV_RGB
#define CV_RGB(r, g, b) cvScalar((b), (g), (r), 0)
struct CvTypeInfo { const char *type_name; };
inline CvTypeInfo *cvTypeOf(const void *) { std::abort(); }
'''


def _source_folder(work):
    given = os.environ.get(SRC_ENV)
    if given:
        if not os.path.isfile(os.path.join(given, 'evaluate.cpp')):
            pytest.fail(f'{SRC_ENV}={given}: expected the FDDB evaluate source (evaluate.cpp, ...) there')
        return given
    if shutil.which('git') is None:
        pytest.skip(f'no FDDB evaluate source: set {SRC_ENV}, or install git to clone it')
    url = os.environ.get(GIT_ENV, DEFAULT_GIT)
    clone = work / 'clone'
    try:
        subprocess.run(['git', 'clone', '--depth', '1', url, str(clone)], check=True, capture_output=True, text=True,
                       timeout=120, env={**os.environ, 'GIT_TERMINAL_PROMPT': '0'})
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        pytest.skip(f'no FDDB evaluate source: {SRC_ENV} unset and git clone {url} failed ({err}); set {SRC_ENV}')
    for folder, _, files in os.walk(clone):
        if 'evaluate.cpp' in files and 'Hungarian.cpp' in files:
            return folder
    pytest.skip(f'{url} holds no evaluate.cpp / Hungarian.cpp; set {SRC_ENV} to the FDDB evaluate source')


@pytest.fixture(scope='module')
def official_evaluate(tmp_path_factory):
    """The official program, compiled in a temporary folder."""
    work = tmp_path_factory.mktemp('fddb_evaluate')
    source = _source_folder(work)
    if shutil.which('g++') is None:
        pytest.skip('g++ is not installed: cannot build the official FDDB evaluate program')
    try:
        cflags = subprocess.run(['pkg-config', '--cflags', 'opencv4'], check=True, capture_output=True,
                                text=True).stdout.split()
        libs = subprocess.run(['pkg-config', '--libs', 'opencv4'], check=True, capture_output=True,
                              text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip('OpenCV 4 development files not found (pkg-config opencv4; e.g. apt-get install libopencv-dev)')
    build = work / 'build'
    (build / 'shim' / 'opencv2').mkdir(parents=True)
    (build / 'shim' / 'opencv2' / 'opencv.hpp').write_text(OPENCV3_C_API)
    for name in os.listdir(source):
        if name.endswith(('.cpp', '.hpp')):
            shutil.copy(os.path.join(source, name), build / name)
    objects = []
    for name in SOURCES:
        subprocess.run(['g++', '-O2', '-w', '-c', f'{name}.cpp', '-o', f'{name}.o', '-Ishim', *cflags], cwd=build,
                       check=True, capture_output=True, text=True)
        objects.append(f'{name}.o')
    subprocess.run(['g++', *objects, '-o', 'evaluate', *libs], cwd=build, check=True, capture_output=True, text=True)
    return build / 'evaluate'


def run_official(binary, root, det_format, prefix):
    subprocess.run([str(binary), '-a', str(root / 'ann.txt'), '-d', str(root / 'det.txt'),
                    '-f', '0' if det_format == 'rectangle' else '1', '-i', f'{root / "img"}/',
                    '-l', str(root / 'list.txt'), '-r', str(prefix), '-z', '.jpg'],
                   check=True, capture_output=True, text=True, timeout=300)
    return {kind: (root / f'{prefix.name}{suffix}').read_text().splitlines()
            for kind, suffix in (('disc', 'DiscROC.txt'), ('cont', 'ContROC.txt'))}


def _largest_differences(official, ours):
    """Largest absolute difference of the ROC points (both files, every column)."""
    roc = max(float(np.abs(np.array([[float(v) for v in line.split()] for line in official[kind]]) -
                           np.array([[float(v) for v in line.split()] for line in ours[kind]])).max())
              for kind in ('disc', 'cont'))
    return roc


@pytest.mark.parametrize('det_format', ['rectangle', 'ellipse'])
@pytest.mark.parametrize('seed, num_scores', [(0, 9), (1, 9), (2, 400)])
def test_roc_files_equal_the_official_program(official_evaluate, tmp_path, seed, num_scores, det_format):
    names, annotations, detections, sizes = make_case(tmp_path, seed, det_format, num_scores=num_scores)
    official = run_official(official_evaluate, tmp_path, det_format, tmp_path / 'official_')
    result = evaluate_fddb(annotations, detections, sizes, det_format, names)
    ours = format_roc_lines(result)
    assert len(official['disc']) > 5 and official['disc'][-1] == '0 0 1.79769e+308'  # images without detections
    assert ours['disc'] == official['disc']
    assert ours['cont'] == official['cont']
    assert _largest_differences(official, ours) == 0.0
    official_disc = read_roc_file(tmp_path / 'official_DiscROC.txt')
    official_cont = read_roc_file(tmp_path / 'official_ContROC.txt')
    for max_fp in (0, 3, 10, 30, 1000):
        ok = np.flatnonzero(official_disc[:, 1] <= max_fp)
        expected = (official_disc[ok[0], 0], official_cont[ok[0], 0]) if len(ok) else (0.0, 0.0)
        assert tpr_at_fp(result, max_fp) == pytest.approx(expected, abs=5e-7)  # the files' six digits


def test_the_official_solver_is_reproduced_where_it_is_not_maximal(official_evaluate, tmp_path):
    """Two identical detections over three faces: the program assigns 0.55 + 0.08, not the maximal 0.55 + 0.30
    (the case of :mod:`mmdet_face.evaluation.functional.fddb_hungarian`); ``matching='optimal'`` finds the maximum."""
    import cv2
    (tmp_path / 'img' / 'set').mkdir(parents=True)
    cv2.imwrite(str(tmp_path / 'img' / 'set' / 'a.jpg'), np.zeros((83, 118, 3), np.uint8))
    ellipses = np.array([[13.90373918, 6.09034617, 1.49126812, 100.79312242, 61.48954122],
                         [20.56562433, 9.22323362, 1.57564404, 114.7153033, 57.83259889],
                         [23.48540034, 19.11527289, -1.46391733, 110.44888833, 61.92341533]])
    dets = np.array([[10.0392079, 9.09440472, 1.46509359, 100.87383413, 65.4240668, 0.8]] * 2)
    (tmp_path / 'list.txt').write_text('set/a\n')
    (tmp_path / 'ann.txt').write_text('set/a\n3\n' + ''.join(' '.join(repr(float(v)) for v in e) + ' 1\n'
                                                               for e in ellipses))
    (tmp_path / 'det.txt').write_text('set/a\n2\n' + ''.join(' '.join(repr(float(v)) for v in d) + '\n' for d in dets))
    official = run_official(official_evaluate, tmp_path, 'ellipse', tmp_path / 'official_')
    args = ({'set/a': ellipses}, {'set/a': dets}, {'set/a': (83, 118)}, 'ellipse')
    assert format_roc_lines(evaluate_fddb(*args)) == official
    assert official['cont'] == ['0.209973 1']  # (0.5517 + 0.0782) / 3
    optimal = evaluate_fddb(*args, matching='optimal')
    assert optimal.tp_cont[0] == pytest.approx(0.5517241 + 0.3015564, abs=1e-6)


def test_the_tool_writes_the_official_files(official_evaluate, tmp_path):
    make_case(tmp_path, 7, 'rectangle', num_images=12)
    official = run_official(official_evaluate, tmp_path, 'rectangle', tmp_path / 'official_')
    out = run_tool('tools/test_fddb.py', '--pred', tmp_path / 'det.txt', '--gt', tmp_path / 'ann.txt',
                   '--list', tmp_path / 'list.txt', '--img-dir', tmp_path / 'img', '--out-prefix',
                   tmp_path / 'ours_')
    assert out.returncode == 0, out.stderr
    for kind, suffix in (('disc', 'DiscROC.txt'), ('cont', 'ContROC.txt')):
        assert (tmp_path / f'ours_{suffix}').read_text().splitlines() == official[kind]
    disc = read_roc_file(tmp_path / 'official_DiscROC.txt')
    cont = read_roc_file(tmp_path / 'official_ContROC.txt')
    assert out.stdout.strip().splitlines()[-1] == \
        f'FDDB TPR@1000FP: discrete {disc[0, 0]:.4f}, continuous {cont[0, 0]:.4f}'
