"""Environment tests: the `Env` contract for every registered env, wrappers, registry and native envs.

The contract tests share one compiled program per environment (a module-scoped fixture): reset
`NUM_ENVS` instances under `vmap`, then scan `NUM_STEPS` steps of `episode_stats(auto_reset(env))` with
random valid actions. Compilation dominates the cost on a small CPU machine, so every contract test
only inspects the stored outputs of that program.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.envs import Env, EnvSpec, bandits, chain, craftax, make, probes, registered, wrappers, xland
from purerl.spaces import Box, Discrete
from purerl.types import TimeStep

NUM_ENVS = 4
NUM_STEPS = 64
# Tests need correct code, not fast code. Skipping LLVM optimisation and using XLA:CPU's older elemental
# emitters instead of its fusion emitters cut compile time about 4x (measured on jax 0.10.2, 2 CPU cores).
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}

# Environments whose trajectories under random actions cannot depend on the key (one action, no
# randomness anywhere). Every other environment must give different trajectories for different keys.
KEY_INDEPENDENT = frozenset({"Probe-ConstantReward-v0", "Probe-TwoStep-v0"})

INF = math.inf
# gymnax environments whose observations leave their declared `observation_space` (gymnax 1.0.1), measured
# with this file's random-action rollouts. Each entry widens the bounds of the flat observation indices
# that are wrong, so every other index (and these, up to the measured range) is still checked.
OBS_BOUNDS_ALLOW_LIST: dict[str, tuple[dict[int, tuple[float, float]], str]] = {
    "GaussianBandit-misc": (
        {0: (-INF, INF), 3: (-1.0, 1.0)},
        "obs[0] is the last Gaussian reward (mean ~ N(-1, 1), unbounded; declared [0, 2]); obs[3] is time "
        "normalised to [-1, 1] (declared [0, max_steps_in_episode]); measured obs[0] down to -2.5, obs[3] -1",
    ),
    "MemoryChain-bsuite": (
        {0: (-1e-6, 1.0), 2: (-1.0, 2.0)},
        "obs[2:] shows the context bits as 2 * bit - 1 = -1 or +1 (declared low 0); obs[0] = 1 - t / "
        "memory_length rounds to -1.5e-8 at the last step (declared low 0)",
    ),
    "MetaMaze-misc": (
        {13: (0.0, 10.0)},
        "obs[13] is the last reward, params.reward = 10 on reaching the goal (declared [0, 1])",
    ),
    "UmbrellaChain-bsuite": (
        {2: (-1e-6, 1.0)},
        "obs[2] = 1 - t / chain_length rounds to -1.5e-8 at the last step (declared low 0)",
    ),
}


def _compile(fn: Any, *args: Any) -> Any:
    """`jax.jit(fn)` compiled for `args` with `FAST_COMPILE`, or default options where XLA lacks them."""
    lowered = jax.jit(fn).lower(*args)
    try:
        return lowered.compile(FAST_COMPILE)
    except jax.errors.JaxRuntimeError as error:
        if "compile option" not in str(error):
            raise
        return lowered.compile()


def _tree_np(tree: Any) -> Any:
    return jax.tree.map(np.asarray, jax.device_get(tree))


def _trees_equal(a: Any, b: Any) -> bool:
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(leaves_a) == len(leaves_b) and all(
        np.array_equal(x, y) for x, y in zip(leaves_a, leaves_b, strict=True)
    )


def _obs_bounds(name: str, space: Box) -> tuple[np.ndarray, np.ndarray]:
    """Declared bounds of `space` (float32, shape `space.shape`), widened by the allow-list for `name`."""
    size = math.prod(space.shape)
    low = np.broadcast_to(np.asarray(space.low, np.float32), (size,)).copy()
    high = np.broadcast_to(np.asarray(space.high, np.float32), (size,)).copy()
    for index, (lo, hi) in OBS_BOUNDS_ALLOW_LIST.get(name, ({}, ""))[0].items():
        low[index], high[index] = min(low[index], lo), max(high[index], hi)
    return low.reshape(space.shape), high.reshape(space.shape)


# --------------------------------------------------------------------------------------------------------
# One compiled rollout per registered environment.
# --------------------------------------------------------------------------------------------------------


class Rollout(NamedTuple):
    """Outputs of the shared program for one environment (NumPy arrays).

    Attributes:
        name: registered name.
        spec: the env's spec.
        env: the unwrapped env, for shape-only (`eval_shape`) checks.
        params: its default params.
        first: `TimeStep` from reset, leaves `[B, ...]`.
        steps: `TimeStep`s of the scan, leaves `[T, B, ...]`.
        actions: `[T, B, *action_shape]` the random actions taken.
        repeat: `(first, steps, actions)` of a second run with the same key.
        other: `(first, steps, actions)` of a run with a different key.
    """

    name: str
    spec: EnvSpec
    env: Env
    params: Any
    first: TimeStep
    steps: TimeStep
    actions: np.ndarray
    repeat: tuple[TimeStep, TimeStep, np.ndarray]
    other: tuple[TimeStep, TimeStep, np.ndarray]


@functools.cache
def _program(name: str, **static: Any) -> tuple[Any, Env, Any]:
    """Compiled `(key, params) -> (first, steps, actions)` for `make(name, **static)`, built once per process.

    `params` is an argument, so the same executable runs any params of the default's shapes.
    """
    env, params = make(name, **static)
    wrapped = wrappers.episode_stats(wrappers.auto_reset(env))
    action_space = env.spec.action_space

    def run(key, params):
        key_reset, key_steps = jax.random.split(key)
        state, first = jax.vmap(wrapped.reset, (0, None))(jax.random.split(key_reset, NUM_ENVS), params)

        def body(state, key):
            key_action, key_step = jax.random.split(key)
            actions = jax.vmap(action_space.sample)(jax.random.split(key_action, NUM_ENVS))
            keys = jax.random.split(key_step, NUM_ENVS)
            state, ts = jax.vmap(wrapped.step, (0, 0, 0, None))(keys, state, actions, params)
            return state, (ts, actions)

        _, (steps, actions) = jax.lax.scan(body, state, jax.random.split(key_steps, NUM_STEPS))
        return first, steps, actions

    return _compile(run, jax.random.key(0), params), env, params


def _run(
    name: str, seed: int = 0, params: Any = None, **static: Any
) -> tuple[TimeStep, TimeStep, np.ndarray]:
    """`(first, steps, actions)` as NumPy for one run of the shared program (default params if None)."""
    program, _, default = _program(name, **static)
    return _tree_np(program(jax.random.key(seed), default if params is None else params))


@functools.cache
def _rollout(name: str) -> Rollout:
    _, env, params = _program(name)
    first, steps, actions = _run(name, 0)
    return Rollout(name, env.spec, env, params, first, steps, actions, _run(name, 0), _run(name, 1))


# Envs of the optional extras (Craftax, XLand-MiniGrid) compile for seconds to minutes each on 2 CPU cores:
# one representative stays in the default suite, the rest run with `-m slow`.
_EXTRA_ENVS = frozenset(getattr(craftax, "CRAFTAX_NAMES", ())) | frozenset(getattr(xland, "XLAND_NAMES", ()))
_EXTRA_DEFAULT = frozenset({"MiniGrid-Empty-5x5"})
ROLLOUT_PARAMS = [
    pytest.param(name, marks=pytest.mark.slow) if name in _EXTRA_ENVS - _EXTRA_DEFAULT else name
    for name in registered()
]


@pytest.fixture(scope="module", params=ROLLOUT_PARAMS)
def rollout(request) -> Rollout:
    return _rollout(request.param)


def _pre_step_obs(first: TimeStep, steps: TimeStep) -> np.ndarray:
    """`[T, B, ...]` the observation each step's action was taken in (auto-reset obs included)."""
    return np.concatenate([first.obs[None], steps.obs[:-1]], axis=0)


