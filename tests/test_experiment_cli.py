"""`purerl.experiment`: the command line and output directory every experiment script shares."""

import pytest

from purerl import experiment

DOC = """Does X beat Y?

Longer text that --help leaves out.
"""


def test_full_run_writes_to_the_results_directory_and_quick_to_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args, out = experiment.parse_args("demo", DOC, [], tmp_path / "results", "tiny")
    assert not args.quick and out == tmp_path / "results" and out.is_dir()
    args, out = experiment.parse_args("demo", DOC, ["--quick"], tmp_path / "results", "tiny")
    assert args.quick and str(out) == "runs/demo_quick" and out.is_dir()
    args, out = experiment.parse_args("demo", DOC, ["--out", "elsewhere"], tmp_path / "results", "tiny")
    assert str(out) == "elsewhere" and out.is_dir()


def test_own_options_and_seed(tmp_path):
    args, _ = experiment.parse_args("demo", DOC, ["--seed", "3"], tmp_path, "tiny", experiment.add_seed)
    assert args.seed == 3
    with pytest.raises(SystemExit):  # argparse's one-line error for a bad value
        experiment.parse_args("demo", DOC, ["--seed", "x"], tmp_path, "tiny", experiment.add_seed)


def test_help_shows_the_first_paragraph_and_creates_nothing(tmp_path, capsys):
    with pytest.raises(SystemExit):
        experiment.parse_args("demo", DOC, ["--help"], tmp_path / "results", "tiny")
    text = capsys.readouterr().out
    assert "Does X beat Y?" in text and "Longer text" not in text
    assert not (tmp_path / "results").exists()


def test_machine_and_load_average_lines():
    assert "CPU cores" in experiment.machine()
    assert len(experiment.load_average().split(" / ")) == 3
    host = experiment.host_summary()
    assert " CPU device(s), " in host and experiment.machine() in host
    assert "load averages at the end: " in host and host.endswith(")")
