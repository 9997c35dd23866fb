"""Converters and the ONNX exporter: existing outputs are never replaced without --force, outputs are written
atomically, and input that is not what the tool reads is an error naming the file and what was expected."""
import os
import runpy

import pytest
import torch

from mmdet_face.utils.output_file import (OutputExistsError, OutputIsInputError, atomic_output,
                                               check_not_inside, check_output_path)
from tests.helpers.paths import REPO_ROOT

onnx = pytest.importorskip('onnx')

RETINA_TOOL = REPO_ROOT / 'tools/model_converters/retinaface_pth2mmdet.py'
SCRFD_TOOL = REPO_ROOT / 'tools/model_converters/scrfd_onnx2mmdet.py'
EXPORT_TOOL = REPO_ROOT / 'tools/deployment/export_onnx.py'
DSFD_TOOL = REPO_ROOT / 'tools/model_converters/dsfd_pth2mmdet.py'
PUBLISH_TOOL = REPO_ROOT / 'tools/model_converters/dsfd_publish.py'
SCRFD_TOY = REPO_ROOT / 'configs/toy/scrfd_toy_kps.py'
RETINA_TOY = REPO_ROOT / 'configs/toy/retinaface_toy_mnet025.py'
PRECIOUS = b'the user\'s trained model, not to be lost\n'


def _tool(path):
    return runpy.run_path(str(path))['main']  # not run as __main__: we call main(argv)


def _run(path, *argv):
    """Run a tool's main(argv); returns the exit message (None on success)."""
    try:
        _tool(path)([str(a) for a in argv])
    except SystemExit as exc:
        assert exc.code not in (None, 0)
        return str(exc.code)
    return None


def _precious(path):
    path.write_bytes(PRECIOUS)
    return path


def _no_temp_files(folder):
    return [p.name for p in folder.iterdir() if '.tmp' in p.name] == []


@pytest.fixture(scope='module')
def release_pth(tmp_path_factory):
    """A complete checkpoint in the RetinaFace MobileNet-0.25 release's layout (zeros; one bias of ones), since the
    converter refuses a partial one."""
    from mmdet_face.deployment.retinaface_pth_import import MOBILENET, release_layout
    path = tmp_path_factory.mktemp('release') / 'release.pth'
    state = {name: torch.zeros(shape) for name, shape in release_layout(MOBILENET, num_batches_tracked=False).items()}
    state['ClassHead.0.conv1x1.bias'] = torch.ones(4)
    torch.save(state, path)
    return path


@pytest.fixture(scope='module')
def scrfd_onnx(tmp_path_factory):
    from mmdet_face.apis.inference import init_face_detector
    from mmdet_face.deployment import export_scrfd_onnx
    path = tmp_path_factory.mktemp('scrfd') / 'toy.onnx'
    torch.manual_seed(0)
    export_scrfd_onnx(init_face_detector(str(SCRFD_TOY)), str(path), shape=(64, 64))
    return path


# ------------------------------------------------------------------------------------------ output protection
def test_atomic_output_helper(tmp_path):
    out = _precious(tmp_path / 'out.bin')
    with pytest.raises(OutputExistsError, match='out.bin: already exists'):
        with atomic_output(out):
            pass
    with pytest.raises(RuntimeError, match='boom'):  # a failing writer, even with overwrite: old file kept
        with atomic_output(out, overwrite=True) as tmp:
            with open(tmp, 'wb') as f:
                f.write(b'half')
            raise RuntimeError('boom')
    assert out.read_bytes() == PRECIOUS and _no_temp_files(tmp_path)
    with atomic_output(tmp_path / 'new.bin') as tmp:
        assert not os.path.exists(tmp) and os.path.dirname(tmp) == str(tmp_path) and tmp.endswith('.bin')
        with open(tmp, 'wb') as f:
            f.write(b'x')
    assert (tmp_path / 'new.bin').read_bytes() == b'x' and _no_temp_files(tmp_path)
    with pytest.raises(FileNotFoundError, match='output folder'):
        with atomic_output(tmp_path / 'missing' / 'x.bin'):
            pass


