"""Adapter contract tests: `from_gymnax` on gymnax-API objects (each truncation rule), Craftax and
XLand-MiniGrid (optional extras: skipped with a reason when absent). Each checks observations against
the spec and that a time limit shows up as `truncated`, a natural end as `terminated`, never both."""

from __future__ import annotations

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import spaces as gspaces

from purerl.envs import check_env, from_gymnax, make, registered
from purerl.envs.gymnax import make_gymnax


def _run(env, params, actions, state=None, key_seed=0):
    """Step `env` through `actions` (jitted step), returning `[(terminated, truncated, reward)]`."""
    key = jax.random.key(key_seed)
    if state is None:
        state, _ = jax.jit(env.reset)(key, params)
    step = jax.jit(env.step)
    flags = []
    for i, action in enumerate(actions):
        state, ts = step(jax.random.fold_in(key, i), state, jnp.asarray(action), params)
        flags.append((bool(ts.terminated), bool(ts.truncated), float(ts.reward)))
    return flags


# ----------------------------------------------------------------------------------------------------
# from_gymnax


@struct.dataclass
class _CountState:
    time: jnp.ndarray


@struct.dataclass
class _CountParams:
    max_steps_in_episode: int = 3


class _OldGymnaxCounter:
    """A gymnax < 1.0 style env (no `is_truncated`): ends when action 1 is taken, or at the time limit,
    which it folds into `done`."""

    default_params = _CountParams()

    def reset_env(self, key, params):
        return jnp.zeros((1,), jnp.float32), _CountState(jnp.zeros((), jnp.int32))

    def step_env(self, key, state, action, params):
        state = _CountState(state.time + 1)
        done = (action == 1) | (state.time >= params.max_steps_in_episode)
        return state.time[None].astype(jnp.float32), state, jnp.float32(1.0), done, {}

    def observation_space(self, params):
        return gspaces.Box(0.0, params.max_steps_in_episode, (1,), jnp.float32)

    def action_space(self, params):
        return gspaces.Discrete(2)


class _NoTimeLimit(_OldGymnaxCounter):
    """No `is_truncated`, no `max_steps_in_episode`: every `done` is a termination."""

    default_params = None

    def reset_env(self, key, params):
        return jnp.zeros((1,), jnp.float32), _CountState(jnp.zeros((), jnp.int32))

    def step_env(self, key, state, action, params):
        state = _CountState(state.time + 1)
        return jnp.zeros((1,), jnp.float32), state, jnp.float32(0.0), action == 1, {}

    def observation_space(self, params):
        return gspaces.Box(0.0, 1.0, (1,), jnp.float32)


def test_from_gymnax_object_with_is_truncated_matches_make_gymnax():
    genv, gparams = gymnax.make("CartPole-v1")
    env, params = from_gymnax(genv, gparams.replace(max_steps_in_episode=4), name="MyCartPole")
    assert env.spec.name == "MyCartPole" and env.spec.max_episode_steps == 4
    assert env.spec == make_gymnax(
        "CartPole-v1",
    )[0].spec.__class__("MyCartPole", env.spec.observation_space, env.spec.action_space, 4)
    # Alternating pushes keep the pole up for 4 steps: the 4th step is the time limit.
    assert _run(env, params, [0, 1, 0, 1]) == [(False, False, 1.0)] * 3 + [(False, True, 1.0)]
    assert check_env(env, params) == []


def test_from_gymnax_default_params_and_name():
    genv, _ = gymnax.make("Catch-bsuite")
    env, params = from_gymnax(genv)
    assert params == genv.default_params
    assert env.spec.name == genv.name


def test_from_gymnax_old_api_splits_on_time_limit():
    env, params = from_gymnax(_OldGymnaxCounter())
    assert env.spec.max_episode_steps == 3 and env.spec.name == "_OldGymnaxCounter"
    assert _run(env, params, [0, 0, 0]) == [(False, False, 1.0), (False, False, 1.0), (False, True, 1.0)]
    assert _run(env, params, [0, 1]) == [(False, False, 1.0), (True, False, 1.0)]
    assert check_env(env, params) == []


def test_from_gymnax_without_time_limit_never_truncates():
    env, params = from_gymnax(_NoTimeLimit(), max_episode_steps=50)
    assert env.spec.max_episode_steps == 50
    assert _run(env, params, [0] * 5 + [1]) == [(False, False, 0.0)] * 5 + [(True, False, 0.0)]


def test_from_gymnax_rejects_unsupported_space():
    class DictObs(_OldGymnaxCounter):
        def observation_space(self, params):
            return gspaces.Dict({"a": gspaces.Discrete(2)})

    with pytest.raises(TypeError, match="unsupported gymnax space"):
        from_gymnax(DictObs())


# ----------------------------------------------------------------------------------------------------
# Craftax


def _craftax():
    return pytest.importorskip("craftax", reason='Craftax adapters need pip install "purerl[craftax]"')


def test_craftax_names_registered():
    _craftax()
    from purerl.envs.craftax import CRAFTAX_NAMES

    assert set(CRAFTAX_NAMES) <= set(registered())
    assert set(CRAFTAX_NAMES) == {
        "Craftax-Classic-Symbolic-v1",
        "Craftax-Classic-Pixels-v1",
        "Craftax-Symbolic-v1",
        "Craftax-Pixels-v1",
    }


@pytest.mark.parametrize(
    ("name", "obs_shape", "num_actions"),
    [
        ("Craftax-Classic-Symbolic-v1", (1345,), 17),
        ("Craftax-Classic-Pixels-v1", (63, 63, 3), 17),
        ("Craftax-Symbolic-v1", (8268,), 43),
        ("Craftax-Pixels-v1", (130, 110, 3), 43),
    ],
)
def test_craftax_specs(name, obs_shape, num_actions):
    _craftax()
    env, params = make(name)
    assert env.spec.observation_space.shape == obs_shape
    assert env.spec.observation_space.dtype == "float32"
    assert env.spec.action_space.n == num_actions
    assert env.spec.max_episode_steps == params.max_timesteps > 0


