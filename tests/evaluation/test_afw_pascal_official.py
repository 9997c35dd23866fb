"""The AFW / PASCAL Face protocol (:mod:`mmdet_face.evaluation.functional.face_pr`) against the official toolbox of
Mathias et al. (``marcopede/face-eval``: ``plot_AP.py``'s pipeline ``database.getRecord`` -> ``loadDetections`` ->
``filterdet`` -> ``evaluate_optim``), run on generated annotation files and detections: score ties, misses,
duplicates, boxes partly outside the image, images without detections or without faces, faces under the minimum
size, flagged faces, 4-column PASCAL objects, a detector that matches nothing, and real baseline detection files
of the toolbox against generated faces.

The toolbox comes from ``$MMDET_FACE_FACE_EVAL_SRC`` (a folder holding ``VOCpr.py``), else a clone of its public
copies into a temporary folder; without either the tests skip, saying why. It is Python 2 code; its temporary copy
gets these shims, none touching its arithmetic or its decisions:

* ``print x`` statements -> ``print(x)``; ``import cPickle`` -> ``import pickle as cPickle``;
* ``dict.has_key(k)`` -> ``k in dict``; ``list.sort(cmpscore)`` -> ``list.sort(key=functools.cmp_to_key(cmpscore))``
  with Python 2's ``cmp`` defined;
* ``pylab`` (only used to draw) is a stand-in module whose functions do nothing (``plot`` returns one handle).

It runs in a subprocess (its module names ``database``, ``util``... would shadow others here); ``drawPrfast`` is
wrapped to hand back the curve ``evaluate_optim`` computes.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mmdet_face.evaluation.functional.afw_pascal_files import (ground_truth_by_key, load_face_eval_annotations,
                                                              read_detections, write_detections,
                                                              write_face_eval_annotations)
from mmdet_face.evaluation.functional.face_pr import evaluate_face_pr

PUBLIC_COPIES = (
    ('git', 'clone', '--depth', '1', 'https://github.com/marcopede/face-eval.git'),
    ('hg', 'clone', 'https://bitbucket.org/marcopede/face-eval'),
    ('git', 'clone', '--depth', '1', 'https://github.com/bairdzhang/smallhardface.git'),
)
TOOLBOX_FILES = ('VOCpr.py', 'database.py', 'loadData.py', 'util.py')

PYLAB_STAND_IN = '''
"""Stand-in for pylab: the toolbox only draws with it."""
def plot(*args, **kwargs):
    return [object()]


def __getattr__(name):
    return lambda *args, **kwargs: None
'''

DRIVER = '''
import json, sys
import numpy
import database, loadData, VOCpr

captured = {}
_draw = VOCpr.drawPrfast


def drawPrfast(tp, fp, tot, show=True, col="g"):
    rec, prec, ap = _draw(tp, fp, tot, show=False, col=col)
    captured.update(recall=[float(v) for v in rec], precision=[float(v) for v in prec], ap=float(ap),
                    num_gt=float(tot))
    return rec, prec, ap


VOCpr.drawPrfast = drawPrfast
results = []
for case in json.load(open(sys.argv[1])):
    minw, minh = case["minw"], case["minh"]
    if case["dataset"] == "AFW":  # reads annotations/new_annotations_AFW.mat from the working folder
        data = database.AFW(minw=minw, minh=minh)
    else:
        data = database.PASCALfaces(trainfile=case["ann"], minw=minw, minh=minh)
    images = database.getRecord(data, 10000)
    dets = loadData.loadDetections(case["det"])
    dets = VOCpr.filterdet(dets, int(numpy.sqrt(0.5 * minw * minh)))
    captured.clear()
    VOCpr.evaluate_optim(images, dets, "case", "green", iter=case["nit"])
    results.append(dict(captured))
json.dump(results, open(sys.argv[2], "w"))
'''


def _shim(folder):
    """The Python 3 shims of the module docstring, applied to the copy in ``folder``."""
    def edit(name, *subs):
        path = os.path.join(folder, name)
        text = open(path).read()
        for pattern, repl, count in subs:
            text, n = re.subn(pattern, repl, text, flags=re.M)
            assert n == count, f'{name}: expected {count} match(es) of {pattern!r}, found {n}'
        open(path, 'w').write(text)

    edit('database.py', (r'^(\s*)print (.+)$', r'\1print(\2)', 6))
    edit('util.py', (r'^import cPickle$', 'import pickle as cPickle', 1))
    edit('VOCpr.py', (r'dimg\.has_key\((detbb\[0\])\)', r'(\1 in dimg)', 2),
         (r'detlist\.sort\(cmpscore\)', 'detlist.sort(key=functools.cmp_to_key(cmpscore))', 2),
         (r'^import time$', 'import time\nimport functools\n\n\ndef cmp(a, b):\n    return (a > b) - (a < b)', 1))
    with open(os.path.join(folder, 'pylab.py'), 'w') as f:
        f.write(PYLAB_STAND_IN)


def _find_toolbox(root):
    for here, _, files in os.walk(root):
        if all(name in files for name in TOOLBOX_FILES):
            return here
    return None


@pytest.fixture(scope='module')
def toolbox(tmp_path_factory):
    """A shimmed copy of the toolbox, or skip saying why none is available."""
    work = tmp_path_factory.mktemp('face_eval')
    source = os.environ.get('MMDET_FACE_FACE_EVAL_SRC')
    tried = []
    if source:
        found = _find_toolbox(source)
        if found is None:
            pytest.fail(f'MMDET_FACE_FACE_EVAL_SRC={source}: no folder there holds {", ".join(TOOLBOX_FILES)}')
    else:
        found = None
        for i, command in enumerate(PUBLIC_COPIES):
            target = str(work / f'clone{i}')
            try:
                run = subprocess.run([*command, target], capture_output=True, text=True, timeout=120)
                if run.returncode == 0:
                    found = _find_toolbox(target)
                tried.append(f'{" ".join(command)}: ' + ('no toolbox in it' if run.returncode == 0 else
                                                         (run.stderr.strip().splitlines() or ['failed'])[-1]))
            except (OSError, subprocess.TimeoutExpired) as err:
                tried.append(f'{" ".join(command)}: {type(err).__name__}')
            if found:
                break
        if found is None:
            pytest.skip('the official face-eval toolbox is not available (set MMDET_FACE_FACE_EVAL_SRC to a copy); '
                        + '; '.join(tried))
    copy = work / 'toolbox'
    copy.mkdir()
    for name in TOOLBOX_FILES:
        shutil.copy(os.path.join(found, name), copy / name)
    if os.path.isdir(os.path.join(found, 'detections')):  # the baseline detection files of the paper's plots
        shutil.copytree(os.path.join(found, 'detections'), copy / 'detections')
    _shim(str(copy))
    return copy


def run_official(toolbox, workdir, cases):
    """The toolbox's curve and AP for each case (``dataset``, ``ann``, ``det``, ``minw``, ``minh``, ``nit``); AFW
    cases read ``workdir/annotations/new_annotations_AFW.mat``."""
    (workdir / 'cases.json').write_text(json.dumps(cases))
    (workdir / 'driver.py').write_text(DRIVER)
    env = dict(os.environ, PYTHONPATH=str(toolbox), OMP_NUM_THREADS='1')
    run = subprocess.run([sys.executable, str(workdir / 'driver.py'), 'cases.json', 'out.json'], cwd=workdir,
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads((workdir / 'out.json').read_text())


def ours(case):
    gt = ground_truth_by_key(load_face_eval_annotations(case['ann']))
    keys, scores, boxes = read_detections(case['det'])
    return evaluate_face_pr(gt, keys, scores, boxes, min_width=case['minw'], min_height=case['minh'],
                            iterations=case['nit'])


# ---------------------------------------------------------------------------------------------------------------
# generated cases

def edge_case_set():
    """Images with hand-placed faces and detections, one situation each; returns (images, detection lines)."""
    images = [
        dict(name='a1.jpg', faces=[[10, 10, 110, 130], [200, 40, 280, 140]], ignored=[0, 0]),
        dict(name='a2.jpg', faces=[[-20, 5, 60, 100], [300, 300, 400, 420]], ignored=[0, 1]),  # partly outside
        dict(name='a3.jpg', faces=[[50, 50, 75, 80], [100, 100, 190, 210]], ignored=[0, 0]),  # first: small
        dict(name='a4.jpg', faces=[[0, 0, 100, 100], [0, 0, 100, 100]], ignored=[0, 0]),  # identical faces
        dict(name='a5.jpg', faces=[[30, 30, 130, 150]], ignored=[0]),  # no detection at all
        dict(name='a8.jpg', faces=[[200, 200, 235, 235]], ignored=[0]),  # counted at 30 x 30, not at 20 x 40
        dict(name='a6.jpg', faces=[], ignored=[]),  # no face
        dict(name='a7.jpg', faces=[[5, 5, 95, 120], [150, 10, 240, 115]], ignored=[1, 0]),
    ]
    dets = [
        'a7.jpg 0.99 6 4 96 121',  # the first detection hits a flagged face: precision NaN at the start
        'a1.jpg 0.9 12 8 112 128',
        'a1.jpg 0.9 198 42 282 143',  # tie with the one above
        'a1.jpg 0.85 14 12 108 131',  # duplicate of the first face
        'a2 0.8 -25 0 58 104',  # partly outside the image, id without extension
        'a2.jpg 0.8 305 298 398 423',  # on a flagged face
        'a3.jpg 0.7 49 52 76 81',  # on the small face (ignored by the size rule)
        'a3.jpg 0.6 101 99 192 208',
        'a4.jpg 0.6 1 1 101 99',  # identical faces: the last one is chosen
        'a4.jpg 0.55 0 2 100 101',
        'a6.jpg 0.5 10 10 90 100',  # image without faces
        'zz.jpg 0.45 10 10 90 100',  # image not in the annotations
        'a1.jpg 0.4 400 400 410 412',  # too small: dropped by filterdet
        'a7.jpg 0.3 152 12 238 117',
        'a1.jpg 0.3 120 60 190 150',  # a miss between two faces
        'a2.jpg 0.2 -40 -40 10 10',
        'a8.jpg 0.35 199 201 236 236',
    ]
    return images, dets


def random_set(seed, num_images=40, shift=(0.06, -0.04), scale=(1.15, 0.9)):
    """Faces and detections of a detector with a systematic box offset (what the adjustment corrects), misses,
    duplicates, false positives and scores rounded to two decimals (many ties)."""
    rng = np.random.default_rng(seed)
    images, dets = [], []
    for i in range(num_images):
        name = f'{seed}_{i:03d}.jpg'
        n = int(rng.integers(0, 5))
        wh = rng.uniform(15, 160, size=(n, 2))
        xy = rng.uniform(-30, 500, size=(n, 2))
        faces = np.concatenate([xy, xy + wh], axis=1).round(1)
        flags = (rng.random(n) < 0.1).astype(float)
        images.append(dict(name=name, faces=faces, ignored=flags))
        for face in faces:
            for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):
                w, h = face[2] - face[0], face[3] - face[1]
                cx = (face[0] + face[2]) / 2 + shift[0] * w + rng.normal(0, 0.05) * w
                cy = (face[1] + face[3]) / 2 + shift[1] * h + rng.normal(0, 0.05) * h
                dw, dh = w * scale[0] * rng.uniform(0.9, 1.1), h * scale[1] * rng.uniform(0.9, 1.1)
                dets.append((name, round(float(rng.random()), 2), cx - dw / 2, cy - dh / 2, cx + dw / 2, cy + dh / 2))
        for _ in range(int(rng.integers(0, 3))):
            x, y = rng.uniform(-20, 500, size=2)
            s = rng.uniform(10, 120)
            dets.append((name, round(float(rng.random()) * 0.7, 2), x, y, x + s, y + s * 1.2))
    rng.shuffle(dets)
    return images, [f'{n} {s} {x1:.2f} {y1:.2f} {x2:.2f} {y2:.2f}' for n, s, x1, y1, x2, y2 in dets]


def write_case(folder, name, images, det_lines, dataset='PASCAL', minw=30, minh=30, nit=5, four_columns=False):
    folder.mkdir(parents=True, exist_ok=True)
    ann = folder / ('annotations/new_annotations_AFW.mat' if dataset == 'AFW' else f'{name}.mat')
    ann.parent.mkdir(exist_ok=True)
    if four_columns:  # PASCAL objects without the flag columns
        from scipy.io import savemat
        arr = np.zeros((len(images), 1), dtype=[('imgname', object), ('objects', object)])
        for i, image in enumerate(images):
            arr[i, 0]['imgname'] = image['name']
            arr[i, 0]['objects'] = np.asarray(image['faces'], dtype=np.float64).reshape(-1, 4)
        savemat(str(ann), {'Annotations': arr})
    else:
        write_face_eval_annotations(str(ann), images, overwrite=True)
    det = folder / f'{name}.txt'
    det.write_text('\n'.join(det_lines) + '\n')
    return dict(dataset=dataset, ann=str(ann), det=str(det), minw=minw, minh=minh, nit=nit)


def compare(official, mine):
    """Largest absolute differences of recall, precision (NaN where both are NaN counts as equal) and AP."""
    assert len(official['recall']) == len(mine['recall'])
    assert official['num_gt'] == mine['num_gt']
    rec = np.abs(np.asarray(official['recall']) - mine['recall'])
    po, pm = np.asarray(official['precision'], dtype=float), mine['precision']
    assert np.array_equal(np.isnan(po), np.isnan(pm))
    prec = np.abs(np.nan_to_num(po) - np.nan_to_num(pm))
    return dict(recall=float(rec.max(initial=0)), precision=float(prec.max(initial=0)),
                ap=abs(official['ap'] - mine['ap']), points=len(rec))


def test_generated_cases_match_the_official_toolbox(toolbox, tmp_path):
    cases = []
    images, dets = edge_case_set()
    cases.append(write_case(tmp_path / 'pascal_edges', 'edges', images, dets))
    cases.append(write_case(tmp_path / 'pascal_edges_nit1', 'edges', images, dets, nit=1))
    cases.append(write_case(tmp_path / 'pascal_edges_min20x40', 'edges', images, dets, minw=20, minh=40))
    cases.append(write_case(tmp_path / 'pascal_four_columns', 'four', images, dets, four_columns=True))
    for seed in (1, 2):
        images, dets = random_set(seed)
        cases.append(write_case(tmp_path / f'pascal_random{seed}', f'random{seed}', images, dets))
    images, dets = random_set(3, shift=(0.15, -0.1), scale=(1.35, 0.85))  # many matches only after adjusting
    cases.append(write_case(tmp_path / 'pascal_random3', 'random3', images, dets))
    cases.append(write_case(tmp_path / 'pascal_random3_nit1', 'random3', images, dets, nit=1))
    images, dets = random_set(4, shift=(0.0, 0.0), scale=(1.0, 1.0))
    cases.append(write_case(tmp_path / 'pascal_random_no_offset', 'random4', images, dets, nit=3))
    images, _ = random_set(5)
    cases.append(write_case(tmp_path / 'pascal_nothing_matches', 'nothing', images,
                            [f'{image["name"]} 0.5 600 600 700 700' for image in images] +
                            [f'{images[0]["name"]} 0.4 600 600 700 700']))
    official = run_official(toolbox, tmp_path, cases)
    afw_dir = tmp_path / 'afw'
    images, dets = random_set(6)
    afw_case = write_case(afw_dir, 'afw', images, dets, dataset='AFW')
    official.append(run_official(toolbox, afw_dir, [afw_case])[0])
    cases.append(afw_case)

    worst = dict(recall=0.0, precision=0.0, ap=0.0)
    for case, theirs in zip(cases, official):
        diff = compare(theirs, ours(case))
        print(f'{os.path.basename(os.path.dirname(case["det"]))}: {diff["points"]} PR points, AP {theirs["ap"]:.6f}, '
              f'largest differences recall {diff["recall"]:.3g} precision {diff["precision"]:.3g} AP {diff["ap"]:.3g}')
        worst = {k: max(worst[k], diff[k]) for k in worst}
    print(f'largest differences over {len(cases)} cases: {worst}')
    assert worst == dict(recall=0.0, precision=0.0, ap=0.0)
    # the cases exercise what they are meant to: a NaN start, a minimum size that matters, a zero AP, an
    # adjustment that matters (five runs against one)
    aps = [theirs['ap'] for theirs in official]
    assert np.isnan(official[0]['precision'][0]) and aps[0] != aps[2] and aps[9] == 0.0
    assert aps[6] > aps[7] + 0.05


@pytest.mark.parametrize('dataset', ['AFW', 'PASCAL'])
def test_baseline_detection_files_match_the_official_toolbox(toolbox, tmp_path, dataset):
    """A real detector output of the toolbox's copy (``detections/<dataset>/SFD.txt``) against generated faces:
    boxes of detections drawn with a probability rising with their score, moved a little and partly flagged, so
    thousands of detections meet every rule at once."""
    det_path = str(toolbox / 'detections' / dataset / 'SFD.txt')
    if not os.path.isfile(det_path):
        pytest.skip(f'{det_path} is not in this copy of the toolbox')
    keys, scores, boxes = read_detections(det_path)
    rng = np.random.default_rng(0)
    by_image = {}
    for key, score, box in zip(keys, scores, boxes):
        by_image.setdefault(key, [])
        if rng.random() < 0.8 * score + 0.05:  # high scores are faces more often than low ones
            w, h = box[2] - box[0], box[3] - box[1]
            by_image[key].append(box + rng.normal(0, 0.08, 4) * [w, h, w, h])
    images = [dict(name=key + '.jpg', faces=np.array(faces).reshape(-1, 4).round(),
                   ignored=rng.random(len(faces)) < 0.05) for key, faces in by_image.items()]
    case = write_case(tmp_path, 'sfd', images, open(det_path).read().splitlines(), dataset=dataset)
    theirs = run_official(toolbox, tmp_path, [case])[0]
    diff = compare(theirs, ours(case))
    print(f'{dataset} SFD.txt on generated faces: {diff["points"]} PR points, AP {theirs["ap"]:.6f}, largest '
          f'differences recall {diff["recall"]:.3g} precision {diff["precision"]:.3g} AP {diff["ap"]:.3g}')
    assert diff['points'] > 1000 and 0.3 < theirs['ap'] < 0.95
    assert diff['recall'] == diff['precision'] == diff['ap'] == 0.0