def test_output_that_is_an_input_is_refused_whatever_the_flag(tmp_path):
    src = _precious(tmp_path / 'model.pth')
    (tmp_path / 'link.pth').symlink_to(src)
    os.link(src, tmp_path / 'hard.pth')
    for out, detail in ((src, ''), (tmp_path / 'link.pth', f'(both resolve to {src})'),
                        (tmp_path / 'hard.pth', '(hard links to one file)')):
        for overwrite in (False, True):
            with pytest.raises(OutputIsInputError, match='the output is also an input of this run') as info:
                check_output_path(out, overwrite=overwrite, inputs=(None, src))
            assert str(info.value).startswith(f'{out}: ') and detail in str(info.value)
    assert check_output_path(tmp_path / 'new.pth', inputs=(src,)) == str(tmp_path / 'new.pth')
    data = tmp_path / 'data'
    (data / 'images').mkdir(parents=True)
    for folder, where in ((data, 'holds'), (data / 'images', 'is'), (tmp_path, 'holds')):
        with pytest.raises(OutputIsInputError, match=f'the output folder {where} the input'):
            check_not_inside(folder, inputs=(data / 'images',))
    check_not_inside(data / 'images' / 'out', inputs=(data / 'images' / 'x.zip',))  # beside the input: fine
    assert src.read_bytes() == PRECIOUS


@pytest.mark.parametrize('tool, argv', [
    (RETINA_TOOL, ['{src}', '{src}']), (DSFD_TOOL, ['{src}', '{src}']), (PUBLISH_TOOL, ['{src}', '{src}']),
    (SCRFD_TOOL, ['{src}', SCRFD_TOY, '{src}']), (SCRFD_TOOL, ['{src}', '{config}', '{config}']),
    (EXPORT_TOOL, ['{config}', '{src}', '{src}']), (EXPORT_TOOL, ['{config}', '{config}'])])
def test_converters_never_write_over_their_input(tmp_path, tool, argv):
    """OUT naming the tool's own input (checkpoint, ONNX file or config) is refused even with --force, before
    anything is read or built: the input stays as it was."""
    src = _precious(tmp_path / 'model.pth')
    config = tmp_path / 'config.py'
    config.write_bytes(SCRFD_TOY.read_bytes() if tool is SCRFD_TOOL else RETINA_TOY.read_bytes())
    before = config.read_bytes()
    msg = _run(tool, *[str(a).format(src=src, config=config) for a in argv], '--force')
    assert msg is not None and 'the output is also an input of this run' in msg and 'refused' in msg
    assert src.read_bytes() == PRECIOUS and config.read_bytes() == before and _no_temp_files(tmp_path)


def test_retinaface_converter_refuses_existing_output(tmp_path, release_pth):
    dst = _precious(tmp_path / 'model.pth')
    msg = _run(RETINA_TOOL, release_pth, dst)
    assert msg is not None and f'{dst}: already exists' in msg and '--force' in msg
    assert dst.read_bytes() == PRECIOUS
    assert _run(RETINA_TOOL, release_pth, dst, '--force') is None
    state = torch.load(dst, map_location='cpu', weights_only=True)['state_dict']
    assert torch.equal(state['bbox_head.cls_convs.0.bias'], torch.ones(4)) and _no_temp_files(tmp_path)


def test_retinaface_converter_writes_atomically(tmp_path, release_pth, monkeypatch):
    def crash(obj, f, *args, **kwargs):
        with open(f, 'wb') as fh:
            fh.write(b'half a checkpoint')
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, 'save', crash)
    fresh, kept = tmp_path / 'fresh.pth', _precious(tmp_path / 'kept.pth')
    with pytest.raises(KeyboardInterrupt):
        _run(RETINA_TOOL, release_pth, fresh)
    with pytest.raises(KeyboardInterrupt):
        _run(RETINA_TOOL, release_pth, kept, '--force')
    assert not fresh.exists() and kept.read_bytes() == PRECIOUS and _no_temp_files(tmp_path)


def test_scrfd_converter_refuses_existing_output(tmp_path, scrfd_onnx):
    dst = _precious(tmp_path / 'scrfd.pth')
    msg = _run(SCRFD_TOOL, scrfd_onnx, SCRFD_TOY, dst)
    assert msg is not None and f'{dst}: already exists' in msg and '--force' in msg
    assert dst.read_bytes() == PRECIOUS
    assert _run(SCRFD_TOOL, scrfd_onnx, SCRFD_TOY, dst, '--force') is None
    assert 'state_dict' in torch.load(dst, map_location='cpu', weights_only=True) and _no_temp_files(tmp_path)


