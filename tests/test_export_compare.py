"""Runs you can inspect and compare: CSV export, TensorBoard event files, `compare`, and the run record
(labels, requested vs actual env steps, sweep summaries, fraction of seeds at target).

Every run here is the tiny PPO CartPole program of `tests/_tiny_ppo.py` (4 runs on one device) made by
`purerl.api.train`, with `total_timesteps=70`: 4 updates of 16 env steps, so 64 env steps actually run.
All of them share one compiled program.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from purerl import api, cli_runs, io, labels, results, stats, tables
from purerl.agents import get_algorithm
from purerl.compare import compare_runs
from purerl.export import COLUMNS, export_csv
from tests._tiny_ppo import FAST_COMPILE, NUM_CHUNKS

TINY = {
    "num_envs": 2,
    "num_steps": 8,
    "total_timesteps": 70,
    "num_epochs": 1,
    "num_minibatches": 1,
    "hidden_sizes": (8,),
    "eval_every": 1,
    "eval_episodes": 2,
    "eval_max_steps": 8,
}
RUN_OPTIONS = {"num_chunks": NUM_CHUNKS, "progress": False, "compiler_options": FAST_COMPILE}
SWEEP = {"learning_rate": [2.5e-4, 1e-3]}


def _train(out: Path, seeds: int, **kwargs):
    options = {**RUN_OPTIONS, **kwargs.pop("run_options", {})}
    return api.train(
        "ppo",
        "CartPole-v1",
        seeds,
        out=str(out),
        devices=jax.devices()[:1],
        run_options=options,
        **TINY,
        **kwargs,
    )


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    """2 settings x 2 seeds, with TensorBoard event files."""
    out = tmp_path_factory.mktemp("sweep") / "run"
    _train(out, 2, sweep=SWEEP, tensorboard=True)
    return out


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory) -> Path:
    """4 seeds of one setting that differs from the preset (as `--set learning_rate=0.001`)."""
    out = tmp_path_factory.mktemp("plain") / "run"
    _train(out, 4, learning_rate=1e-3)
    return out


def _metrics(out: Path) -> dict[str, np.ndarray]:
    with np.load(out / "metrics.npz", allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


# ----------------------------------------------------------------------------------------------------
# The run record


def test_config_and_summary_name_requested_and_actual_env_steps(sweep_dir):
    record, summary = io.read_json(sweep_dir / "config.json"), io.read_json(sweep_dir / "summary.json")
    for data in (record, summary):
        assert data["total_timesteps_requested"] == 70
        assert data["total_timesteps_actual"] == 64
    assert summary["total_timesteps"] == 64 and record["config"]["total_timesteps"] == 70
    assert "64 env steps per seed (of 70 requested" in tables.format_table(summary)


def test_metrics_name_their_settings(sweep_dir, plain_dir):
    saved = _metrics(sweep_dir)
    np.testing.assert_allclose(saved["setting.learning_rate"], SWEEP["learning_rate"])
    assert saved["setting.learning_rate"].dtype == np.float64  # numeric: compares with equal_nan
    summary = io.read_json(sweep_dir / "summary.json")
    assert [e["label"] for e in summary["sweep"]] == ["learning_rate=0.00025", "learning_rate=0.001"]
    assert not any(name.startswith("setting.") for name in _metrics(plain_dir))


def test_a_run_off_the_preset_is_not_called_default(plain_dir):
    summary = io.read_json(plain_dir / "summary.json")
    assert summary["label"] == "learning_rate=0.001"
    table = tables.format_table(summary)
    assert "learning_rate=0.001" in table and "default" not in table
    spec = get_algorithm("ppo")
    config, hparams = spec.preset("CartPole-v1")
    assert labels.setting_labels(spec, config, hparams, None, None) == ["preset"]
    swept, settings = hparams._replace(gamma=0.9), [{"learning_rate": 1e-4}]
    assert labels.setting_labels(spec, config, swept, settings, 1) == ["learning_rate=0.0001, gamma=0.9"]


def test_a_sweep_has_no_top_level_final_return(sweep_dir):
    summary = io.read_json(sweep_dir / "summary.json")
    assert summary["final_return"] is None and summary["fraction_at_target"] is None
    assert summary["best_setting_label"] == summary["sweep"][summary["best_setting"]]["label"]
    assert all(entry["final_return"]["num_seeds"] == 2 for entry in summary["sweep"])


def test_fraction_at_target_is_beside_every_iqm(sweep_dir):
    summary = io.read_json(sweep_dir / "summary.json")
    assert summary["target"] == 475.0 and "gymnasium" in summary["target_source"]
    assert [e["fraction_at_target"] for e in summary["sweep"]] == [0.0, 0.0]  # 8-step evaluations
    assert "0.00 (0/2)" in tables.format_table(summary)


def test_an_iqm_of_500_does_not_hide_seeds_below_the_target():
    final = np.asarray([500.0] * 28 + [400.0] * 4)
    entry = results.seed_summary(final, np.ones((32, 3), bool), target=475.0)
    assert entry["final_return"]["iqm"] == 500.0 and entry["final_return"]["ci_low"] == 500.0
    assert entry["num_at_target"] == 28 and entry["fraction_at_target"] == 28 / 32
    summary = {
        "algo": "ppo",
        "env": "CartPole-v1",
        "num_seeds": 32,
        "target": 475.0,
        "target_source": "test",
        "total_timesteps": 10,
        "compile_seconds": 1.0,
        "run_seconds": 1.0,
        "label": "preset",
        "num_diverged": 0,
        "diverged_seeds": [],
        **entry,
    }
    assert "0.88 (28/32)" in tables.format_table(summary)
    no_target = {**summary, "target": None, "num_at_target": None, "env": "Pendulum-v1"}
    row = tables.format_table(no_target).splitlines()[2]
    assert row.split()[-2] == "-"


def test_target_override_and_unknown_targets():
    entry = results.seed_summary(np.asarray([1.0, np.nan, 3.0]), np.ones((3, 1), bool), target=2.0)
    assert entry["num_at_target"] == 1 and entry["fraction_at_target"] == 1 / 3  # diverged: not reached
    assert results.seed_summary(np.asarray([1.0]), np.ones((1, 1), bool))["fraction_at_target"] is None
    with pytest.raises(ValueError, match="target must be a finite number"):
        api.train("ppo", "CartPole-v1", 2, target=float("nan"), **TINY)


# ----------------------------------------------------------------------------------------------------
# CSV export


def test_csv_is_long_format_and_equals_the_metrics(sweep_dir, tmp_path):
    path = export_csv(sweep_dir, tmp_path / "m.csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COLUMNS
    saved = _metrics(sweep_dir)
    names = [e["label"] for e in io.read_json(sweep_dir / "summary.json")["sweep"]]
    for metric, per_update in (("eval_return", False), ("value_loss", True)):
        got = [r for r in rows if r["metric"] == metric]
        expected = saved[metric]  # [H, S, B] or [H, S, B, 1]
        assert len(got) == expected.size
        for r in got:
            h, s, b = names.index(r["setting"]), int(r["seed"]), int(r["block"])
            value = expected[h, s, b, 0] if per_update else expected[h, s, b]
            assert float(r["value"]) == pytest.approx(float(value), nan_ok=True)
            assert int(r["env_step"]) == saved["env_steps"][b]
    assert export_csv(sweep_dir) == sweep_dir / "metrics.csv"


def test_export_of_an_incomplete_run_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"no config\.json"):
        export_csv(tmp_path)


# ----------------------------------------------------------------------------------------------------
# TensorBoard


def _scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_tensorboard_scalars_equal_the_metrics(sweep_dir):
    saved = _metrics(sweep_dir)
    steps = saved["env_steps"].tolist()
    for h, name in enumerate(["learning_rate=0.00025", "learning_rate=0.001"]):
        for s in range(2):
            run_dir = sweep_dir / "tensorboard" / name / f"seed_{s}"
            got = _scalars(run_dir, "eval_return")
            assert [step for step, _ in got] == steps
            np.testing.assert_array_equal([v for _, v in got], saved["eval_return"][h, s])
            loss = [v for _, v in _scalars(run_dir, "value_loss")]
            np.testing.assert_array_equal(loss, saved["value_loss"][h, s, :, 0])
        iqm = [v for _, v in _scalars(sweep_dir / "tensorboard" / name / "iqm", "eval_return")]
        np.testing.assert_allclose(iqm, [stats.iqm(saved["eval_return"][h, :, b]) for b in range(len(steps))])


def test_tensorboard_on_resume_writes_no_step_twice(tmp_path):
    """Stopped after 3 chunks; its last checkpoint deleted (as if killed after writing the events of
    chunk 3 but before checkpointing it); resumed from block 2: every step appears once."""
    out = tmp_path / "run"
    _train(out, 2, sweep=SWEEP, tensorboard=True, run_options={"stop_after_chunks": 3})
    shutil.rmtree(out / results.CHECKPOINT_DIR / "3")
    (out / results.CHECKPOINT_METRICS_DIR / "3.npz").unlink(missing_ok=True)
    _train(out, 2, sweep=SWEEP, tensorboard=True, run_options={"resume": True})
    saved = _metrics(out)
    run_dir = out / "tensorboard" / "learning_rate=0.001" / "seed_1"
    got = _scalars(run_dir, "eval_return")
    assert [step for step, _ in got] == saved["env_steps"].tolist()
    np.testing.assert_array_equal([v for _, v in got], saved["eval_return"][1, 1])
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 2  # one file per writing process


def test_tensorboard_needs_out_dir():
    with pytest.raises(ValueError, match=r"tensorboard=True .*needs the results directory"):
        api.train("ppo", "CartPole-v1", 2, tensorboard=True, **TINY)


# ----------------------------------------------------------------------------------------------------
# compare and the CLI


def test_compare_runs(sweep_dir, plain_dir, tmp_path):
    result = compare_runs([sweep_dir, plain_dir], tmp_path / "cmp")
    entries = result["entries"]
    settings = ["learning_rate=0.00025", "learning_rate=0.001", "learning_rate=0.001"]
    assert [e["setting"] for e in entries] == settings
    assert [e["num_seeds"] for e in entries] == [2, 2, 4]
    assert entries[0]["probability_of_improvement"] is None
    finals = [np.asarray(_metrics(d)["eval_return"])[..., -1] for d in (sweep_dir, plain_dir)]
    expected = stats.probability_of_improvement(finals[1], finals[0][0])
    poi = entries[2]["probability_of_improvement"]
    assert (poi["p"], poi["ci_low"], poi["ci_high"]) == pytest.approx(expected)
    assert entries[2]["final_return"]["iqm"] == stats.iqm(finals[1])
    assert entries[2]["fraction_at_target"] == 0.0
    profiles = result["performance_profiles"]
    assert len(profiles["taus"]) == len(profiles["profiles"][entries[0]["name"]]["fraction"])
    for name in ("compare.json", "compare.txt", "learning_curves.png", "performance_profiles.png"):
        assert (tmp_path / "cmp" / name).is_file(), name
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["table"] == result["table"]
    assert "P(> first)" in result["table"] and "baseline" in result["table"]


def test_compare_refuses_runs_on_different_envs(sweep_dir, plain_dir, tmp_path):
    other = tmp_path / "acrobot"
    shutil.copytree(plain_dir, other, ignore=shutil.ignore_patterns("checkpoint*"))
    summary = io.read_json(other / "summary.json")
    io.write_json(other / "summary.json", {**summary, "env": "Acrobot-v1", "target": -100.0})
    with pytest.raises(ValueError, match=r"different envs: .*run \(CartPole-v1\), .*acrobot \(Acrobot-v1\)"):
        compare_runs([sweep_dir, other])
    forced = compare_runs([sweep_dir, other], force=True)
    assert forced["entries"][-1]["target"] == -100.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="purerl")
    cli_runs.add_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_export_and_compare(sweep_dir, plain_dir, tmp_path, capsys):
    args = _parser().parse_args(["export", str(sweep_dir), "--csv", str(tmp_path / "x.csv")])
    assert args.func(args) == 0 and (tmp_path / "x.csv").is_file()
    args = _parser().parse_args(["compare", str(sweep_dir), str(plain_dir), "--out", str(tmp_path / "c")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "final return IQM [95% CI]" in out and "at target" in out
    args = _parser().parse_args(["compare", str(sweep_dir), "--target", "inf"])
    with pytest.raises(ValueError, match="--target must be finite"):
        args.func(args)
