"""The search tools' command lines refuse bad numbers when they are read: an argparse error naming the option
(exit 2), before anything is built or written."""
import pytest

from search_tools import benchmark_sampling, search


def refused(parse, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize('option,value,message', [
    ('--seed', '-1', 'argument --seed: expected a seed (an integer in 0..4294967295), got -1'),
    ('--seed', str(2 ** 32), 'argument --seed: expected a seed (an integer in 0..4294967295), got 4294967296'),
    ('--seed', 'nan', "argument --seed: expected a seed (an integer in 0..4294967295), got 'nan'"),
    ('--num', '0', 'argument --num: expected a positive integer, got 0'),
    ('--proxy-epochs', '-3', 'argument --proxy-epochs: expected a positive integer, got -3'),
    ('--proxy-lr', 'nan', "argument --proxy-lr: expected a finite number > 0, got 'nan'"),
    ('--tolerance', '-0.1', "argument --tolerance: expected a relative tolerance (such as 0.02) in (0, 1), got '-0.1'"),
])
def test_sample_refuses_bad_numbers(tmp_path, capsys, option, value, message):
    err = refused(search.parse_args, ['sample', '--space', 'resnet', '--gflops', '1', '--out', str(tmp_path / 'o'),
                                      option, value], capsys)
    assert message in err
    assert not (tmp_path / 'o').exists()


@pytest.mark.parametrize('argv,message', [
    (['run', '--study', 'S', '--trials', '-2'], 'argument --trials: expected a positive integer, got -2'),
    (['run', '--study', 'S', '--heartbeat', 'inf'], "argument --heartbeat: expected a finite number > 0, got 'inf'"),
    (['run', '--study', 'S', '--stale-after', '-1'], 'argument --stale-after: expected a finite number > 0'),
    (['run', '--study', 'S', '--max-attempts', '0'], 'argument --max-attempts: expected a positive integer'),
    (['report', '--study', 'S', '--repeats', '0'], 'argument --repeats: expected an integer in [1, 1000000], got 0'),
    (['report', '--study', 'S', '--repeats', '10000000'], 'argument --repeats: expected an integer in [1, 1000000]'),
    (['run', '--study', 'S', '--heartbeat', '700'], '--heartbeat 700 must be shorter than --stale-after 600'),
    (['run', '--study', 'S', '--stale-after', '30'], '--heartbeat 60 must be shorter than --stale-after 30'),
    (['export', '--study', 'S', '--out', 'x.py', '--rank', '0'], 'argument --rank: expected a positive integer'),
])
def test_run_report_export_refuse_bad_numbers(capsys, argv, message):
    assert message in refused(search.parse_args, argv, capsys)


@pytest.mark.parametrize('argv,message', [
    (['--seed', '-1'], 'argument --seed: expected a seed'),
    (['--raw', '0'], 'argument --raw: expected a positive integer, got 0'),
    (['--candidates', '-5'], 'argument --candidates: expected a positive integer, got -5'),
    (['--tolerance', 'nan'], "argument --tolerance: expected a number, got 'nan'"),
    (['--input', '480', '0'], 'argument --input: expected a positive integer, got 0'),
    (['--case', 'resnet:2.5'], "argument --case: expected SPACE:STEP:GFLOPS"),
    (['--case', 'resnet:backbone:-1'], "argument --case: expected a finite number > 0, got '-1'"),
])
def test_benchmark_sampling_refuses_bad_numbers(capsys, argv, message):
    assert message in refused(benchmark_sampling.parse_args, argv, capsys)


def test_good_values_are_read():
    args = search.parse_args(['sample', '--space', 'resnet', '--gflops', '1', '--out', 'o', '--seed', '4294967295'])
    assert args.seed == 2 ** 32 - 1
    bench = benchmark_sampling.parse_args(['--case', 'resnet:full:2.5', '--input', '320', '320'])
    assert bench.case == [('resnet', 'full', 2.5)] and bench.input == [320, 320]


def test_sample_names_a_broken_space_or_template_file(tmp_path):
    """A space file or template config that does not load is a one-line error naming the file (and the line of a
    syntax error), not a traceback; nothing is written and an existing --out (with --force) stays in place."""
    out = tmp_path / 'study'
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    broken = tmp_path / 'space.py'
    broken.write_text("family = 'MobileNetV1'\nbackbone = dict(\n")
    common = ['sample', '--gflops', '0.2', '--num', '1', '--out', str(out), '--force']
    with pytest.raises(SystemExit, match=rf"search.py sample: --space {broken}, line 2: SyntaxError: "
                                         r"'\(' was never closed"):
        search.main(common + ['--space', str(broken)])
    with pytest.raises(SystemExit, match=r"search.py sample: --space unknown search space 'mobilnet'"):
        search.main(common + ['--space', 'mobilnet'])
    absent = tmp_path / 'absent.py'
    with pytest.raises(SystemExit, match=rf"search.py sample: --space search space file {absent} does not exist"):
        search.main(common + ['--space', str(tmp_path / 'absent.py')])
    with pytest.raises(SystemExit, match=rf"search.py sample: --template {broken}, line 2: SyntaxError"):
        search.main(common + ['--space', 'mobilenet', '--template', str(broken)])
    # refused before --force moved the folder aside
    assert sorted(p.name for p in tmp_path.iterdir()) == ['space.py', 'study']
    assert (out / 'keep.txt').read_text() == 'mine'


def test_benchmark_sampling_names_an_unknown_space(capsys):
    with pytest.raises(SystemExit, match=r"--case resnt:backbone:2.5: unknown search space 'resnt'"):
        benchmark_sampling.main(['--case', 'resnt:backbone:2.5', '--raw', '1', '--candidates', '1'])


@pytest.mark.parametrize('option,value,message', [
    ('--export-bases', 'configs/_base_/datasets/no_such_base.py',
     r'--export-bases: export base configs/_base_/datasets/no_such_base.py: no such config file'),
    ('--storage', 'foo://bar', r'--storage foo://bar: cannot be opened \(NoSuchModuleError: '),
    ('--storage', 'journal:/no/such/folder/x.journal', r'--storage journal:/no/such/folder/x.journal: cannot be '
                                                      r'opened \(FileNotFoundError'),
])
def test_sample_checks_export_bases_and_storage_before_writing(tmp_path, option, value, message):
    """Before, a wrong --export-bases passed sample and failed only at export, after the search; a storage URL
    that cannot be opened ended in a traceback after study.json and the candidates were written."""
    out = tmp_path / 'study'
    with pytest.raises(SystemExit, match='search.py sample: ' + message):
        search.main(['sample', '--space', 'mobilenet', '--gflops', '0.2', '--num', '1', '--out', str(out),
                     option, value])
    assert not out.exists()


def test_sample_refuses_a_checkpoint_interval_longer_than_the_proxy(tmp_path):
    out = tmp_path / 'study'
    with pytest.raises(SystemExit, match=r'--proxy-checkpoint-interval 5 is longer than the 4-epoch proxy'):
        search.main(['sample', '--space', 'mobilenet', '--gflops', '0.2', '--num', '1', '--proxy-epochs', '4',
                     '--proxy-checkpoint-interval', '5', '--out', str(out)])
    assert not out.exists()
