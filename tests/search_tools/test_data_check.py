"""The data is checked before anything trains: ``sample --data-root`` refuses a folder that is not in the WIDER
layout (before, the study was created, every trial failed in its training subprocess and the study counted as
finished), and a worker refuses to take a trial while the template's data is not usable."""
import shutil

import pytest

pytest.importorskip('optuna', reason='optuna is not installed (requirements/search.txt)')

from search_tools import search  # noqa: E402
from search_tools.study import StudyError, open_study  # noqa: E402
from search_tools.worker import Worker  # noqa: E402
from tests.helpers.paths import REPO_ROOT as REPO

TOY_TEMPLATE = REPO / 'configs' / 'toy' / 'search_scrfd_toy.py'


def sample(out, data_root=None):
    return search.main(['sample', '--space', 'mobilenet', '--gflops', '0.2', '--input', '320x320', '--template',
                        str(TOY_TEMPLATE), '--num', '1', '--proxy-epochs', '1', '--out', str(out)]
                       + (['--data-root', str(data_root)] if data_root else []))


def test_sample_refuses_a_data_root_not_in_the_wider_layout(tmp_path, toy_data):
    empty = tmp_path / 'not_wider'
    (empty / 'train').mkdir(parents=True)
    with pytest.raises(SystemExit, match=rf'--data-root {empty} is not usable WIDER FACE-layout data .*training '
                                         rf'data .*No such file or directory: .*{empty}/train/labelv2.txt'):
        sample(tmp_path / 'study', empty)
    assert not (tmp_path / 'study').exists()

    broken = tmp_path / 'broken'
    shutil.copytree(toy_data, broken)
    (broken / 'val' / 'gt' / 'wider_hard_val.mat').unlink()
    with pytest.raises(SystemExit, match=r'validation ground truth .*not found: .*wider_hard_val.mat'):
        sample(tmp_path / 'study', broken)
    assert not (tmp_path / 'study').exists()

    first = sorted((broken / 'train' / 'images').rglob('*.jpg'))[0]
    shutil.copy(broken / 'val' / 'gt' / 'wider_easy_val.mat', broken / 'val' / 'gt' / 'wider_hard_val.mat')
    first.unlink()
    with pytest.raises(SystemExit, match=rf'training data .*expected the image file .*{first.name} to exist'):
        sample(tmp_path / 'study', broken)

    sample(tmp_path / 'study', toy_data)  # the toy set is complete
    assert (tmp_path / 'study' / 'study.json').is_file()


def test_worker_refuses_to_train_without_the_data(tmp_path, toy_data, capsys):
    data = tmp_path / 'data'
    shutil.copytree(toy_data, data)
    study = tmp_path / 'study'
    sample(study, data)
    shutil.rmtree(data / 'val')  # the data moved away after sample
    with pytest.raises(StudyError, match=r'the data of .*template.py is not usable .*validation data .*'
                                         r'val/labelv2.txt.*No trial was taken'):
        Worker(str(study), log=lambda *_: None).run()
    assert [t.state.name for t in open_study(str(study)).get_trials()] == ['WAITING']


def test_sample_without_data_root_warns(tmp_path, capsys):
    sample(tmp_path / 'study')  # the toy template's data/toy_widerface/ is not there in a test checkout
    if (REPO / 'data' / 'toy_widerface' / 'train' / 'labelv2.txt').is_file():
        pytest.skip('data/toy_widerface exists here')
    assert 'WARNING: the data of' in capsys.readouterr().out