# --------------------------------------------------------------------------------------------------------
# Contract tests on the stored outputs.
# --------------------------------------------------------------------------------------------------------


def test_dtypes_and_shapes(rollout: Rollout):
    obs_shape = rollout.spec.observation_space.shape
    for ts, lead in ((rollout.first, (NUM_ENVS,)), (rollout.steps, (NUM_STEPS, NUM_ENVS))):
        for field in ("obs", "final_obs"):
            value = getattr(ts, field)
            assert value.dtype == np.float32, (field, value.dtype)
            assert value.shape == lead + obs_shape, (field, value.shape)
        assert ts.reward.dtype == np.float32 and ts.reward.shape == lead
        for field in ("terminated", "truncated"):
            value = getattr(ts, field)
            assert value.dtype == np.bool_ and value.shape == lead, (field, value.dtype, value.shape)


def test_info_structure_stable(rollout: Rollout):
    first, steps = rollout.first.info, rollout.steps.info
    assert jax.tree.structure(first) == jax.tree.structure(steps)
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(steps), strict=True):
        assert a.dtype == b.dtype and (NUM_STEPS, *a.shape) == b.shape


def test_unwrapped_reset_and_step_agree(rollout: Rollout):
    """The raw env (no wrappers, whose `jnp.where` could hide a mismatch) keeps every dtype and shape."""
    env, params = rollout.env, rollout.params
    key = jax.random.key(0)
    state, first = jax.eval_shape(env.reset, key, params)
    action = jax.eval_shape(env.spec.action_space.sample, key)
    next_state, ts = jax.eval_shape(env.step, key, state, action, params)
    assert jax.tree.structure(state) == jax.tree.structure(next_state)
    assert jax.tree.structure(first) == jax.tree.structure(ts)
    for a, b in zip(jax.tree.leaves((state, first)), jax.tree.leaves((next_state, ts)), strict=True):
        assert (a.shape, a.dtype) == (b.shape, b.dtype)
    assert first.obs.shape == rollout.spec.observation_space.shape and first.obs.dtype == jnp.float32
    assert first.reward.shape == () and first.terminated.dtype == jnp.bool_


