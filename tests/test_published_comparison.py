"""`benchmarks/published_comparison.py`: every entry's settings build, reach the published budget and say
what they claim; verdicts and the seed fraction by hand; the table from recorded results."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import published_comparison as pc

from purerl import io
from purerl.cli import build_config_and_hparams


@pytest.mark.parametrize("entry", pc.ENTRIES, ids=lambda e: e.name)
def test_entry_builds_and_runs_at_least_the_published_budget(entry):
    _, config, hparams = build_config_and_hparams(entry.algo, entry.env, list(entry.sets), entry.timesteps)
    assert config.env_steps_run >= entry.budget  # whole evaluation blocks must not cut the budget
    assert config.env_steps_run == entry.timesteps  # the row's "env steps / seed" is what was asked for
    if "gymnax_settings" in entry.name:  # the settings gymnax-blines publishes for its PPO
        assert config.eval_greedy is False and config.anneal_lr is False
        assert hparams.learning_rate == pytest.approx(5e-4)
        assert config.num_epochs == 4 and config.activation == "relu"


def test_verdict_by_hand():
    assert pc.verdict({"ci_low": -120.0, "ci_high": -110.0}, -130.0) == "above"
    assert pc.verdict({"ci_low": -170.0, "ci_high": -140.0}, -130.0) == "below"
    assert pc.verdict({"ci_low": -140.0, "ci_high": -120.0}, -130.0) == "consistent"
    assert pc.verdict({"ci_low": -130.0, "ci_high": -120.0}, -130.0) == "consistent"  # touching is not above


def _summary(per_seed):
    return {
        "final_return": {
            "iqm": -140.0,
            "ci_low": -150.0,
            "ci_high": -135.0,
            "mean": -141.0,
            "per_seed": per_seed,
        },
        "num_seeds": len(per_seed),
        "total_timesteps_actual": 1_024_000,
        "env_steps_per_second": 1000.0,
    }


def test_record_counts_seeds_at_or_above_and_table_lists_every_entry(tmp_path, monkeypatch):
    entry = pc.ENTRIES[0]
    rec = pc.record(entry, _summary([-200.0, -130.0, -129.0, -150.0]))  # -130 counts (at or above)
    assert rec["seeds_at_or_above_published"] == 2
    assert rec["fraction_at_or_above_published"] == 0.5
    assert rec["verdict"] == "below" and rec["command"] == entry.command

    monkeypatch.setattr(pc, "RESULTS", tmp_path / "published")
    monkeypatch.setattr(pc, "TABLE", tmp_path / "published.md")
    pc.RESULTS.mkdir()
    io.write_json(pc.RESULTS / f"{entry.name}.json", rec)
    pc.write_table()
    table = pc.TABLE.read_text()
    assert "0.50 (2/4)" in table and "| below |" in table
    for other in pc.ENTRIES[1:]:  # entries without a result are listed as not run, with the reason
        assert f"| {other.name} |" in table
    assert "not run (" in table


def test_bad_import_run_is_one_line_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        pc.main(["--import-run", "no_such_entry=runs/x"])
    assert exit_info.value.code == 2
    assert "expected NAME=DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        pc.main(["--import-run", f"{pc.ENTRIES[0].name}=/nonexistent/run"])
    assert exit_info.value.code == 2
    assert "no summary.json" in capsys.readouterr().err


def test_learning_curve_is_the_iqm_per_block(tmp_path):
    import numpy as np

    returns = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]], np.float32)  # [S=4, B=2]
    np.savez(tmp_path / "metrics.npz", eval_return=returns, env_steps=np.array([10, 20]))
    curve = pc.learning_curve(tmp_path)
    assert curve["env_steps"] == [10, 20]
    assert curve["iqm"] == pytest.approx([4.0, 5.0])  # middle two of four seeds: (3 + 5) / 2, (4 + 6) / 2
    assert all(lo <= m <= hi for lo, m, hi in zip(curve["low"], curve["iqm"], curve["high"], strict=True))
    assert pc.learning_curve(tmp_path / "missing") is None