def test_export_tool_refuses_existing_output(tmp_path, monkeypatch):
    out = _precious(tmp_path / 'model.onnx')
    msg = _run(EXPORT_TOOL, RETINA_TOY, out, '--shape', 32, 32)
    assert msg is not None and f'{out}: already exists' in msg and '--force' in msg
    assert out.read_bytes() == PRECIOUS
    assert _run(EXPORT_TOOL, RETINA_TOY, out, '--shape', 32, 32, '--force') is None
    assert [o.name for o in onnx.load(str(out)).graph.output] == ['loc', 'conf', 'landms']
    assert _no_temp_files(tmp_path)


@pytest.mark.parametrize('family', ['scrfd', 'retinaface'])
def test_exporters_refuse_and_write_atomically(tmp_path, monkeypatch, family):
    """Library level: an existing file is refused; a failure after the trace (here: in simplification) leaves
    neither a half file nor a temporary one, and keeps a file that --force was about to replace."""
    import mmdet_face.deployment.onnx_utils as onnx_utils
    from mmdet_face.apis.inference import init_face_detector
    from mmdet_face.deployment.retinaface_onnx_export import export_retinaface_onnx
    from mmdet_face.deployment.scrfd_onnx_export import export_scrfd_onnx
    config, export = (SCRFD_TOY, export_scrfd_onnx) if family == 'scrfd' else (RETINA_TOY, export_retinaface_onnx)
    model = init_face_detector(str(config))
    out = _precious(tmp_path / 'model.onnx')
    with pytest.raises(OutputExistsError, match='model.onnx: already exists'):
        export(model, str(out), shape=(32, 32))

    def broken(path, *args, **kwargs):
        with open(path, 'wb') as f:
            f.write(b'half')
        raise RuntimeError('simplifier crashed')

    monkeypatch.setattr(onnx_utils, 'simplify_onnx', broken)
    with pytest.raises(RuntimeError, match='simplifier crashed'):
        export(model, str(out), shape=(32, 32), simplify=True, overwrite=True)
    with pytest.raises(RuntimeError, match='simplifier crashed'):
        export(model, str(tmp_path / 'fresh.onnx'), shape=(32, 32), simplify=True)
    assert out.read_bytes() == PRECIOUS and not (tmp_path / 'fresh.onnx').exists() and _no_temp_files(tmp_path)


# ------------------------------------------------------------------------------------------ wrong input files
def _bad_inputs(tmp_path):
    text = tmp_path / 'notes.txt'
    text.write_text('hello, not a model\n')
    rand = tmp_path / 'random.bin'
    rand.write_bytes(bytes(range(256)) * 8)
    empty = tmp_path / 'empty.onnx'
    empty.write_bytes(b'')
    return {'text': text, 'random': rand, 'empty': empty}


@pytest.mark.parametrize('kind', ['text', 'random', 'empty', 'checkpoint', 'missing'])
def test_scrfd_converter_non_onnx_input(tmp_path, release_pth, kind):
    """Before: protobuf's DecodeError with no file name (or, for an empty file, a search of every config)."""
    src = {**_bad_inputs(tmp_path), 'checkpoint': release_pth, 'missing': tmp_path / 'nope.onnx'}[kind]
    dst = tmp_path / 'out.pth'
    msg = _run(SCRFD_TOOL, src, SCRFD_TOY, dst)
    if kind == 'missing':
        assert msg == f'error: {src}: file not found (expected a released SCRFD .onnx model)'
    else:
        assert msg is not None and msg.startswith(f'error: {src}: not an ONNX model (')
        assert msg.endswith('expected a released SCRFD .onnx model')
    assert not dst.exists()


