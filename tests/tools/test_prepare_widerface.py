"""tools/dataset_converters/prepare_widerface.py on a miniature of the official downloads (zipped and unpacked)."""
import zipfile

import cv2
import numpy as np
import pytest

from mmdet_face.datasets import WiderFaceDataset, parse_labelv2
from mmdet_face.evaluation.functional.widerface_gt_mat import load_ground_truth, write_gt_mats
from tests.helpers.paths import REPO_ROOT
from tests.helpers.tools import load_tool

prep = load_tool('tools/dataset_converters/prepare_widerface.py')

# (name, (height, width), faces as (x, y, w, h, invalid))
TRAIN = [
    ('0--Parade/0_Parade_a_1.jpg', (60, 80), [(10, 12, 20, 25, 0), (50, 5, 8, 9, 1)]),
    ('0--Parade/0_Parade_a_2.jpg', (50, 70), [(3, 4, 30, 30, 0)]),
    ('1--Handshaking/1_Handshaking_b_3.jpg', (64, 48), [(0, 0, 47, 63, 0)]),
]
VAL = [
    ('0--Parade/0_Parade_c_4.jpg', (40, 56), [(5, 6, 10, 12, 0), (30, 20, 6, 5, 1)]),
    ('1--Handshaking/1_Handshaking_d_5.jpg', (36, 36), []),
]
# RetinaFace train/label.txt: x y w h, 5 x (x y flag), score; no landmarks: all -1
LABEL_TXT = """\
# 0--Parade/0_Parade_a_1.jpg
10 12 20 25 14.5 20.25 0.0 25.0 20.0 1.0 20.0 26.0 0.0 15.0 31.0 0.0 24.0 31.0 0.0 0.82
50 5 8 9 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0
# 0--Parade/0_Parade_a_2.jpg
3 4 30 30 10.0 12.0 0.0 25.0 12.0 0.0 18.0 20.0 0.0 -1.0 -1.0 -1.0 24.0 28.0 0.0 0.9
# 1--Handshaking/1_Handshaking_b_3.jpg
0 0 47 63 12.0 20.0 0.0 34.0 20.0 0.0 23.0 35.0 0.0 15.0 48.0 0.0 32.0 48.0 0.0 -1
"""


def _bbx_gt(items):
    lines = []
    for name, _, faces in items:
        lines += [name, str(len(faces))]
        lines += [f'{x} {y} {w} {h} 0 0 0 {inv} 0 0' for x, y, w, h, inv in faces] or ['0 0 0 0 0 0 0 0 0 0']
    return '\n'.join(lines) + '\n'


def _write_unpacked(root, mats=True, train=TRAIN):
    """The downloads as unpacked folders under ``root``, in the official layout."""
    rng = np.random.default_rng(0)
    for folder, items in (('WIDER_train', train), ('WIDER_val', VAL)):
        for name, hw, _ in items:
            path = root / folder / 'images' / name
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), rng.integers(0, 255, hw + (3, ), dtype=np.uint8))
    split = root / 'wider_face_split'
    split.mkdir()
    (split / 'wider_face_train_bbx_gt.txt').write_text(_bbx_gt(TRAIN))
    (split / 'wider_face_val_bbx_gt.txt').write_text(_bbx_gt(VAL))
    (split / 'readme.txt').write_text('official split\n')
    boxes, settings = {}, {s: {} for s in ('easy', 'medium', 'hard')}
    for name, _, faces in VAL:
        event, stem = name[:-4].split('/')
        boxes.setdefault(event, {})[stem] = np.array([f[:4] for f in faces], np.int32).reshape(-1, 4)
        for s in settings:
            settings[s].setdefault(event, {})[stem] = [i for i, f in enumerate(faces) if not f[4]]
    if mats:
        write_gt_mats(str(root / 'eval_tools' / 'ground_truth'), boxes, settings)
    lmk = root / 'retinaface_gt_v1.1' / 'train'
    lmk.mkdir(parents=True)
    (lmk / 'label.txt').write_text(LABEL_TXT)
    return root


def _zip_folder(folder, zip_path):
    with zipfile.ZipFile(zip_path, 'w') as z:
        for p in sorted(folder.rglob('*')):
            if p.is_file():
                z.write(p, p.relative_to(folder.parent).as_posix())
    return zip_path


