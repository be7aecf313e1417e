"""Long learning checks: every algorithm with its tabled defaults, through the runner, on a real task.

Marked `slow` (minutes each on 2 CPU cores): the default suite skips them, CI runs them when its time
budget allows (`python -m pytest -m slow`). The thresholds are the issue targets where a short run
reaches them, and otherwise a level far from the untrained policy; the benchmark figures with 32+ seeds
live in `benchmarks/results/algo_learning/`.
"""

from __future__ import annotations

import numpy as np
import pytest

from purerl import runner
from purerl.cli import build_config_and_hparams

pytestmark = pytest.mark.slow

# (algo, env, seeds, env steps per seed, extra --set items, final-return IQM it must reach)
CASES = [
    ("ppo", "CartPole-v1", 8, 250_000, (), 475.0),
    ("a2c", "CartPole-v1", 8, 250_000, (), 400.0),
    ("reinforce", "CartPole-v1", 8, 300_000, (), 400.0),
    ("dqn", "CartPole-v1", 4, 200_000, (), 400.0),
    ("pqn", "CartPole-v1", 8, 250_000, (), 400.0),
    ("sac", "Pendulum-v1", 4, 15_000, (), -400.0),
    ("td3", "Pendulum-v1", 4, 15_000, (), -400.0),
    ("ppo", "Pendulum-v1", 8, 500_000, (), -400.0),
    # Image observations through the flattening MLP torso (a regression check for the MinAtar path).
    (
        "ppo",
        "Breakout-MinAtar",
        4,
        250_000,
        ("network=mlp", "hidden_sizes=64,64", "num_envs=16", "num_minibatches=8", "eval_episodes=8"),
        2.0,
    ),
]


@pytest.mark.parametrize(
    ("algo", "env", "seeds", "steps", "sets", "threshold"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_learns_with_tabled_defaults(algo, env, seeds, steps, sets, threshold):
    _, config, hparams = build_config_and_hparams(algo, env, sets, steps)
    result = runner.run(config, hparams, seeds, num_chunks=1, progress=False)
    final = result.summary["final_return"]
    assert result.summary["diverged_seeds"] == []
    assert np.isfinite(final["iqm"])
    assert final["iqm"] >= threshold, f"{algo} on {env}: IQM {final['iqm']:.1f} < {threshold} ({final})"
