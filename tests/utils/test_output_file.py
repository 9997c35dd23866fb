"""mmdet_face.utils.output_file.check_output_folder: the one refuse-to-overwrite check of output folders (the WIDER
FACE submission folder and the search's candidate folder use it)."""
import pytest

from mmdet_face.utils.output_file import check_output_folder


def test_output_folder_free_occupied_foreign_file_and_link(tmp_path):
    assert check_output_folder(tmp_path / 'new') == str(tmp_path / 'new')  # missing: free
    (tmp_path / 'empty').mkdir()
    check_output_folder(tmp_path / 'empty')  # empty: free
    full = tmp_path / 'full'
    full.mkdir()
    (full / 'a.txt').write_text('mine')
    with pytest.raises(FileExistsError, match=r'full already holds results: refusing to mix two runs in one folder\. '
                                              r'Use --force\.'):
        check_output_folder(full, contents='results', fix='Use --force.')
    check_output_folder(full, overwrite=True)
    for overwrite in (False, True):  # someone else's files: never, whatever the flag
        with pytest.raises(FileExistsError, match=r'full: holds files that are not results, e.g. a.txt; it is never'):
            check_output_folder(full, overwrite, contents='results', foreign_entries=lambda folder: ['a.txt'])
        with pytest.raises(NotADirectoryError, match='a.txt: is a file, not a folder'):
            check_output_folder(full / 'a.txt', overwrite)
    (tmp_path / 'link').symlink_to(full)
    with pytest.raises(NotADirectoryError, match='link: is a symbolic link'):
        check_output_folder(tmp_path / 'link', overwrite=True)
    check_output_folder(tmp_path / 'link', overwrite=True, allow_link=True)
    assert (full / 'a.txt').read_text() == 'mine'


def test_move_aside_keeps_what_was_there_under_a_free_name(tmp_path):
    from mmdet_face.utils.output_file import move_aside
    run = tmp_path / 'run'
    run.mkdir()
    (run / 'a.txt').write_text('first')
    first = move_aside(str(run) + '/', stamp='20260101-000000')
    assert first == f'{run}.20260101-000000' and not run.exists()
    run.mkdir()
    (run / 'a.txt').write_text('second')
    second = move_aside(run, stamp='20260101-000000')  # same stamp: the next free name
    assert second == f'{run}.20260101-000000-2'
    assert (tmp_path / 'run.20260101-000000' / 'a.txt').read_text() == 'first'
    assert (tmp_path / 'run.20260101-000000-2' / 'a.txt').read_text() == 'second'
    (tmp_path / 'file.py').write_text('x = 1')
    moved = move_aside(tmp_path / 'file.py')  # a file, stamped now
    assert moved.startswith(f'{tmp_path / "file.py"}.') and open(moved).read() == 'x = 1'


def test_atomic_output_folder_appears_whole_or_not_at_all(tmp_path):
    from mmdet_face.utils.output_file import OutputIsInputError, atomic_output_folder
    out = tmp_path / 'out'
    with atomic_output_folder(out) as stage:
        assert not out.exists()  # written elsewhere until complete
        (tmp_path / stage / 'a.txt').write_text('new')
    assert [p.name for p in out.iterdir()] == ['a.txt']
    # a failing writer leaves the earlier folder as it was, also with replacing allowed
    with pytest.raises(RuntimeError, match='half way'):
        with atomic_output_folder(out, overwrite=True) as stage:
            (tmp_path / stage / 'b.txt').write_text('half')
            raise RuntimeError('half way')
    assert [p.name for p in out.iterdir()] == ['a.txt'] and (out / 'a.txt').read_text() == 'new'
    with pytest.raises(FileExistsError, match='refusing to mix two runs'):
        with atomic_output_folder(out):
            pass
    with atomic_output_folder(out, overwrite=True) as stage:
        (tmp_path / stage / 'c.txt').write_text('replaced')
    assert [p.name for p in out.iterdir()] == ['c.txt']
    with pytest.raises(OutputIsInputError, match='is the input'):
        with atomic_output_folder(out, overwrite=True, inputs=[out]):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out']  # no staging or old folder left behind


def test_atomic_output_folder_interrupted_leaves_nothing(tmp_path):
    """Ctrl-C half-way through the writes: no output folder, no staging folder."""
    from mmdet_face.utils.output_file import atomic_output_folder
    out = tmp_path / 'report'
    with pytest.raises(KeyboardInterrupt):
        with atomic_output_folder(out) as stage:
            (tmp_path / 'seen').write_text(stage)
            with open(f'{stage}/table.md', 'w') as f:
                f.write('half')
            raise KeyboardInterrupt
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ['seen']
