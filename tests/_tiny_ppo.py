"""The tiny PPO run shared by the long-run tests (runner, resume, sharding).

Every test that calls `runner.run` with `TINY_CONFIG`, `FAST_COMPILE` and four runs on one device hits
the runner's program cache, so the suite compiles this program once. `FAST_COMPILE` lowers XLA:CPU's
backend optimisation level, which compiles about 3x faster; comparisons are always between programs
compiled with the same options.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from purerl import runner
from purerl.agents.ppo import PPOConfig, PPOHParams

# 4 updates of 2 envs x 8 steps, one block per update, so 4 chunks of one block each.
TINY_CONFIG = PPOConfig(
    env_name="CartPole-v1",
    num_envs=2,
    num_steps=8,
    total_timesteps=64,
    num_epochs=1,
    num_minibatches=1,
    hidden_sizes=(8,),
    eval_every=1,
    eval_episodes=2,
    eval_max_steps=8,
)
# The CLI spelling of TINY_CONFIG (on top of the CartPole defaults), for end-to-end CLI tests.
TINY_CLI_SETS = [
    "--set=num_envs=2",
    "--set=num_steps=8",
    "--set=num_epochs=1",
    "--set=num_minibatches=1",
    "--set=hidden_sizes=8",
    "--set=eval_every=1",
    "--set=eval_episodes=2",
    "--set=eval_max_steps=8",
    "--total-timesteps=64",
]
NUM_CHUNKS = 4
FAST_COMPILE = {"xla_backend_optimization_level": 0}
# learning_rate=1e30 sends the parameters to inf within two updates: a planted divergence.
SWEEP = {"learning_rate": [2.5e-4, 1e30]}
NUM_SEEDS = 2


def sweep_hparams() -> tuple[PPOHParams, list[dict]]:
    return runner.stack_hparams(PPOHParams, PPOHParams(), SWEEP)


def run_sweep(**kwargs: Any) -> runner.RunResult:
    """The planted-divergence sweep: 2 settings x 2 seeds = 4 runs."""
    hparams, settings = sweep_hparams()
    kwargs = {"num_chunks": NUM_CHUNKS, "progress": False, "compiler_options": FAST_COMPILE, **kwargs}
    return runner.run(TINY_CONFIG, hparams, NUM_SEEDS, sweep_settings=settings, **kwargs)


def trees_equal(a: Any, b: Any) -> bool:
    """Bitwise equality of two pytrees of arrays (NaN equals NaN)."""
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    if jax.tree.structure(a) != jax.tree.structure(b):
        return False
    pairs = zip(la, lb, strict=True)
    return all(np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True) for x, y in pairs)