def _write_zipped(root):
    src = _write_unpacked(root / 'unpacked')
    out = root / 'downloads'
    out.mkdir()
    for name in ('WIDER_train', 'WIDER_val', 'wider_face_split', 'eval_tools', 'retinaface_gt_v1.1'):
        _zip_folder(src / name, out / f'{name}.zip')
    with zipfile.ZipFile(out / 'WIDER_val.zip', 'a') as z:  # macOS metadata that must be ignored
        z.writestr('__MACOSX/WIDER_val/images/0--Parade/._0_Parade_c_4.jpg', b'junk')
    return out


def _check_common(out, gt_src):
    # images copied, sizes in the headers are the images' sizes
    for split, items in (('train', TRAIN), ('val', VAL)):
        images = parse_labelv2(str(out / split / 'labelv2.txt'))
        assert [im['name'] for im in images] == [name for name, _, _ in items]
        for im, (name, (h, w), faces) in zip(images, items):
            assert (im['width'], im['height']) == (w, h)
            assert cv2.imread(str(out / split / 'images' / name)).shape[:2] == (h, w)
            # x y w h -> x1 y1 x2 y2, exactly
            assert [f[0].tolist() for f in im['faces']] == [[x, y, x + fw, y + fh] for x, y, fw, fh, _ in faces]
    val = parse_labelv2(str(out / 'val' / 'labelv2.txt'))
    assert [[f[3] for f in im['faces']] for im in val] == [[False, True], []]  # invalid -> ignore flag 1
    # the .mat files are the evaluation kit's, byte for byte
    for mat in prep.GT_MATS:
        assert (out / 'val' / 'gt' / mat).read_bytes() == (gt_src / mat).read_bytes()
    gt = load_ground_truth(str(out / 'val' / 'gt'))
    assert gt['boxes']['0--Parade']['0_Parade_c_4'].tolist() == [[5, 6, 10, 12], [30, 20, 6, 5]]
    # the datasets load as the configs build them
    train = WiderFaceDataset(ann_file='train/labelv2.txt', data_root=str(out), data_prefix=dict(img='train/images/'),
                              filter_cfg=dict(filter_empty_gt=True), pipeline=[])
    val_ds = WiderFaceDataset(ann_file='val/labelv2.txt', data_root=str(out), data_prefix=dict(img='val/images/'),
                               test_mode=True, pipeline=[])
    assert len(train) == 3 and len(val_ds) == 2
    assert val_ds.get_data_info(0)['instances'][1]['ignore_flag'] == 1
    return train


def test_zipped_downloads_with_retinaface_landmarks(tmp_path):
    downloads = _write_zipped(tmp_path)
    out = tmp_path / 'widerface'
    rc = prep.main(['--src', str(downloads), '--out', str(out), '--expect-counts', '3', '2',
                    '--landmarks', str(downloads / 'retinaface_gt_v1.1.zip')])
    assert rc == 0
    train = _check_common(out, tmp_path / 'unpacked' / 'eval_tools' / 'ground_truth')
    # landmarks and flags copied as given, the score dropped
    lines = (out / 'train' / 'labelv2.txt').read_text().splitlines()
    assert lines[:3] == [
        '# 0--Parade/0_Parade_a_1.jpg 80 60',
        '10 12 30 37 14.5 20.25 0.0 25.0 20.0 1.0 20.0 26.0 0.0 15.0 31.0 0.0 24.0 31.0 0.0',
        '50 5 58 14 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0']
    a = train.get_data_info(0)['instances']
    assert a[0]['keypoints'] == [[14.5, 20.25], [25, 20], [20, 26], [15, 31], [24, 31]]
    assert a[0]['keypoints_weights'] == [1] * 5 and a[1]['keypoints_weights'] == [0] * 5
    assert train.get_data_info(1)['instances'][0]['keypoints_weights'] == [1, 1, 1, 0, 1]
    # label.txt has no invalid flag: no ignore box in train
    assert [i['ignore_flag'] for i in a] == [0, 0]