@pytest.fixture(scope="module")
def craftax_classic():
    """Craftax-Classic-Symbolic with a 3-step limit, its jitted reset and step (compiled once)."""
    _craftax()
    env, params = make("Craftax-Classic-Symbolic-v1", max_timesteps=3)
    return env, params, jax.jit(env.reset), jax.jit(env.step)


def test_craftax_time_limit_is_truncation(craftax_classic):
    env, params, reset, step = craftax_classic
    state, ts = reset(jax.random.key(1), params)
    assert ts.obs.shape == env.spec.observation_space.shape and ts.obs.dtype == jnp.float32
    assert bool(env.spec.observation_space.contains(ts.obs))
    flags = []
    for i in range(3):
        state, ts = step(jax.random.key(i), state, jnp.int32(0), params)  # noop
        flags.append((bool(ts.terminated), bool(ts.truncated)))
    assert flags == [(False, False), (False, False), (False, True)]
    assert ts.obs.shape == ts.final_obs.shape == env.spec.observation_space.shape


def test_craftax_death_is_termination_even_at_the_time_limit(craftax_classic):
    _, params, reset, step = craftax_classic
    state, _ = reset(jax.random.key(2), params)
    dying = state.replace(player_health=jnp.zeros_like(state.player_health))
    _, ts = step(jax.random.key(0), dying, jnp.int32(0), params)
    assert (bool(ts.terminated), bool(ts.truncated)) == (True, False)
    # Dying on the last allowed step is still a termination.
    last = dying.replace(timestep=jnp.full_like(state.timestep, params.max_timesteps - 1))
    _, ts = step(jax.random.key(0), last, jnp.int32(0), params)
    assert (bool(ts.terminated), bool(ts.truncated)) == (True, False)


# ----------------------------------------------------------------------------------------------------
# XLand-MiniGrid


def _xminigrid():
    return pytest.importorskip("xminigrid", reason='XLand adapters need pip install "purerl[xminigrid]"')


def test_xland_names_match_the_installed_package():
    xminigrid = _xminigrid()
    from purerl.envs.xland import XLAND_NAMES

    assert xminigrid.registered_environments() == XLAND_NAMES
    assert set(XLAND_NAMES) <= set(registered())


@pytest.fixture(scope="module")
def empty_5x5():
    _xminigrid()
    env, params = make("MiniGrid-Empty-5x5", max_steps=6)
    return env, params


def test_xland_goal_is_termination_time_limit_is_truncation(empty_5x5):
    env, params = empty_5x5
    assert env.spec.observation_space.shape == (7, 7, 2) and env.spec.max_episode_steps == 6
    _, ts = env.reset(jax.random.key(0), params)
    assert ts.obs.dtype == jnp.float32 and bool(env.spec.observation_space.contains(ts.obs))
    # From (1, 1): forward, forward, turn right, forward, forward reaches the goal in the corner.
    flags = _run(env, params, [0, 0, 1, 0, 0])
    assert [f[:2] for f in flags] == [(False, False)] * 4 + [(True, False)] and flags[-1][2] > 0
    # Turning on the spot until the limit: truncated on step 6, never terminated.
    flags = _run(env, params, [1] * 6)
    assert [f[:2] for f in flags] == [(False, False)] * 5 + [(False, True)]
    assert check_env(env, params) == []


def test_xland_one_hot_observations():
    _xminigrid()
    from purerl.envs.xland import make_xminigrid

    env, params = make_xminigrid("MiniGrid-Empty-5x5", one_hot=True)
    _, ts = env.reset(jax.random.key(0), params)
    assert ts.obs.shape == env.spec.observation_space.shape == (7, 7, 13 + 12)
    np.testing.assert_array_equal(np.asarray(ts.obs).sum(-1), 2.0)  # one tile and one colour per cell


def test_xland_meta_env_runs_offline_with_the_empty_ruleset():
    _xminigrid()
    env, params = make("XLand-MiniGrid-R1-9x9", max_steps=4)
    # The empty ruleset's goal is never met: the episode ends by truncation.
    assert [f[:2] for f in _run(env, params, [0, 1, 2, 0])] == [(False, False)] * 3 + [(False, True)]


# ----------------------------------------------------------------------------------------------------
# PPO trains on the adapters (tiny budgets; `purerl.api.train` is what `purerl train` runs).

TINY_PPO = {
    "total_timesteps": 128,
    "num_envs": 4,
    "num_steps": 16,
    "num_epochs": 1,
    "num_minibatches": 2,
    "hidden_sizes": (16,),
    "eval_episodes": 2,
    "eval_max_steps": 16,
    "eval_every": 1,
}


def _train(env_name: str, **overrides):
    from purerl.api import train

    result = train("ppo", env_name, 2, run_options={"progress": False}, **{**TINY_PPO, **overrides})
    returns = np.asarray(result.metrics["eval_return"])
    assert returns.shape[0] == 2 and np.all(np.isfinite(returns))
    return result


def test_ppo_trains_on_minigrid():
    _xminigrid()
    _train("MiniGrid-Empty-5x5")


@pytest.mark.slow
def test_ppo_trains_on_craftax_classic_symbolic():
    _craftax()
    _train("Craftax-Classic-Symbolic-v1")


@pytest.mark.slow
def test_ppo_trains_on_craftax_classic_pixels_with_the_cnn():
    _craftax()
    _train("Craftax-Classic-Pixels-v1", network="minatar_cnn", hidden_sizes=(32,), activation="relu")
