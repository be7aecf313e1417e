"""The ablation experiment: its generated verdicts (hand-checked) and its whole `--quick` pipeline
(about a minute on 2 cores, most of it compiling: slow marker)."""

import json

import pytest

from tests.experiment_scripts import load_experiment


def test_verdict_reads_the_probability_of_improvement_interval():
    module = load_experiment("ppo_ablations")
    assert module.verdict({"p": 0.2, "ci_low": 0.1, "ci_high": 0.45}) == module.HURTS
    assert module.verdict({"p": 0.8, "ci_low": 0.55, "ci_high": 0.9}) == module.HELPS
    assert module.verdict({"p": 0.5, "ci_low": 0.3, "ci_high": 0.5}) == module.NONE  # touching 1/2: no effect
    assert module.verdict(None).startswith("not comparable")


def test_every_literature_entry_names_a_declared_component():
    from purerl.agents import get_algorithm

    module = load_experiment("ppo_ablations")
    for algo, name in module.LITERATURE:
        assert name in get_algorithm(algo).components


def test_unknown_study_is_a_usage_error(capsys):
    module = load_experiment("ppo_ablations")
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--quick", "--only", "ppo_NoSuchEnv"])
    assert exit_info.value.code == 2
    assert "--only" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_run_writes_report_json_and_figure(tmp_path):
    """`--only` runs one study and lists the other as not run; `--resume` then runs it and keeps the first."""
    module = load_experiment("ppo_ablations")
    module.main(["--quick", "--out", str(tmp_path), "--only", "ppo_CartPole-v1"])
    first = json.loads((tmp_path / "ppo_ablations.json").read_text())
    assert [s["algo"] for s in first["studies"]] == ["ppo"]
    assert [s["algo"] for s in first["not_run"]] == ["dqn"]
    assert "## dqn on CartPole-v1: not run in this report" in (tmp_path / "ppo_ablations.md").read_text()

    module.main(["--quick", "--out", str(tmp_path), "--resume"])
    result = json.loads((tmp_path / "ppo_ablations.json").read_text())
    assert [s["algo"] for s in result["studies"]] == ["ppo", "dqn"] and result["not_run"] == []
    assert result["studies"][0] == first["studies"][0]  # kept, not run again
    variants = [e["name"] for e in result["studies"][0]["entries"]]
    assert variants == ["full", "norm_adv", "gae"]
    assert all("verdict" in e and "literature" in e for s in result["studies"] for e in s["entries"][1:])
    assert "## Verdicts against the literature" in (tmp_path / "ppo_ablations.md").read_text()
    assert (tmp_path / "ppo_ablations.png").stat().st_size > 10_000
    assert (tmp_path / "ablations" / "ppo_CartPole-v1" / "ablation.json").exists()
