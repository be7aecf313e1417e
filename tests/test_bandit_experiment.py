"""The bandit regret experiment's whole pipeline at its `--quick` budget (about 1.5 minutes: slow marker)."""

import json

import pytest

from tests.experiment_scripts import load_experiment


@pytest.mark.slow
def test_quick_run_writes_report_json_and_figure(tmp_path):
    module = load_experiment("bandit_regret")
    module.main(["--quick", "--out", str(tmp_path)])
    report = (tmp_path / "bandit_regret.md").read_text()
    assert "## Verdicts (generated from the data)" in report
    assert "Lai-Robbins constant of this problem: C = 8.7" in report
    result = json.loads((tmp_path / "bandit_regret.json").read_text())
    labels = {arm.label for arm in module.ARMS}
    for setting in ("random", "fixed"):
        entry = result["settings"][setting]
        assert set(entry["per_seed_regret"]) == labels
        assert len(entry["tests"]["below"]) == 4
        assert all(0 < t["p_holm"] <= 1 for t in entry["tests"]["below"].values())
        horizon = str(module.QUICK.horizon)
        assert all(len(v[horizon]) == module.QUICK.num_seeds for v in entry["per_seed_regret"].values())
    assert (tmp_path / "bandit_regret.png").stat().st_size > 10_000