def test_unpacked_downloads_without_landmarks(tmp_path):
    src = _write_unpacked(tmp_path)
    out = tmp_path / 'widerface'
    stats = prep.prepare_widerface(str(out), train_images=str(src / 'WIDER_train'),
                                   val_images=str(src / 'WIDER_val'), split=str(src / 'wider_face_split'),
                                   eval_kit=str(src / 'eval_tools'), expect_counts=(3, 2), log=lambda m: None)
    assert stats['train_images'] == 3 and stats['val_images'] == 2
    assert stats['train_faces'] == 4 and stats['val_faces'] == 2 and stats['missing'] == []
    train = _check_common(out, src / 'eval_tools' / 'ground_truth')
    # train from the official bbx_gt: invalid faces are ignore boxes, no landmarks
    a = train.get_data_info(0)['instances']
    assert [i['ignore_flag'] for i in a] == [0, 1] and a[0]['keypoints_weights'] == [0] * 5
    assert (out / 'train' / 'labelv2.txt').read_text().splitlines()[:3] == [
        '# 0--Parade/0_Parade_a_1.jpg 80 60', '10 12 30 37', '50 5 58 14 1']


def test_official_counts_are_checked(tmp_path):
    src = _write_unpacked(tmp_path)
    out = tmp_path / 'widerface'
    with pytest.raises(prep.PrepareError) as info:
        prep.prepare_widerface(str(out), str(src / 'WIDER_train'), str(src / 'WIDER_val'),
                               str(src / 'wider_face_split'), str(src / 'eval_tools'), log=lambda m: None)
    msg = str(info.value)
    assert '3 train images, expected 12880 (the official count' in msg
    assert '2 val images, expected 3226' in msg and '--no-count-check' in msg
    assert not out.exists()  # nothing written
    prep.prepare_widerface(str(out), str(src / 'WIDER_train'), str(src / 'WIDER_val'), str(src / 'wider_face_split'),
                           str(src / 'eval_tools'), expect_counts=None, log=lambda m: None)
    assert (out / 'val' / 'labelv2.txt').is_file()


def test_missing_pieces_are_reported(tmp_path, capsys):
    src = _write_unpacked(tmp_path)
    (src / 'eval_tools' / 'ground_truth' / 'wider_hard_val.mat').unlink()
    out = tmp_path / 'widerface'
    args = ['--train-images', str(src / 'WIDER_train'), '--val-images', str(src / 'WIDER_val'),
            '--split', str(src / 'wider_face_split'), '--eval-kit', str(src / 'eval_tools'), '--out', str(out),
            '--no-count-check']
    assert prep.main(args) == 1
    err = capsys.readouterr().err
    assert "missing: the evaluation kit's wider_hard_val.mat. Nothing was written" in err
    assert not out.exists()
    assert prep.main(args + ['--allow-missing']) == 0
    assert "missing (not written): the evaluation kit's wider_hard_val.mat" in capsys.readouterr().out
    assert (out / 'val' / 'gt' / 'wider_easy_val.mat').is_file()
    assert not (out / 'val' / 'gt' / 'wider_hard_val.mat').exists()


def test_annotated_image_missing_from_the_download(tmp_path):
    src = _write_unpacked(tmp_path)
    (src / 'WIDER_train' / 'images' / '0--Parade' / '0_Parade_a_2.jpg').unlink()
    with pytest.raises(prep.PrepareError, match=r'missing: 1 of the 3 train images listed in .*'
                                                r'wider_face_train_bbx_gt\.txt: 0--Parade/0_Parade_a_2\.jpg'):
        prep.prepare_widerface(str(tmp_path / 'out'), str(src / 'WIDER_train'), str(src / 'WIDER_val'),
                               str(src / 'wider_face_split'), str(src / 'eval_tools'), expect_counts=None)


def test_eval_kit_must_match_the_val_annotations(tmp_path):
    src = _write_unpacked(tmp_path)
    (src / 'wider_face_split' / 'wider_face_val_bbx_gt.txt').write_text(_bbx_gt(VAL[:1]))
    with pytest.raises(prep.PrepareError, match=r'wider_face_val\.mat lists 2 images, .* 1; only in the \.mat: '
                                                r'1--Handshaking/1_Handshaking_d_5\.jpg'):
        prep.prepare_widerface(str(tmp_path / 'out'), str(src / 'WIDER_train'), str(src / 'WIDER_val'),
                               str(src / 'wider_face_split'), str(src / 'eval_tools'), expect_counts=None)