def test_reset_timestep(rollout: Rollout):
    first = rollout.first
    np.testing.assert_array_equal(first.reward, 0.0)
    assert not first.terminated.any() and not first.truncated.any()
    np.testing.assert_array_equal(first.final_obs, first.obs)


def test_obs_within_space(rollout: Rollout):
    low, high = _obs_bounds(rollout.name, rollout.spec.observation_space)
    for label, obs in (
        ("reset obs", rollout.first.obs),
        ("obs", rollout.steps.obs),
        ("final_obs", rollout.steps.final_obs),
    ):
        assert np.isfinite(obs).all(), label
        outside = (obs < low) | (obs > high)
        where = np.argwhere(outside.reshape(-1, low.size).any(axis=0)).ravel()
        assert not outside.any(), f"{label} outside the observation space at flat indices {where.tolist()}"


def test_allow_list_names_are_registered():
    assert set(OBS_BOUNDS_ALLOW_LIST) <= set(registered())


def test_terminated_and_truncated_never_together(rollout: Rollout):
    assert not (rollout.steps.terminated & rollout.steps.truncated).any()


def test_final_obs_equals_obs_unless_episode_ended(rollout: Rollout):
    steps = rollout.steps
    live = ~(steps.terminated | steps.truncated)
    np.testing.assert_array_equal(steps.final_obs[live], steps.obs[live])


def test_episode_stats_consistent(rollout: Rollout):
    info, steps = rollout.steps.info, rollout.steps
    np.testing.assert_array_equal(info["episode_done"], steps.terminated | steps.truncated)
    assert (info["episode_length"] >= 1).all()
    assert (info["episode_length"] <= rollout.spec.max_episode_steps).all()


def test_deterministic_given_key(rollout: Rollout):
    assert _trees_equal((rollout.first, rollout.steps, rollout.actions), rollout.repeat)


def test_different_keys_give_different_trajectories(rollout: Rollout):
    differs = not _trees_equal((rollout.first, rollout.steps, rollout.actions), rollout.other)
    assert differs == (rollout.name not in KEY_INDEPENDENT)


