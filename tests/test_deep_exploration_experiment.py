"""The deep-exploration experiment's whole pipeline at its `--quick` budget (about 2 minutes: slow marker)."""

import json

import pytest

from tests.experiment_scripts import load_experiment


@pytest.mark.slow
def test_quick_run_writes_report_json_and_figure(tmp_path):
    module = load_experiment("deep_exploration")
    module.main(["--quick", "--out", str(tmp_path)])
    report = (tmp_path / "deep_exploration.md").read_text()
    assert "## Verdicts" in report and "bsuite-style score" in report
    result = json.loads((tmp_path / "deep_exploration.json").read_text())
    assert set(result["arms"]) == {arm.label for arm in module.ARMS}
    for runs in result["arms"].values():
        for run in runs.values():
            assert len(run["solved"]) == module.QUICK.num_seeds
            assert all(0 <= s <= 1 for s in (result["scores"][next(iter(result["scores"]))]["per_seed"]))
    assert len(result["verdicts"]) == 4
    assert (tmp_path / "deep_exploration.png").stat().st_size > 10_000
