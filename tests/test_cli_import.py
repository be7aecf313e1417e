"""User environments from the CLI: `--import` after the device setup, and `purerl check-env`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from purerl import cli

EXAMPLE = Path(__file__).parent.parent / "examples" / "my_envs.py"
TINY = ["--set=num_envs=2", "--set=num_steps=8", "--set=num_minibatches=1", "--set=hidden_sizes=8"]


@pytest.mark.slow  # a fresh process: ~30 s of import and compile
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPU cores for two devices")
def test_a_user_module_env_trains_from_the_cli_on_two_cpu_devices(tmp_path):
    # A fresh process: the one-device-per-core layout is set before JAX starts, and the user module
    # (which imports JAX) is imported only after that.
    out = tmp_path / "run"
    argv = ["train", "ppo", "--env", "MyCorridor-v0", "--import", str(EXAMPLE), "--seeds", "4"]
    argv += ["--total-timesteps", "256", "--chunks", "1", "--no-progress", "--out", str(out), *TINY]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    done = subprocess.run(
        [sys.executable, "-m", "purerl.cli", *argv], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env"] == "MyCorridor-v0" and len(summary["devices"]) == 2, summary


def test_check_env_reports_a_clean_user_env(capsys):
    assert cli.main(["check-env", "MyCorridor-v0", "--import", str(EXAMPLE)]) == 0
    assert "MyCorridor-v0: keeps the Env contract" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["envs", "--import", "no_such_module_here"], "no_such_module_here"),
        (["check-env", "NoSuchEnv-v0"], "check-env: unknown environment 'NoSuchEnv-v0'"),
    ],
)
def test_bad_imports_and_names_are_one_line_errors(argv, expected, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("purerl: error: ") and err.count("\n") == 1 and expected in err, err
