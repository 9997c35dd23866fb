"""search.py report's files: an --out folder holding someone else's ranking.md is refused (``--force`` moves the
files aside), a folder the report wrote is rewritten, and a study with nothing run yet is an error, not an empty
table. No training: trials are told made-up APs."""
import pytest

pytest.importorskip('optuna', reason='optuna is not installed (requirements/search.txt)')

from search_tools import search  # noqa: E402
from search_tools.study import open_study  # noqa: E402


@pytest.fixture
def study_dir(tmp_path):
    folder = tmp_path / 'study'
    search.main(['sample', '--space', 'resnet', '--gflops', '2.5', '--num', '3', '--seed', '0', '--out', str(folder)])
    return folder


def tell(study_dir, *aps):
    study = open_study(str(study_dir))
    for ap in aps:
        study.tell(study.ask(), ap)


def test_report_out_refuses_files_it_did_not_write(study_dir, tmp_path):
    tell(study_dir, 0.3, 0.5)
    out = tmp_path / 'docs'
    out.mkdir()
    (out / 'ranking.md').write_text('my notes')
    (out / 'other.txt').write_text('other')
    args = ['report', '--study', str(study_dir), '--repeats', '50', '--out', str(out)]
    with pytest.raises(SystemExit, match=rf'--out {out} already holds ranking.md, not written by search.py report; '
                                         r'.*--force to move them aside'):
        search.main(args)
    assert sorted(p.name for p in out.iterdir()) == ['other.txt', 'ranking.md']
    assert (out / 'ranking.md').read_text() == 'my notes'

    search.main(args + ['--force'])
    moved = [p for p in out.iterdir() if p.name.startswith('ranking.md.')]
    assert len(moved) == 1 and moved[0].read_text() == 'my notes'
    assert '| rank | trial | Hard |' in (out / 'ranking.md').read_text()
    assert (out / 'other.txt').read_text() == 'other'
    # a folder the report wrote is its own: the next report rewrites it without --force
    tell(study_dir, 0.9)
    search.main(args)
    assert '0.9000' in (out / 'ranking.md').read_text()
    assert len([p for p in out.iterdir() if p.name.startswith('ranking.md.')]) == 1
    # the study's default report folder is rewritten by every report
    search.main(['report', '--study', str(study_dir), '--repeats', '50'])
    search.main(['report', '--study', str(study_dir), '--repeats', '50'])
    assert (study_dir / 'report' / 'ranking.csv').is_file()
    # a file given as --out
    with pytest.raises(SystemExit, match='is a file; expected a folder'):
        search.main(['report', '--study', str(study_dir), '--out', str(out / 'other.txt')])


def test_report_of_a_study_with_nothing_run(study_dir, capsys):
    """Before, the report printed an empty table (exit 0) for a study whose trials were all queued."""
    with pytest.raises(SystemExit, match=r'nothing to rank: .*no trial has started yet \(3 queued\); start '
                                         r'workers with search.py run --study'):
        search.main(['report', '--study', str(study_dir)])
    assert not (study_dir / 'report').exists()
    tell(study_dir, 0.4)
    capsys.readouterr()
    search.main(['report', '--study', str(study_dir), '--repeats', '50'])
    printed = capsys.readouterr().out
    assert '2 more queued trial(s) have not started yet' in printed
    assert '2 more queued trial(s)' in (study_dir / 'report' / 'ranking.md').read_text()
