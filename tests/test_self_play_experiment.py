"""The self-play-and-search experiment's whole pipeline at its `--quick` budget (about 2.5 minutes on
2 cores, most of it compiling: slow marker)."""

import json

import pytest

from tests.experiment_scripts import load_experiment


@pytest.mark.slow
def test_quick_run_writes_report_json_and_figure(tmp_path):
    module = load_experiment("self_play_search")
    module.main(["--quick", "--out", str(tmp_path)])
    report = (tmp_path / "self_play_search.md").read_text()
    assert "## Verdicts" in report and "Bradley-Terry Elo" in report
    result = json.loads((tmp_path / "self_play_search.json").read_text())
    ttt = result["tictactoe"]
    curves = ttt["evaluation"]["vs_solver_by_checkpoint"]
    assert set(curves) == {"raw network (n=0)", "AlphaZero n=2"}  # quick trains at the swept n=2
    assert all(len(c) == module.QUICK.tictactoe.num_checkpoints + 1 for c in curves.values())
    assert len(ttt["elo"]["players"]) == module.QUICK.tictactoe.num_checkpoints + 2  # + random
    assert any(line.startswith("Claim 4 (connect_four)") for line in result["verdicts"])
    assert (tmp_path / "self_play_search.png").stat().st_size > 10_000
