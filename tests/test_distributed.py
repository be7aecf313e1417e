"""`purerl train --distributed`: two local processes form one 2-device CPU mesh and give the same
results as one process with two devices.

Two `purerl train ... --distributed --num-processes 2 --process-id i` subprocesses on localhost (one CPU
device each, cross-process collectives over gloo, jax 0.10.2's default for CPU, set explicitly here)
run the tiny PPO config to completion into one results directory, checkpoints included; one more
subprocess runs the same command without `--distributed` on two forced host devices. Both programs
partition the run axis over a 2-device mesh, so their `metrics.npz` must be equal bit for bit (measured:
they are). The three processes run concurrently; each compiles the tiny program (about 10 s here).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from purerl import io
from tests._tiny_ppo import NUM_CHUNKS, TINY_CLI_SETS

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(num_devices: int) -> dict[str, str]:
    flags = os.environ.get("XLA_FLAGS", "")  # the suite's compile options (tests/conftest.py)
    flags = " ".join(f for f in flags.split() if "xla_force_host_platform_device_count" not in f)
    if num_devices > 1:
        flags += f" --xla_force_host_platform_device_count={num_devices}"
    return {
        **os.environ,
        "XLA_FLAGS": flags.strip(),
        "JAX_PLATFORMS": "cpu",
        "JAX_CPU_COLLECTIVES_IMPLEMENTATION": "gloo",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }


def _train(out: Path, *extra: str, num_devices: int = 1) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "purerl.cli",
        "train",
        "ppo",
        "--env=CartPole-v1",
        *TINY_CLI_SETS,
        "--seeds=4",  # 4 runs: the single process uses both its devices (2 runs per device)
        f"--chunks={NUM_CHUNKS}",
        f"--out={out}",
        "--no-progress",
        *extra,
    ]
    return subprocess.Popen(
        argv, cwd=REPO, env=_env(num_devices), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(procs: list[subprocess.Popen]) -> list[str]:
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=TIMEOUT_S)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output[-4000:]
    return outputs


@pytest.mark.slow  # two fresh processes compile the same run: ~20 s of the default suite's 10 minutes
def test_two_processes_equal_one_process_with_two_devices(tmp_path):
    address = f"127.0.0.1:{_free_port()}"
    distributed = [
        _train(
            tmp_path / "distributed",
            "--distributed",
            f"--coordinator-address={address}",
            "--num-processes=2",
            f"--process-id={i}",
        )
        for i in range(2)
    ]
    single = _train(tmp_path / "single", num_devices=2)
    outputs = _finish([*distributed, single])
    assert "results written to" in outputs[0]

    summary = io.read_json(tmp_path / "distributed" / "summary.json")
    assert summary["complete"] and summary["num_processes"] == 2 and len(summary["devices"]) == 2
    assert len(io.read_json(tmp_path / "single" / "summary.json")["devices"]) == 2
    with (
        np.load(tmp_path / "distributed" / "metrics.npz", allow_pickle=False) as got,
        np.load(tmp_path / "single" / "metrics.npz", allow_pickle=False) as want,
    ):
        assert sorted(got.files) == sorted(want.files)
        for name in want.files:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert not (tmp_path / "distributed" / ".lock").exists()