def test_batch_instances_differ(rollout: Rollout):
    """Instances 0 and 1 of the vmapped batch got different keys, so stochastic envs must diverge."""
    take = lambda i: jax.tree.map(lambda x: x[:, i], rollout.steps)
    differs = not _trees_equal(take(0), take(1))
    assert differs == (rollout.name not in KEY_INDEPENDENT)


# --------------------------------------------------------------------------------------------------------
# Registry.
# --------------------------------------------------------------------------------------------------------


def test_unknown_name_suggests_close_match():
    with pytest.raises(ValueError, match="CartPole-v1"):
        make("CartPol-v1")


def test_spec_name_is_registered_name(rollout: Rollout):
    assert rollout.spec.name == rollout.name


def test_native_envs_registered():
    names = set(registered())
    assert set(probes.PROBES) <= names
    assert {"Bandit-Bernoulli-v0", "CombinationLock-v0"} <= names


def test_make_passes_static_kwargs():
    env, params = make("CombinationLock-v0", length=8)
    assert env.spec.observation_space.shape == (9,)
    assert env.spec.max_episode_steps == 32
    assert params.code.shape == (8,)


# --------------------------------------------------------------------------------------------------------
# Wrappers, on tiny hand-written envs (each scripted run is one small compiled scan).
# --------------------------------------------------------------------------------------------------------


def _counter_env(obs_shape: tuple[int, ...] = (1,)) -> Env:
    """obs = t (broadcast to `obs_shape`), reward = t after step t, terminates when action == 1."""

    def observe(t):
        return jnp.full(obs_shape, t, jnp.float32)

    def reset(key, params):
        t = jnp.zeros((), jnp.int32)
        false = jnp.zeros((), bool)
        return t, TimeStep(observe(t), jnp.zeros((), jnp.float32), false, false, observe(t), {})

    def step(key, state, action, params):
        t = state + 1
        terminated = jnp.asarray(action == 1)
        obs = observe(t)
        return t, TimeStep(obs, t.astype(jnp.float32), terminated, jnp.zeros((), bool), obs, {})

    space = Box.from_bounds(0.0, 1000.0, obs_shape)
    return Env(reset, step, EnvSpec("Counter", space, Discrete(2), 1000))


def _play(env: Env, actions: list[int], params: Any = None) -> tuple[Any, TimeStep, list[TimeStep]]:
    """Reset, then take the scripted discrete `actions` (one small compiled scan).

    Returns:
        The last state, the reset `TimeStep` and one `TimeStep` per action (NumPy leaves).
    """

    def run(key, actions, params):
        state, first = env.reset(key, params)

        def body(state, x):
            key, action = x
            return env.step(key, state, action, params)

        state, steps = jax.lax.scan(body, state, (jax.random.split(key, len(actions)), actions))
        return state, first, steps

    key, actions = jax.random.key(0), jnp.asarray(actions, jnp.int32)
    state, first, steps = _tree_np(_compile(run, key, actions, params)(key, actions, params))
    return state, first, [jax.tree.map(lambda x, t=t: x[t], steps) for t in range(len(actions))]


def test_time_limit_truncates_at_exactly_n():
    env = wrappers.time_limit(_counter_env(), 3)
    assert env.spec.max_episode_steps == 3
    _, _, steps = _play(env, [0, 0, 0])
    assert [bool(ts.truncated) for ts in steps] == [False, False, True]
    assert not any(bool(ts.terminated) for ts in steps)


def test_time_limit_does_not_truncate_a_terminal_step():
    _, _, steps = _play(wrappers.time_limit(_counter_env(), 3), [0, 0, 1])
    assert bool(steps[-1].terminated) and not bool(steps[-1].truncated)


def test_time_limit_rejects_non_positive():
    with pytest.raises(ValueError, match="max_steps"):
        wrappers.time_limit(_counter_env(), 0)