@pytest.mark.parametrize('kind', ['text', 'random', 'empty', 'onnx', 'missing'])
def test_retinaface_converter_non_checkpoint_input(tmp_path, scrfd_onnx, kind):
    """Before: 'Weights only load failed ... Unsupported operand' / EOFError with no file name."""
    src = {**_bad_inputs(tmp_path), 'onnx': scrfd_onnx, 'missing': tmp_path / 'nope.pth'}[kind]
    dst = tmp_path / 'out.pth'
    msg = _run(RETINA_TOOL, src, dst)
    assert msg is not None and msg.startswith(f'error: {src}: ')
    assert 'expected a RetinaFace release .pth state dict' in msg
    if kind != 'missing':  # an .onnx file is named as one (with the way to convert it)
        assert ('an ONNX model, not a PyTorch checkpoint' if str(src).endswith('.onnx')
                else 'not a readable PyTorch checkpoint') in msg
    assert 'weights_only=False' not in msg and 'set to `False`' not in msg and not dst.exists()


class _Payload:
    """Pickles as a call: a safe loader must refuse it, an unsafe one would run it."""
    ran = []

    def __reduce__(self):
        return _Payload.ran.append, ('ran',)


def test_retinaface_converter_keeps_safe_loading(tmp_path):
    src = tmp_path / 'crafted.pth'
    torch.save({'ClassHead.0.conv1x1.bias': _Payload()}, src)
    msg = _run(RETINA_TOOL, src, tmp_path / 'out.pth')
    assert msg is not None and f'{src}: contains objects that are not allowed to load (' in msg
    assert 'set to `False`' not in msg and _Payload.ran == []


@pytest.mark.parametrize('content, what', [
    ([torch.ones(2)], 'holds a list, not a state dict'),
    ({}, 'the state dict has no entries'),
    ({'ClassHead.0.conv1x1.bias': 3}, "non-tensor entries such as 'ClassHead.0.conv1x1.bias'"),
    ({'state_dict': {'backbone.stage1.0.conv.weight': torch.ones(1)}}, "unexpected key 'backbone.stage1"),
])
def test_retinaface_converter_wrong_checkpoint_content(tmp_path, content, what):
    """A readable file that is not a release state dict (e.g. an already converted checkpoint)."""
    src = tmp_path / 'other.pth'
    torch.save(content, src)
    msg = _run(RETINA_TOOL, src, tmp_path / 'out.pth')
    assert msg is not None and msg.startswith(f'error: {src}: ') and what in msg
    assert 'expected a RetinaFace release .pth state dict' in msg


# ------------------------------------------------------------------------------------------ wrong model family
DSFD_TOY = REPO_ROOT / 'configs/toy/dsfd_toy.py'
PUBLISH_TOOL = REPO_ROOT / 'tools/model_converters/dsfd_publish.py'
DSFD_TOOL = REPO_ROOT / 'tools/model_converters/dsfd_pth2mmdet.py'


def _training_checkpoint(path, config, experiment):
    """What mmengine's Runner.save_checkpoint writes for a run of ``config`` (random weights): meta with the
    experiment name, the state dict, the message hub (HistoryBuffer objects) and the optimizer state."""
    from mmengine.logging import HistoryBuffer

    from mmdet_face.apis.inference import init_face_detector
    torch.manual_seed(0)
    lr = HistoryBuffer()
    lr.update(0.01)
    torch.save(dict(meta=dict(epoch=1, iter=4, seed=0, experiment_name=f'{experiment}_20260101_000000',
                              mmengine='0.10.7'),
                    state_dict=init_face_detector(str(config)).state_dict(),
                    message_hub=dict(log_scalars={'train/lr': lr}, runtime_info=dict(epoch=1), resumed_keys={}),
                    optimizer=dict(state={}, param_groups=[dict(lr=0.01, momentum=0.9, params=[0])])), path)
    return path


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """mmengine training checkpoints of the DSFD, SCRFD and RetinaFace toy configs."""
    folder = tmp_path_factory.mktemp('trained')
    return {name: _training_checkpoint(folder / f'{name}_iter_4.pth', config, f'{name}_toy')
            for name, config in (('dsfd', DSFD_TOY), ('scrfd', SCRFD_TOY), ('retinaface', RETINA_TOY))}


def test_dsfd_publish_publishes_a_dsfd_training_checkpoint(tmp_path, trained):
    dst = tmp_path / 'published.pth'
    assert _run(PUBLISH_TOOL, trained['dsfd'], dst, '--config', DSFD_TOY) is None
    published = torch.load(dst, map_location='cpu', weights_only=True)
    assert set(published) == {'state_dict', 'meta'} and published['meta']['experiment_name'].startswith('dsfd_toy')
    assert not any('first_shot' in key for key in published['state_dict'])


