"""The reasoning experiment's whole pipeline at its `--quick` budget (a few minutes: slow marker)."""

import json

import pytest

from tests.experiment_scripts import load_experiment


@pytest.mark.slow
def test_quick_run_writes_report_json_and_figure(tmp_path):
    module = load_experiment("reasoning_rl_vs_sft")
    module.main(["--quick", "--out", str(tmp_path)])
    report = (tmp_path / "reasoning_rl_vs_sft.md").read_text()
    assert "## Verdicts (generated from the data)" in report
    result = json.loads((tmp_path / "reasoning_rl_vs_sft.json").read_text())
    assert set(result["per_seed"]) == set(module.ARMS)
    assert len(result["p_holm"]) == 6 and all(0 < p <= 1 for p in result["p_holm"].values())
    assert (tmp_path / "reasoning_rl_vs_sft.png").stat().st_size > 10_000
