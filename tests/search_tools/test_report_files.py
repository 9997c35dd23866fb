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


def test_equal_hard_aps_are_a_tie_not_a_winner(study_dir, tmp_path, capsys):
    """A proxy that gives every candidate the same Hard AP named trial 0 the winner (listing order), bootstrapped
    'the best model's' shares and exported it as rank 1. Now: shared ranks, 'Tie', no bootstrap, export refuses
    the tied rank and names the trials."""
    from search_tools.report import pick_template
    from search_tools.study import StudyError
    tell(study_dir, 0.0, 0.0, 0.0)
    capsys.readouterr()
    report = search.main(['report', '--study', str(study_dir), '--repeats', '50'])
    printed = capsys.readouterr().out
    assert [r['rank'] for r in report['rows']] == [1, 1, 1]
    assert [r['tied_with'] for r in report['rows']] == [[1, 2], [0, 2], [0, 1]]
    assert 'Tie: all 3 completed trials have Hard 0.0000' in printed and 'Best:' not in printed
    assert 'skipped, all 3 completed trials have the same Hard AP 0.0000: no best model to bootstrap' in printed
    table = (study_dir / 'report' / 'ranking.md').read_text()
    assert table.count('| 1= |') == 3 and 'tie with trial(s) 1, 2' in table
    assert report['plots']['shares'] is None and not (study_dir / 'report' / 'shares.png').exists()

    out = tmp_path / 'winner.py'
    with pytest.raises(SystemExit, match=r'--rank 1 is a tie: trials 0, 1, 2 share it \(Hard 0.0000, ranks 1-3\); '
                                         r'.*by --trial N'):
        search.main(['export', '--study', str(study_dir), '--out', str(out)])
    with pytest.raises(SystemExit, match=r'there is no rank 2: trials 0, 1, 2 tie at rank 1'):
        search.main(['export', '--study', str(study_dir), '--rank', '2', '--out', str(out)])
    assert not out.exists()
    with pytest.raises(SystemExit, match=r'--trial 7 is not a completed trial \(completed: 0, 1, 2\)'):
        search.main(['export', '--study', str(study_dir), '--trial', '7', '--out', str(out)])
    search.main(['export', '--study', str(study_dir), '--trial', '1', '--out', str(out)])
    assert '# trial 1 (key' in out.read_text() and '# rank 1 of 3 completed trials' in out.read_text()

    with pytest.raises(StudyError, match=r'--pick best: trials 0, 1, 2 tie for the best Hard AP 0.0000; there is '
                                         r'no single best trial$'):
        pick_template(str(study_dir), 'best')
    with pytest.raises(StudyError, match='--pick bootstrap: all 3 completed trials have the same Hard AP'):
        pick_template(str(study_dir), 'bootstrap', repeats=50)


def test_a_tie_for_the_best_below_a_distinct_rest(study_dir, tmp_path):
    from search_tools.report import bootstrap_shares, collect, pick_template
    from search_tools.study import StudyError
    tell(study_dir, 0.5, 0.2, 0.5)
    rows = collect(str(study_dir))
    assert [(r['trial'], r['rank']) for r in rows] == [(0, 1), (2, 1), (1, 3)] or \
        [(r['trial'], r['rank']) for r in rows] == [(2, 1), (0, 1), (1, 3)]
    summary = bootstrap_shares(rows, repeats=50)
    assert summary['tied_best'] == sorted(summary['tied_best']) and set(summary['tied_best']) == {0, 2}
    assert all(summary[p]['best'] is None for p in ('stem', 'c2', 'backbone'))
    with pytest.raises(StudyError, match=r'trials 0, 2 tie for the best Hard AP 0.5000; .*try --pick bootstrap'):
        pick_template(str(study_dir), 'best')
    out = tmp_path / 'third.py'
    search.main(['export', '--study', str(study_dir), '--rank', '3', '--out', str(out)])
    assert '# trial 1 (key' in out.read_text()
    with pytest.raises(SystemExit, match=r'--rank 1 is a tie: trials [02], [02] share it'):
        search.main(['export', '--study', str(study_dir), '--out', str(out), '--force'])


def test_export_force_moves_the_old_file_aside(study_dir, tmp_path):
    tell(study_dir, 0.1, 0.3, 0.2)
    out = tmp_path / 'mine.py'
    out.write_text('# my config\n')
    with pytest.raises(SystemExit, match=r'--out .*mine.py exists; give --force to move it aside'):
        search.main(['export', '--study', str(study_dir), '--out', str(out)])
    assert out.read_text() == '# my config\n'
    search.main(['export', '--study', str(study_dir), '--out', str(out), '--force'])
    [old] = [p for p in tmp_path.iterdir() if p.name.startswith('mine.py.')]
    assert old.read_text() == '# my config\n' and '# trial 1 (key' in out.read_text()


def test_two_studies_of_the_same_name_are_not_merged(study_dir, tmp_path, capsys):
    """Step 1 sampled twice (another seed, the default name both times): the report grouped rows, EDF curves and
    bootstraps by study name, so the two studies became one curve and the first bootstrap was overwritten."""
    other = tmp_path / 'other'
    search.main(['sample', '--space', 'resnet', '--gflops', '2.5', '--num', '2', '--seed', '1', '--out', str(other)])
    tell(study_dir, 0.1, 0.2, 0.3)
    tell(other, 0.6, 0.5)
    report = search.main(['report', '--study', str(study_dir), str(other), '--repeats', '50'])
    labels = [f'resnet-2.5g-backbone ({study_dir})', f'resnet-2.5g-backbone ({other})']
    assert sorted(report['bootstrap']) == sorted(labels)
    assert report['bootstrap'][labels[0]]['n'] == 3 and report['bootstrap'][labels[1]]['n'] == 2
    assert [r['study'] for r in report['rows']] == [labels[0]] * 3 + [labels[1]] * 2
    text = (study_dir / 'report' / 'ranking.md').read_text()
    assert text.count('## resnet-2.5g-backbone (') == 2
    with pytest.raises(SystemExit, match='the same study given more than once'):
        search.main(['report', '--study', str(study_dir), str(study_dir) + '/'])