@pytest.mark.parametrize('kind, what', [
    ('scrfd', 'is an mmengine training checkpoint of an mmdet-face SCRFD model (trained as scrfd_toy)'),
    ('retinaface', 'is an mmengine training checkpoint of an mmdet-face RetinaFace model (trained as '
                   'retinaface_toy)'),
    ('retinaface_release', 'is a bare state dict of the RetinaFace release layout (biubug6/Pytorch_Retinaface)'),
    ('two_tensors', 'is not a checkpoint of the DSFD model of'),
    ('dsfd_other_size', 'is not a checkpoint of the DSFD model of'),
])
def test_dsfd_publish_refuses_other_models(tmp_path, trained, release_pth, kind, what):
    """Before: any checkpoint was 'published' as a DSFD model (exit 0), e.g. an SCRFD one, with 0 tensors
    dropped."""
    src = {'scrfd': trained['scrfd'], 'retinaface': trained['retinaface'], 'retinaface_release': release_pth,
           'dsfd_other_size': trained['dsfd']}.get(kind)
    if kind == 'two_tensors':
        src = tmp_path / 'two.pth'
        torch.save({'a.weight': torch.ones(2), 'b.bias': torch.zeros(2)}, src)
    dst = tmp_path / 'published.pth'
    # the toy DSFD against the default (release, ResNet-152) config: another size of the same family
    msg = _run(PUBLISH_TOOL, src, dst)
    assert msg is not None and msg.startswith(f'error: {src}: {what}'), msg
    if kind in ('scrfd', 'retinaface'):
        assert 'it needs no conversion' in msg and 'not an mmdet-face DSFD model' in msg
    if kind == 'retinaface_release':
        assert 'retinaface_pth2mmdet.py' in msg
    if kind == 'two_tensors':
        assert '2 unexpected: a.weight, b.bias' in msg and 'missing' in msg
    if kind == 'dsfd_other_size':
        assert 'trained as dsfd_toy; pass the config it was trained with' in msg and 'wrong shape' in msg
    assert not dst.exists() and _no_temp_files(tmp_path)


def test_dsfd_publish_refuses_a_config_of_another_family(tmp_path, trained):
    """Before: SCRFDHead's TypeError traceback (the publish step set first_shot on whatever head it got) once a
    config was accepted."""
    dst = tmp_path / 'published.pth'
    msg = _run(PUBLISH_TOOL, trained['dsfd'], dst, '--config', SCRFD_TOY)
    assert msg == (f'error: {SCRFD_TOY}: its head is SCRFDHead, not DSFDHead; expected the DSFD config '
                   f'{trained["dsfd"]} was trained with')
    assert not dst.exists()


@pytest.mark.slow
def test_dsfd_converter_names_an_mmengine_checkpoint(tmp_path, trained):
    """Before: 'not a PyTorch checkpoint that loads with torch.load(weights_only=True) (UnpicklingError: ...
    HistoryBuffer ...)' for a valid training checkpoint. Run as a fresh process, as a user runs it."""
    import subprocess
    import sys
    dst = tmp_path / 'out.pth'
    done = subprocess.run([sys.executable, str(DSFD_TOOL), str(trained['dsfd']), str(dst)], capture_output=True,
                          text=True, cwd=str(REPO_ROOT))
    assert done.returncode != 0 and 'Traceback' not in done.stderr, done.stderr[-2000:]
    assert (f'{trained["dsfd"]}: is an mmengine training checkpoint of an mmdet-face DSFD model (trained as '
            'dsfd_toy), not the DSFD release layout') in done.stderr
    assert 'it needs no conversion: use it with the config it was trained or converted for' in done.stderr
    assert 'dsfd_publish.py' in done.stderr and 'not a PyTorch checkpoint' not in done.stderr
    assert not dst.exists()


