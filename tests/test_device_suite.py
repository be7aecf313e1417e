"""`benchmarks/device_suite.sh`, the prepared GPU run: its dry run (every step at a tiny size on CPU, into a
temporary folder) finishes, and each step writes JSON that parses.

The full run needs a GPU: set PURERL_TEST_DEVICE_SUITE_GPU=1 on a GPU machine to run it too (minutes; it
writes into a temporary folder, not benchmarks/results/).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "device_suite.sh"
STEP_FILES = {
    "seed_scaling": "seed_scaling_{}.json",
    "ppo_throughput": "ppo_throughput_{}.json",
    "selfplay": "selfplay_throughput_{}.json",
    "sequence": "sequence_throughput_{}.json",
    "breakout": "ppo_breakout_minatar_{}.json",
}


def _run_suite(out: Path, *flags: str, timeout: int) -> subprocess.CompletedProcess:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    if shutil.which("timeout") is None:
        pytest.skip("coreutils' timeout is not installed")
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(
        ["bash", str(SCRIPT), *flags, "--results-dir", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _check_results(proc: subprocess.CompletedProcess, out: Path, suffix: str) -> dict:
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    steps = {}
    for step, pattern in STEP_FILES.items():
        path = out / pattern.format(suffix)
        assert path.exists(), f"{step} wrote no {path.name}"
        data = json.loads(path.read_text())
        assert data["device_suite"]["step"] == step
        assert data["device_suite"]["exit_status"] == 0
        assert data["device_suite"]["device"]["device_kind"]
        steps[step] = data
        # One summary line per step.
        assert f"[device_suite] {step}: ok" in proc.stdout
    suite = json.loads((out / f"device_suite_{suffix}.json").read_text())
    assert [s["step"] for s in suite["steps"]] == list(STEP_FILES)
    assert all(s["status"] == "ok" for s in suite["steps"])
    assert (out / f"device_suite_{suffix}.log").exists()
    return steps


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("device_suite_dryrun")
    proc = _run_suite(out, "--dry-run", timeout=420)
    return proc, out


@pytest.mark.slow  # the dry run takes ~1 min on 2 cores
def test_dry_run_writes_every_step(dry_run):
    proc, out = dry_run
    steps = _check_results(proc, out, "dryrun")
    scaling = steps["seed_scaling"]
    assert scaling["complete"] and scaling["platform"] == "cpu"
    assert [p["seeds"] for p in scaling["seed_points"]] == [2]
    assert all("error" not in p for p in scaling["seed_points"])
    throughput = steps["ppo_throughput"]
    assert throughput["complete"] and [p["num_seeds"] for p in throughput["points"]] == [1]
    breakout = steps["breakout"]
    assert breakout["env"] == "Breakout-MinAtar" and breakout["num_seeds"] == 2
    assert breakout["final_return"]["num_seeds"] == 2
    assert "purerl train ppo --env Breakout-MinAtar" in breakout["command"]


@pytest.mark.slow  # the dry run takes ~1 min on 2 cores
def test_dry_run_leaves_the_committed_results_alone(dry_run):
    _, out = dry_run
    assert out != REPO / "benchmarks" / "results"
    assert not list((REPO / "benchmarks" / "results").glob("*_dryrun*"))


@pytest.mark.skipif(
    os.environ.get("PURERL_TEST_DEVICE_SUITE_GPU") != "1",
    reason="the full suite needs a GPU machine: set PURERL_TEST_DEVICE_SUITE_GPU=1 there",
)
def test_full_run_on_a_gpu(tmp_path):
    proc = _run_suite(tmp_path, timeout=600)
    steps = _check_results(proc, tmp_path, "gpu")
    assert steps["seed_scaling"]["device_suite"]["device"]["platform"] == "gpu"
    assert max(p["seeds"] for p in steps["seed_scaling"]["seed_points"]) == 4096
    assert steps["breakout"]["num_seeds"] == 64
