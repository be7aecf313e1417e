"""Sharding the run axis over devices does not change results (beyond float32 rounding).

`XLA_FLAGS=--xla_force_host_platform_device_count=4` must be set before JAX initialises its backend, so
the 4-device run happens in a subprocess; it saves its metrics and final state (`.npz`) and this process
compares them with the same seeds run here on one device (the tiny PPO program this process has already
compiled for the other long-run tests). The subprocess also stops and resumes its sharded run from an
orbax checkpoint of arrays spread over the 4 devices, which must be bit-identical.

Why a tolerance: on XLA:CPU a program compiled for 2 or more devices is bit-identical whatever the device
count (2 vs 4 measured), but differs from the single-device program by about one ulp in the parameter
update of some steps (docs/long_runs.md). Integer and boolean results must match exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from purerl import runner
from purerl.agents.ppo import PPOHParams
from tests._tiny_ppo import FAST_COMPILE, NUM_CHUNKS, TINY_CONFIG

NUM_SEEDS = 4
NUM_DEVICES = 4
DEVICE_FLAG = f"--xla_force_host_platform_device_count={NUM_DEVICES}"
REPO = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    from purerl import runner
    from purerl.agents.ppo import PPOHParams
    from tests._tiny_ppo import FAST_COMPILE, NUM_CHUNKS, TINY_CONFIG, trees_equal

    out = sys.argv[1]
    assert len(jax.devices()) == {num_devices}, jax.devices()
    kwargs = dict(num_chunks=NUM_CHUNKS, progress=False, compiler_options=FAST_COMPILE)
    hparams = PPOHParams(learning_rate=2.5e-4)
    full = runner.run(TINY_CONFIG, hparams, {num_seeds}, **kwargs)
    # Stop after two chunks and resume: the checkpoint holds arrays sharded over every device.
    runner.run(TINY_CONFIG, hparams, {num_seeds}, out_dir=out + "/run", stop_after_chunks=2, **kwargs)
    resumed = runner.run(
        TINY_CONFIG, hparams, {num_seeds}, out_dir=out + "/run", resume=True, **kwargs
    )
    leaves = jax.tree.leaves(jax.device_get(full.state))
    np.savez(out + "/metrics.npz", **full.metrics)
    np.savez(out + "/state.npz", *leaves)
    print(json.dumps({{
        "devices": full.summary["devices"],
        "num_runs_padded": full.summary["num_runs_padded"],
        "resume_identical": trees_equal(full.metrics, resumed.metrics)
        and trees_equal(jax.device_get(full.state), jax.device_get(resumed.state)),
        "resumed_from_block": resumed.summary["resumed_from_block"],
    }}))
    """
).format(num_devices=NUM_DEVICES, num_seeds=NUM_SEEDS)


@pytest.fixture(scope="module")
def sharded(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("sharded")
    env = {
        **os.environ,
        # The suite's own XLA flags (tests/conftest.py) too, so both sides compile alike.
        "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {DEVICE_FLAG}",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), out


def test_runs_are_sharded_over_all_devices_with_padding(sharded):
    report, _ = sharded
    assert len(report["devices"]) == NUM_DEVICES
    # 4 seeds on 4 devices: padded to 2 runs per device (see runner.MIN_RUNS_PER_DEVICE).
    assert report["num_runs_padded"] == NUM_DEVICES * runner.MIN_RUNS_PER_DEVICE


def _assert_close(got: np.ndarray, want: np.ndarray, name: str) -> None:
    if np.issubdtype(want.dtype, np.floating):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
    else:
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_sharded_equals_single_device(sharded):
    _, out = sharded
    single = runner.run(
        TINY_CONFIG,
        PPOHParams(learning_rate=2.5e-4),
        NUM_SEEDS,
        num_chunks=NUM_CHUNKS,
        progress=False,
        compiler_options=FAST_COMPILE,
    )
    assert len(single.summary["devices"]) == len(jax.devices())
    with np.load(out / "metrics.npz", allow_pickle=False) as saved:
        assert sorted(saved.files) == sorted(single.metrics)
        for name in saved.files:
            _assert_close(saved[name], single.metrics[name], name)
    leaves = jax.tree.leaves(jax.device_get(single.state))
    with np.load(out / "state.npz", allow_pickle=False) as saved:
        assert len(saved.files) == len(leaves)
        for i, leaf in enumerate(leaves):
            _assert_close(saved[f"arr_{i}"], np.asarray(leaf), f"state leaf {i}")


def test_sharded_checkpoint_resumes_bit_identically(sharded):
    report, _ = sharded
    assert report["resumed_from_block"] == 2
    assert report["resume_identical"]