@pytest.mark.parametrize('kind, what', [
    ('dsfd', 'is an mmengine training checkpoint of an mmdet-face DSFD model (trained as dsfd_toy), not the '
             'RetinaFace release layout'),
    ('scrfd', 'is an mmengine training checkpoint of an mmdet-face SCRFD model (trained as scrfd_toy)'),
    ('retinaface', 'is an mmengine training checkpoint of an mmdet-face RetinaFace model (trained as '
                   'retinaface_toy)'),
    ('dsfd_release', 'is a bare state dict of the DSFD release layout (Tencent/FaceDetection-DSFD)'),
])
def test_retinaface_converter_names_other_families(tmp_path, trained, kind, what):
    """Before: "unexpected key 'backbone...' for a RetinaFace release checkpoint" (or, for a training
    checkpoint, 'not a PyTorch checkpoint')."""
    if kind == 'dsfd_release':
        from tests.deployment.test_dsfd_pth_import import release_state_dict
        src = tmp_path / 'WIDERFace_DSFD_RES152.pth'
        torch.save(release_state_dict(), src)
    else:
        src = trained[kind]
    msg = _run(RETINA_TOOL, src, tmp_path / 'out.pth')
    assert msg is not None and msg.startswith(f'error: {src}: {what}'), msg
    assert ('dsfd_pth2mmdet.py' if kind == 'dsfd_release' else 'it needs no conversion') in msg
    assert msg.endswith('Expected a RetinaFace release .pth state dict (biubug6/Pytorch_Retinaface '
                        'mobilenet0.25_Final.pth or Resnet50_Final.pth); nothing was written')
    assert not (tmp_path / 'out.pth').exists()


def test_scrfd_converter_names_a_retinaface_onnx(tmp_path):
    """Before: 'the ONNX graph has 44 convs, ... has 57; none of the 8 candidate configs matches' after building
    every candidate config."""
    from mmdet_face.apis.inference import init_face_detector
    from mmdet_face.deployment.retinaface_onnx_export import export_retinaface_onnx
    src, dst = tmp_path / 'retinaface.onnx', tmp_path / 'out.pth'
    export_retinaface_onnx(init_face_detector(str(RETINA_TOY)), str(src), shape=(32, 32))
    msg = _run(SCRFD_TOOL, src, SCRFD_TOY, dst)
    assert msg == (f'error: {src}: is a RetinaFace ONNX export (outputs loc, conf, landms), not an SCRFD model '
                   '(outputs score_8/16/32, bbox_8/16/32[, kps_8/16/32]); this converter reads SCRFD graphs only, '
                   'and nothing was written')
    assert not dst.exists()


def test_scrfd_converter_names_a_checkpoint_given_as_onnx(tmp_path, trained):
    msg = _run(SCRFD_TOOL, trained['scrfd'], SCRFD_TOY, tmp_path / 'out.pth')
    assert msg is not None and msg.startswith(f'error: {trained["scrfd"]}: not an ONNX model (')
    assert 'it is a zip archive, as PyTorch checkpoints are: a .pth of our model needs no conversion' in msg


def test_export_tool_refuses_a_checkpoint_of_another_family(tmp_path, trained):
    """The strict load refuses a RetinaFace checkpoint with the SCRFD config. Before: a raw traceback of
    CheckpointMismatchError."""
    out = tmp_path / 'model.onnx'
    msg = _run(EXPORT_TOOL, SCRFD_TOY, trained['retinaface'], out, '--shape', 32, 32)
    assert msg is not None and msg.startswith(f'error: {trained["retinaface"]} does not fit the model')
    assert 'trained as retinaface_toy' in msg and not out.exists() and _no_temp_files(tmp_path)


def test_export_tool_names_an_unsupported_family(tmp_path):
    """Before: a raw NotImplementedError traceback for a family without an ONNX layout (mmdet's RetinaHead here)."""
    config, out = tmp_path / 'retinanet_head.py', tmp_path / 'model.onnx'
    config.write_text(f"_base_ = ['{REPO_ROOT / 'configs/toy/srn_toy.py'}']\n"
                      "model = dict(train_cfg=None, bbox_head=dict(_delete_=True, type='mmdet.RetinaHead', "
                      "num_classes=1, in_channels=48))\n")
    msg = _run(EXPORT_TOOL, config, out, '--shape', 32, 32)
    assert msg == (f'error: {config}: ONNX export and the onnxruntime backend cover the heads SCRFDHead, '
                   'RetinaFaceHead, DSFDHead, SRNHead; this config has a RetinaHead')
    assert not out.exists() and _no_temp_files(tmp_path)
