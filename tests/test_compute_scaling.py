"""The compute-scaling experiment: its FLOP count by hand, its comparisons, and the quick pipeline (slow)."""

import json

import jax
import numpy as np
import pytest

from purerl.agents import get_algorithm
from tests.experiment_scripts import load_experiment


def test_network_weights_count_every_dense_kernel_of_ppo_actor_and_critic():
    module = load_experiment("compute_scaling")
    spec = get_algorithm("ppo")
    config, hparams = spec.preset("CartPole-v1", hidden_sizes=(64, 64))
    params = jax.eval_shape(spec.make_agent(config).init, jax.random.key(0), hparams).params
    # Actor 4-64-64-2 and critic 4-64-64-1: (256 + 4096 + 128) + (256 + 4096 + 64) weights.
    assert module.network_weights(params) == 8896
    assert module.flops_per_env_step(8896, num_epochs=4) == 26 * 8896  # 2 acting + 4 x 6 learning


def test_compare_reports_the_change_per_doubling_and_the_probability_of_improvement():
    module = load_experiment("compute_scaling")
    low, high = np.zeros(8), np.full(8, 12.0)
    row = module.compare(low, high, compute_ratio=4.0)
    assert row["delta_mean"] == 12.0 and row["delta_low"] == row["delta_high"] == 12.0
    assert row["per_doubling"] == 6.0
    assert row["p_improvement"][0] == 1.0
    assert module.compare(low, high, compute_ratio=0.5)["per_doubling"] is None  # cheaper: not per doubling


@pytest.mark.slow
def test_quick_run_writes_report_json_and_figure(tmp_path):
    module = load_experiment("compute_scaling")
    module.main(["--quick", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "compute_scaling.json").read_text())
    b = module.QUICK
    assert len(result["cells"]) == len(module.ALGOS) * len(b.widths) * len(b.num_envs)
    assert set(result["axis_steps"]) == {"width", "num_envs", "env_steps"}
    assert sum("the FLOP axis that bought the most return" in line for line in result["verdicts"]) == 2
    assert "## Verdicts" in (tmp_path / "compute_scaling.md").read_text()
    assert (tmp_path / "compute_scaling.png").stat().st_size > 10_000