def test_malformed_annotation_names_file_and_line(tmp_path):
    src = _write_unpacked(tmp_path)
    text = _bbx_gt(TRAIN).replace('3 4 30 30 0 0 0 0 0 0', '3 4 nan 30 0 0 0 0 0 0')
    (src / 'wider_face_split' / 'wider_face_train_bbx_gt.txt').write_text(text)
    with pytest.raises(ValueError, match=r'wider_face_train_bbx_gt\.txt:7: expected a finite number for box width'):
        prep.prepare_widerface(str(tmp_path / 'out'), str(src / 'WIDER_train'), str(src / 'WIDER_val'),
                               str(src / 'wider_face_split'), str(src / 'eval_tools'), expect_counts=None)


def test_existing_output_needs_force(tmp_path, capsys):
    src = _write_unpacked(tmp_path)
    out = tmp_path / 'widerface'
    (out / 'val').mkdir(parents=True)
    (out / 'val' / 'labelv2.txt').write_text('# mine\n')
    args = ['--src', str(src), '--out', str(out), '--no-count-check']
    assert prep.main(args) == 1
    err = capsys.readouterr().err
    assert f'{out} already holds {out / "val" / "labelv2.txt"}; pass --force to overwrite' in err
    assert (out / 'val' / 'labelv2.txt').read_text() == '# mine\n'  # untouched
    assert prep.main(args + ['--force']) == 0
    assert (out / 'val' / 'labelv2.txt').read_text().startswith('# 0--Parade/0_Parade_c_4.jpg 56 40\n')