def test_auto_reset_obs_and_final_obs():
    env = wrappers.auto_reset(wrappers.time_limit(_counter_env(), 3))
    _, _, steps = _play(env, [0, 0, 0, 0, 1])
    obs = [float(ts.obs[0]) for ts in steps]
    final = [float(ts.final_obs[0]) for ts in steps]
    # Truncated at step 3 and terminated at step 5 (2nd step of episode 2): obs is the reset obs there.
    assert obs == [1.0, 2.0, 0.0, 1.0, 0.0]
    assert final == [1.0, 2.0, 3.0, 1.0, 2.0]
    assert [float(ts.reward) for ts in steps] == [1.0, 2.0, 3.0, 1.0, 2.0]
    assert bool(steps[2].truncated) and bool(steps[4].terminated)


def test_episode_stats_sum_and_length_at_done():
    env = wrappers.episode_stats(wrappers.auto_reset(wrappers.time_limit(_counter_env(), 3)))
    _, first, steps = _play(env, [0, 0, 0, 0, 1, 0])
    assert float(first.info["episode_return"]) == 0.0 and not bool(first.info["episode_done"])
    done = [bool(ts.info["episode_done"]) for ts in steps]
    returns = [float(ts.info["episode_return"]) for ts in steps]
    lengths = [int(ts.info["episode_length"]) for ts in steps]
    assert done == [False, False, True, False, True, False]
    assert returns[2] == 1 + 2 + 3 and lengths[2] == 3
    assert returns[4] == 1 + 2 and lengths[4] == 2
    # Running values restart after each episode.
    assert returns[3] == 1 and lengths[3] == 1 and returns[5] == 1 and lengths[5] == 1


def _stream_env(mean: float, std: float) -> Env:
    """Known stream: obs `mean + std * (-1)^t` at step t, shape `[2]`; exact mean `mean`, variance `std^2`."""

    def observe(t):
        sign = 1.0 - 2.0 * (t % 2).astype(jnp.float32)
        return jnp.full((2,), mean, jnp.float32) + std * sign

    def reset(key, params):
        t = jnp.zeros((), jnp.int32)
        false = jnp.zeros((), bool)
        return t, TimeStep(observe(t), jnp.zeros((), jnp.float32), false, false, observe(t), {})

    def step(key, state, action, params):
        t = state + 1
        false = jnp.zeros((), bool)
        return t, TimeStep(observe(t), jnp.ones((), jnp.float32), false, false, observe(t), {})

    return Env(reset, step, EnvSpec("Stream", Box.from_bounds(-INF, INF, (2,)), Discrete(1), 10_000))


