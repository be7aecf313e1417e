"""examples/my_envs.py, the docs' custom environment: it registers, passes `check_env`, and PPO trains
on it from Python."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from purerl import plugins
from purerl.envs import check_env, make

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "my_envs.py"
plugins.import_env_modules([str(EXAMPLE)])


def test_example_passes_check_env():
    env, params = make("MyCorridor-v0")
    assert check_env(env, params) == []


def test_goal_terminates_and_time_limit_truncates():
    env, params = make("MyCorridor-v0", length=3, max_steps=4)
    params = params._replace(slip=0.0)
    step = jax.jit(env.step)
    state, _ = env.reset(jax.random.key(0), params)
    flags = []
    for action in (1, 1):
        state, ts = step(jax.random.key(0), state, jnp.int32(action), params)
        flags.append((bool(ts.terminated), bool(ts.truncated), float(ts.reward)))
    assert flags == [(False, False, 0.0), (True, False, 1.0)]
    state, _ = env.reset(jax.random.key(0), params)
    for _ in range(4):
        state, ts = step(jax.random.key(0), state, jnp.int32(0), params)
    assert (bool(ts.terminated), bool(ts.truncated)) == (False, True)


def test_ppo_trains_on_the_example():
    from purerl.api import train

    result = train(
        "ppo",
        "MyCorridor-v0",
        2,
        run_options={"progress": False},
        total_timesteps=256,
        num_envs=4,
        num_steps=16,
        num_epochs=1,
        num_minibatches=2,
        hidden_sizes=(16,),
        eval_episodes=2,
        eval_max_steps=32,
        eval_every=1,
    )
    assert np.all(np.isfinite(result.metrics["eval_return"]))