# ------------------------------------------------------------------------------------------ damaged inputs
def _leftovers(out):
    """Staging / set-aside folders the tool left next to ``out``."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f'.{out.name}.'))


def _existing_output(out):
    """An earlier dataset under ``out`` (and a file of the user's beside it), to be kept on failure."""
    (out / 'val').mkdir(parents=True)
    (out / 'val' / 'labelv2.txt').write_text('# mine\n')
    (out / 'train' / 'images' / 'old').mkdir(parents=True)
    (out / 'train' / 'images' / 'old' / 'stale.jpg').write_bytes(b'old image')
    (out / 'notes.txt').write_text('my notes\n')
    return out


def _kept(out):
    return ((out / 'val' / 'labelv2.txt').read_text() == '# mine\n'
            and (out / 'train' / 'images' / 'old' / 'stale.jpg').read_bytes() == b'old image'
            and (out / 'notes.txt').read_text() == 'my notes\n' and not (out / 'val' / 'images').exists())


def _flip_a_byte(archive, member):
    """Damage one byte of a stored member's data, so that its CRC no longer matches."""
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo(member)
    assert info.compress_type == zipfile.ZIP_STORED
    data = bytearray(archive.read_bytes())
    data[info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.file_size // 2] ^= 0xFF
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize('archive, member', [
    ('WIDER_val.zip', 'WIDER_val/images/1--Handshaking/1_Handshaking_d_5.jpg'),  # found while writing
    ('wider_face_split.zip', 'wider_face_split/wider_face_val_bbx_gt.txt'),  # found while checking
    ('eval_tools.zip', 'eval_tools/ground_truth/wider_hard_val.mat'),  # found while writing, after the images
])
def test_bad_crc_member_is_named_and_nothing_is_written(tmp_path, capsys, archive, member):
    """Before: a raw BadZipFile traceback from the copy, with part of the dataset already under --out."""
    downloads = _write_zipped(tmp_path)
    _flip_a_byte(downloads / archive, member)
    out = _existing_output(tmp_path / 'widerface')
    rc = prep.main(['--src', str(downloads), '--out', str(out), '--expect-counts', '3', '2', '--force'])
    err = capsys.readouterr().err
    assert rc == 1 and 'Traceback' not in err
    assert f'{downloads / archive} is damaged: its member {member} cannot be read (BadZipFile: Bad CRC-32' in err
    if archive == 'WIDER_val.zip':
        assert '1 image(s) are damaged or cannot be decoded; nothing was written' in err
    assert _kept(out) and _leftovers(out) == []


@pytest.mark.parametrize('content', [b'', b'not an image at all'], ids=['empty', 'garbage'])
def test_undecodable_image_is_named_and_nothing_is_written(tmp_path, capsys, content):
    """Before: PIL's UnidentifiedImageError traceback while writing labelv2.txt, with the images copied."""
    src = _write_unpacked(tmp_path)
    bad = src / 'WIDER_train' / 'images' / '0--Parade' / '0_Parade_a_2.jpg'
    bad.write_bytes(content)
    out = tmp_path / 'widerface'
    rc = prep.main(['--src', str(src), '--out', str(out), '--expect-counts', '3', '2'])
    err = capsys.readouterr().err
    assert rc == 1 and 'Traceback' not in err
    assert f'{bad} ' in err and ('is empty (0 bytes)' if not content else 'cannot be decoded as an image') in err
    assert not out.exists() and _leftovers(out) == []


@pytest.mark.parametrize('damage', ['truncated', 'not_a_zip'])
def test_unreadable_zip_is_called_damaged(tmp_path, capsys, damage):
    """Before: 'expected a .zip file or a folder' for a download cut short."""
    downloads = _write_zipped(tmp_path)
    archive = downloads / 'WIDER_train.zip'
    data = archive.read_bytes()
    archive.write_bytes(data[:len(data) // 2] if damage == 'truncated' else b'<html>404 Not Found</html>\n')
    out = tmp_path / 'widerface'
    rc = prep.main(['--src', str(downloads), '--out', str(out), '--expect-counts', '3', '2'])
    err = capsys.readouterr().err
    assert rc == 1 and f'{archive} is damaged (not a readable zip: File is not a zip file)' in err
    assert not out.exists() and _leftovers(out) == []


def test_damaged_landmarks_zip_is_called_damaged(tmp_path, capsys):
    """Before: the truncated zip was read as a label text file."""
    downloads = _write_zipped(tmp_path)
    archive = downloads / 'retinaface_gt_v1.1.zip'
    archive.write_bytes(archive.read_bytes()[:40])
    out = tmp_path / 'widerface'
    rc = prep.main(['--src', str(downloads), '--out', str(out), '--expect-counts', '3', '2',
                    '--landmarks', str(archive)])
    assert rc == 1 and f'{archive} is damaged (not a readable zip: ' in capsys.readouterr().err
    assert not out.exists()


def test_force_replaces_the_outputs_only_when_complete(tmp_path, monkeypatch):
    """With --force the old outputs are replaced as a whole (no stale image stays), the user's other files are
    kept, and a failure while moving the new dataset in puts every old output back."""
    src = _write_unpacked(tmp_path)
    out = _existing_output(tmp_path / 'widerface')
    args = ['--src', str(src), '--out', str(out), '--expect-counts', '3', '2', '--force']
    real_rename, calls = prep.os.rename, []

    def failing_rename(a, b):
        calls.append(b)
        if len(calls) == 4:  # train/images aside + in, train/labelv2.txt in; moving val/images in fails
            raise OSError(f'{b}: simulated failure')
        return real_rename(a, b)

    monkeypatch.setattr(prep.os, 'rename', failing_rename)
    assert prep.main(args) == 1
    assert _kept(out) and _leftovers(out) == [] and not (out / 'train' / 'labelv2.txt').exists()
    monkeypatch.setattr(prep.os, 'rename', real_rename)
    assert prep.main(args) == 0
    assert not (out / 'train' / 'images' / 'old').exists() and (out / 'notes.txt').read_text() == 'my notes\n'
    assert (out / 'val' / 'labelv2.txt').read_text().startswith('# 0--Parade/0_Parade_c_4.jpg 56 40\n')
    assert _leftovers(out) == []
    _check_common(out, src / 'eval_tools' / 'ground_truth')
def test_out_holding_the_inputs_is_refused_whatever_the_flags(tmp_path, capsys):
    """--out equal to --src (or holding a download) is refused before anything is read or written, also with
    --force; reading an earlier output again as --val-images used to stop half-way through the writing with a raw
    SameFileError (an image copied onto itself)."""
    src = _write_unpacked(tmp_path / 'downloads')
    before = {p: p.read_bytes() for p in src.rglob('*') if p.is_file()}
    for args, message in ((['--src', str(src), '--out', str(src)], f'--out {src} is the input --src {src}'),
                          (['--src', str(src), '--out', str(tmp_path)], f'--out {tmp_path} holds the input --src')):
        assert prep.main(args + ['--no-count-check', '--force']) == 1
        err = capsys.readouterr().err
        assert message in err and 'Choose an --out folder outside the downloads (nothing was written)' in err
    assert {p: p.read_bytes() for p in src.rglob('*') if p.is_file()} == before
    # an earlier output read again as the val images, written to the same place
    out = tmp_path / 'widerface'
    assert prep.main(['--src', str(src), '--out', str(out), '--no-count-check']) == 0
    image = out / 'val' / 'images' / VAL[0][0]
    data = image.read_bytes()
    assert prep.main(['--src', str(src), '--val-images', str(out / 'val'), '--out', str(out), '--no-count-check',
                      '--force']) == 1
    assert f'--out {out} holds the input --val-images {out / "val"}' in capsys.readouterr().err
    assert image.read_bytes() == data and len(data) > 0


TEST = [('0--Parade/0_Parade_e_6.jpg', (30, 40)), ('2--Demonstration/2_Demonstration_f_7.jpg', (44, 33))]


def _add_test_split(downloads, zipped=True):
    """WIDER_test (images only) and wider_face_test_filelist.txt added to the downloads (zips rebuilt)."""
    unpacked = downloads.parent / 'unpacked' if zipped else downloads
    rng = np.random.default_rng(1)
    for name, hw in TEST:
        path = unpacked / 'WIDER_test' / 'images' / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), rng.integers(0, 255, hw + (3, ), dtype=np.uint8))
    (unpacked / 'wider_face_split' / 'wider_face_test_filelist.txt').write_text(
        '\n'.join(name for name, _ in TEST) + '\n')
    if zipped:
        for name in ('WIDER_test', 'wider_face_split'):
            (downloads / f'{name}.zip').unlink(missing_ok=True)
            _zip_folder(unpacked / name, downloads / f'{name}.zip')
    return unpacked


def test_the_test_split_is_laid_out_and_read_as_the_test_config_does(tmp_path):
    downloads = _write_zipped(tmp_path)
    _add_test_split(downloads)
    out = tmp_path / 'widerface'
    counts = ['--expect-counts', '3', '2']
    assert prep.main(['--src', str(downloads), '--out', str(out), *counts]) == 1  # not the official 16,097
    assert not out.exists()
    assert prep.main(['--src', str(downloads), '--out', str(out), *counts, '--expect-test-count', '2']) == 0
    listed = (out / 'wider_face_split' / 'wider_face_test_filelist.txt').read_text()
    assert listed == '0--Parade/0_Parade_e_6.jpg\n2--Demonstration/2_Demonstration_f_7.jpg\n'
    for name, hw in TEST:
        assert cv2.imread(str(out / 'test' / 'images' / name)).shape[:2] == hw
    # configs/_base_/datasets/widerface_test.py's dataset
    test = WiderFaceDataset(data_root=str(out), ann_file='wider_face_split/wider_face_test_filelist.txt',
                            ann_format='wider_filelist', data_prefix=dict(img='test/images/'), test_mode=True,
                            pipeline=[])
    infos = [test.get_data_info(i) for i in range(len(test))]
    assert [(i['img_id'], i['width'], i['height'], i['instances']) for i in infos] == [
        ('0--Parade/0_Parade_e_6', 40, 30, []), ('2--Demonstration/2_Demonstration_f_7', 33, 44, [])]
    assert (out / 'val' / 'labelv2.txt').is_file()  # the rest as before


def test_a_listed_test_image_missing_from_the_download_is_named(tmp_path, capsys):
    src = _write_unpacked(tmp_path)
    _add_test_split(src, zipped=False)
    (src / 'WIDER_test' / 'images' / TEST[1][0]).unlink()
    out = tmp_path / 'widerface'
    assert prep.main(['--src', str(src), '--out', str(out), '--no-count-check']) == 1
    err = capsys.readouterr().err
    assert (f'missing: 1 of the 2 test images listed in {src / "wider_face_split" / "wider_face_test_filelist.txt"}: '
            '2--Demonstration/2_Demonstration_f_7.jpg. Nothing was written') in err
    assert not out.exists()
    (src / 'wider_face_split' / 'wider_face_test_filelist.txt').unlink()
    assert prep.main(['--src', str(src), '--out', str(out), '--no-count-check']) == 1
    assert "wider_face_split's wider_face_test_filelist.txt (the test image list)" in capsys.readouterr().err