def test_normalize_obs_converges_to_standard_moments():
    mean, std, num_steps = 3.0, 2.0, 1000
    env = wrappers.normalize_obs(_stream_env(mean, std))

    def run(key):
        state, _ = env.reset(key, None)

        def body(state, _):
            state, ts = env.step(key, state, jnp.zeros((), jnp.int32), None)
            return state, ts.obs

        return jax.lax.scan(body, state, length=num_steps)

    key = jax.random.key(0)
    state, obs = _compile(run, key)(key)
    # num_steps + 1 samples (reset included) plus the 1e-4 prior count: moments match to ~1e-3.
    np.testing.assert_allclose(state.stats.mean, mean, atol=0.01)
    np.testing.assert_allclose(state.stats.var, std**2, rtol=0.01)
    late = np.asarray(obs[num_steps // 2 :])
    np.testing.assert_allclose(late.mean(axis=0), 0.0, atol=0.01)
    np.testing.assert_allclose(late.std(axis=0), 1.0, atol=0.01)
    assert env.spec.observation_space == Box.from_bounds(-10.0, 10.0, (2,))


def test_normalize_reward_keeps_raw_reward():
    env = wrappers.normalize_reward(_counter_env(), gamma=0.9)
    state, first, steps = _play(env, [0, 0, 0, 0])
    assert float(first.info["raw_reward"]) == 0.0
    assert [float(ts.info["raw_reward"]) for ts in steps] == [1.0, 2.0, 3.0, 4.0]
    # The last reward is the raw one divided by the running std of the discounted return.
    expected = 4.0 / math.sqrt(float(state.stats.var) + 1e-8)
    np.testing.assert_allclose(float(steps[-1].reward), min(expected, 10.0), rtol=1e-5)
    assert steps[-1].reward.dtype == jnp.float32


def test_flatten_obs_shapes():
    env = wrappers.flatten_obs(_counter_env(obs_shape=(2, 3)))
    assert env.spec.observation_space.shape == (6,)
    _, first, steps = _play(env, [0, 1])
    assert first.obs.shape == (6,) and steps[-1].obs.shape == (6,) and steps[-1].final_obs.shape == (6,)
    np.testing.assert_array_equal(steps[-1].obs, np.full(6, 2.0, np.float32))
    # An image env: [10, 5] Catch frames become [50] vectors, with shapes known without running.
    catch, params = make("Catch-bsuite")
    flat = wrappers.flatten_obs(catch)
    assert flat.spec.observation_space.shape == (50,)
    _, ts = jax.eval_shape(flat.reset, jax.random.key(0), params)
    assert ts.obs.shape == (50,) and ts.obs.dtype == jnp.float32


# --------------------------------------------------------------------------------------------------------
# Native environments, hand-checked.
# --------------------------------------------------------------------------------------------------------


def test_probe_constant_reward():
    first, steps, _ = _run("Probe-ConstantReward-v0")
    np.testing.assert_array_equal(first.obs, 0.0)
    np.testing.assert_array_equal(steps.reward, 1.0)
    assert steps.terminated.all() and not steps.truncated.any()


def test_probe_obs_reward():
    first, steps, _ = _run("Probe-ObsReward-v0")
    obs = _pre_step_obs(first, steps)[..., 0]
    assert set(np.unique(obs).tolist()) == {-1.0, 1.0}
    np.testing.assert_array_equal(steps.reward, obs)
    assert steps.terminated.all() and not steps.truncated.any()


def test_probe_two_step():
    env, params = make("Probe-TwoStep-v0")
    _, first, steps = _play(env, [0, 0], params)
    assert [float(first.obs[0])] + [float(ts.obs[0]) for ts in steps] == [0.0, 1.0, 1.0]
    assert [float(ts.reward) for ts in steps] == [0.0, 1.0]
    assert [bool(ts.terminated) for ts in steps] == [False, True]
    assert not any(bool(ts.truncated) for ts in steps)
    # Under auto-reset the episodes alternate [0.] -> [1.] -> reset.
    _, steps, _ = _run("Probe-TwoStep-v0")
    np.testing.assert_array_equal(steps.reward[:, 0], np.tile([0.0, 1.0], NUM_STEPS // 2))
    np.testing.assert_array_equal(steps.obs[:, 0, 0], np.tile([1.0, 0.0], NUM_STEPS // 2))


def test_probe_action_reward():
    first, steps, actions = _run("Probe-ActionReward-v0")
    assert set(np.unique(actions).tolist()) == {0, 1}
    np.testing.assert_array_equal(steps.reward, np.where(actions == 1, 1.0, -1.0))
    np.testing.assert_array_equal(first.obs, 0.0)
    assert steps.terminated.all()


def test_probe_obs_action_reward():
    first, steps, actions = _run("Probe-ObsActionReward-v0")
    sign = _pre_step_obs(first, steps)[..., 0]
    assert set(np.unique(sign).tolist()) == {-1.0, 1.0}
    wanted = np.where(sign > 0, 1, 0)
    np.testing.assert_array_equal(steps.reward, np.where(actions == wanted, 1.0, -1.0))
    assert (steps.reward == 1.0).any() and (steps.reward == -1.0).any()
    assert steps.terminated.all()


def test_probe_continuous_target():
    first, steps, actions = _run("Probe-ContinuousTarget-v0")
    obs = _pre_step_obs(first, steps)
    assert (np.abs(obs) <= 1.0).all() and obs.std() > 0.3
    np.testing.assert_allclose(steps.reward, -((actions - obs)[..., 0] ** 2), rtol=1e-6, atol=1e-7)
    assert steps.terminated.all()
    # Acting exactly on target pays 0; out-of-box actions are clipped to the box before scoring.
    env, params = make("Probe-ContinuousTarget-v0")
    assert env.spec.action_space == Box.from_bounds(-1.0, 1.0, (1,))
    state = probes.ProbeState(jnp.asarray([0.5], jnp.float32), jnp.zeros((), jnp.int32))
    for action, reward in (([0.5], 0.0), ([5.0], -0.25), ([-3.0], -2.25)):
        _, ts = env.step(jax.random.key(0), state, jnp.asarray(action, jnp.float32), params)
        assert float(ts.reward) == reward and ts.reward.dtype == jnp.float32


def test_bernoulli_bandit_deterministic_arms_and_truncation():
    env, _ = bandits.make_bernoulli_bandit(num_arms=2, horizon=3)
    params = bandits.BernoulliBanditParams(jnp.asarray([0.0, 1.0], jnp.float32))
    _, first, steps = _play(env, [1, 0, 1, 1], params)
    np.testing.assert_array_equal(first.obs, [1.0])
    assert [float(ts.reward) for ts in steps[:3]] == [1.0, 0.0, 1.0]
    assert [bool(ts.truncated) for ts in steps[:3]] == [False, False, True]
    assert not any(bool(ts.terminated) for ts in steps)
    # Pseudo-regret of each pull, max(probs) - probs[action]: actions 1, 0, 1, 1.
    assert [float(ts.info["regret"]) for ts in steps] == [0.0, 1.0, 0.0, 0.0]


def test_bernoulli_bandit_params():
    env, params = make("Bandit-Bernoulli-v0")
    assert env.spec.action_space == Discrete(10) and env.spec.max_episode_steps == 100
    np.testing.assert_allclose(params.probs, np.linspace(0.1, 0.9, 10), rtol=1e-6)
    problems = jax.vmap(bandits.sample_params, (0, None))(jax.random.split(jax.random.key(0), 5), 10)
    assert problems.probs.shape == (5, 10) and problems.probs.dtype == jnp.float32
    assert ((problems.probs >= 0) & (problems.probs <= 1)).all()
    assert np.unique(np.asarray(problems.probs)).size == 50
    # The compiled rollout takes any params: arms that always / never pay make reward = probs[action].
    alternating = bandits.BernoulliBanditParams(jnp.asarray([0.0, 1.0] * 5, jnp.float32))
    _, steps, actions = _run("Bandit-Bernoulli-v0", params=alternating)
    np.testing.assert_array_equal(steps.reward, actions % 2)
    # Success rate 0.3 over 8 runs x 256 pulls (sd of the mean ~ 0.01).
    flat = bandits.BernoulliBanditParams(jnp.full((10,), 0.3, jnp.float32))
    rewards = [_run("Bandit-Bernoulli-v0", seed, params=flat)[1].reward for seed in range(8)]
    np.testing.assert_allclose(np.mean(rewards), 0.3, atol=0.04)


def test_bernoulli_bandit_rejects_bad_sizes():
    with pytest.raises(ValueError, match="num_arms"):
        bandits.make_bernoulli_bandit(num_arms=0)
    with pytest.raises(ValueError, match="horizon"):
        bandits.make_bernoulli_bandit(horizon=0)


def _progress(ts: TimeStep) -> int:
    return int(np.argmax(ts.obs))


def test_combination_lock_scripted_success():
    env, params = chain.make_combination_lock(length=5, num_actions=4)
    code = [int(c) for c in params.code]
    assert code == [(7 * i + 3) % 4 for i in range(5)]
    _, first, steps = _play(env, code, params)
    np.testing.assert_array_equal(first.obs, np.eye(6, dtype=np.float32)[0])
    assert [_progress(ts) for ts in steps] == [1, 2, 3, 4, 5]
    assert [float(ts.reward) for ts in steps] == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert [bool(ts.terminated) for ts in steps] == [False] * 4 + [True]
    assert not any(bool(ts.truncated) for ts in steps)


def test_combination_lock_wrong_action_resets():
    env, params = chain.make_combination_lock(length=3, num_actions=2, wrong_action="reset")
    code = [int(c) for c in params.code]
    wrong = 1 - code[2]
    _, _, steps = _play(env, [code[0], code[1], wrong, *code], params)
    assert [_progress(ts) for ts in steps] == [1, 2, 0, 1, 2, 3]
    assert [float(ts.reward) for ts in steps] == [0.0] * 5 + [1.0]
    assert [bool(ts.terminated) for ts in steps] == [False] * 5 + [True]


def test_combination_lock_wrong_action_terminates():
    env, params = chain.make_combination_lock(length=3, num_actions=2, wrong_action="terminate")
    code = [int(c) for c in params.code]
    _, _, steps = _play(env, [code[0], 1 - code[1]], params)
    assert [bool(ts.terminated) for ts in steps] == [False, True]
    assert [float(ts.reward) for ts in steps] == [0.0, 0.0]
    assert _progress(steps[-1]) == 1


def test_combination_lock_success_pays_once_per_episode():
    env, params = chain.make_combination_lock(length=3, num_actions=3)
    env = wrappers.episode_stats(wrappers.auto_reset(env))
    code = [int(c) for c in params.code]
    _, _, steps = _play(env, code * 2, params)
    assert [float(ts.reward) for ts in steps] == [0.0, 0.0, 1.0] * 2
    assert [float(ts.info["episode_return"]) for ts in steps if bool(ts.info["episode_done"])] == [1.0, 1.0]


def test_combination_lock_time_limit():
    env, params = chain.make_combination_lock(length=2, num_actions=2)
    assert env.spec.max_episode_steps == 8
    wrong = 1 - int(params.code[0])
    _, _, steps = _play(env, [wrong] * 8, params)
    assert [bool(ts.truncated) for ts in steps] == [False] * 7 + [True]
    assert not any(bool(ts.terminated) for ts in steps)
    env, _ = chain.make_combination_lock(length=2, num_actions=2, max_steps=3)
    assert env.spec.max_episode_steps == 3


def test_combination_lock_random_codes():
    keys = jax.random.split(jax.random.key(0), 6)
    codes = jax.vmap(chain.sample_params, (0, None, None))(keys, 4, 3)
    assert codes.code.shape == (6, 4) and codes.code.dtype == jnp.int32
    assert ((codes.code >= 0) & (codes.code < 3)).all()
    # The compiled default-lock rollout runs a random code: rewards only when that code was entered.
    code = chain.sample_params(jax.random.key(1), 5, 4)
    _, steps, actions = _run("CombinationLock-v0", params=code)
    opened = steps.reward == 1.0
    np.testing.assert_array_equal(opened, steps.terminated)
    for t, b in zip(*np.nonzero(opened), strict=True):
        np.testing.assert_array_equal(actions[t - 4 : t + 1, b], np.asarray(code.code))


def test_combination_lock_random_policy_success_rate():
    """With wrong_action="terminate" an episode is one attempt: success probability num_actions**-length."""
    static = {"length": 2, "num_actions": 2, "wrong_action": "terminate"}
    returns = []
    for seed in range(8):
        _, steps, _ = _run("CombinationLock-v0", seed, **static)
        returns.append(steps.info["episode_return"][steps.info["episode_done"]])
    returns = np.concatenate(returns)
    assert returns.size > 1000 and set(np.unique(returns).tolist()) <= {0.0, 1.0}
    # p = 2**-2 = 0.25; with > 1000 episodes the sd of the estimate is < 0.014.
    np.testing.assert_allclose(returns.mean(), 0.25, atol=0.05)


def test_combination_lock_rejects_bad_options():
    with pytest.raises(ValueError, match="wrong_action"):
        chain.make_combination_lock(wrong_action="explode")
    with pytest.raises(ValueError, match="num_actions"):
        chain.make_combination_lock(num_actions=1)
    with pytest.raises(ValueError, match="length"):
        chain.make_combination_lock(length=0)
