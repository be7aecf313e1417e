"""`check_env`: every way an environment breaks the `Env` contract, in words.

    problems = check_env(env, params)      # [] means the env honours the contract
    assert_valid_env(env, params)          # ValueError listing every problem

What is checked (one message per violation):

- the spec: an `EnvSpec` with a str name, `Box`/`Discrete` spaces, a positive int `max_episode_steps`;
- `reset` and `step` trace under `jit` and under `vmap` (a failure is reported with the first line of
  its error; an env that runs eagerly but not traced is "not jittable");
- `step` accepts an action sampled from `spec.action_space`, and returns a state with the structure,
  shapes and dtypes of `reset`'s;
- every `TimeStep`: obs and final_obs with the shape and dtype of `spec.observation_space`, reward a
  float32 scalar, terminated/truncated bool scalars, info a dict;
- reset's `TimeStep`: reward 0, both flags false, `final_obs == obs`;
- over a jitted, vmapped rollout with random actions (auto-reset): observations inside the space's
  bounds, finite rewards, never terminated and truncated together, and the same key giving the same
  result twice.

Shape checks use `jax.eval_shape` (tracing only, no compilation); the rollout is one compiled program
run twice.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from purerl.envs import wrappers
from purerl.envs.core import Env, EnvSpec
from purerl.spaces import Box, Discrete
from purerl.types import TimeStep

_SPACES = (Box, Discrete)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _check_spec(spec: Any) -> list[str]:
    if not isinstance(spec, EnvSpec):
        return [f"spec is a {type(spec).__name__}, not an EnvSpec"]
    problems = []
    if not isinstance(spec.name, str):
        problems.append(f"spec.name is a {type(spec.name).__name__}, not a str")
    for field in ("observation_space", "action_space"):
        space = getattr(spec, field)
        if not isinstance(space, _SPACES):
            problems.append(f"spec.{field} is a {type(space).__name__}, not a purerl Box or Discrete")
    steps = spec.max_episode_steps
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer):
        problems.append(f"spec.max_episode_steps is a {type(steps).__name__}, not an int")
    elif steps <= 0:
        problems.append(f"spec.max_episode_steps must be positive, got {steps}")
    return problems


def _expected_obs(space: Any) -> tuple[tuple[int, ...], np.dtype] | None:
    if not isinstance(space, _SPACES):
        return None
    return tuple(space.shape), np.dtype(space.dtype)


def _check_timestep(ts: Any, where: str, obs_space: Any) -> list[str]:
    """Shapes and dtypes of one (abstract or concrete) unbatched `TimeStep`."""
    if not isinstance(ts, TimeStep):
        return [f"{where} returns a {type(ts).__name__} as its second value, not a purerl TimeStep"]
    problems = []
    expected = _expected_obs(obs_space)
    for field in ("obs", "final_obs"):
        value = getattr(ts, field)
        if value is None:
            problems.append(f"{where}: TimeStep.{field} is missing (None)")
            continue
        if not hasattr(value, "shape"):
            problems.append(f"{where}: TimeStep.{field} is a {type(value).__name__}, not an array")
            continue
        if expected is not None:
            shape, dtype = expected
            if tuple(value.shape) != shape:
                problems.append(
                    f"{where}: {field} has shape {tuple(value.shape)}, spec.observation_space says {shape}"
                )
            if np.dtype(value.dtype) != dtype:
                problems.append(
                    f"{where}: {field} has dtype {np.dtype(value.dtype)}, spec.observation_space says {dtype}"
                )
    both_arrays = hasattr(ts.final_obs, "shape") and hasattr(ts.obs, "shape")
    if both_arrays and tuple(ts.final_obs.shape) != tuple(ts.obs.shape):
        problems.append(
            f"{where}: final_obs has shape {tuple(ts.final_obs.shape)}, obs {tuple(ts.obs.shape)}"
        )
    for field, dtype in (("reward", np.float32), ("terminated", np.bool_), ("truncated", np.bool_)):
        value = getattr(ts, field)
        if not hasattr(value, "shape"):
            problems.append(f"{where}: {field} is a {type(value).__name__}, not an array")
            continue
        if tuple(value.shape) != ():
            problems.append(f"{where}: {field} has shape {tuple(value.shape)}, expected a scalar ()")
        if np.dtype(value.dtype) != np.dtype(dtype):
            problems.append(f"{where}: {field} has dtype {np.dtype(value.dtype)}, expected {np.dtype(dtype)}")
    if not isinstance(ts.info, dict):
        problems.append(f"{where}: info is a {type(ts.info).__name__}, not a dict")
    return problems


def _signature(tree: Any) -> tuple[Any, list[tuple[tuple[int, ...], str]]]:
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, [(tuple(np.shape(x)), str(x.dtype)) for x in leaves]


def _trace(fn: Any, *args: Any) -> tuple[Any, BaseException | None]:
    """`(abstract output, None)` from tracing `fn` like `jit` does, or `(None, error)`."""
    try:
        return jax.eval_shape(fn, *args), None
    except Exception as error:
        return None, error


def _traced_failure(what: str, error: BaseException, eager: Any) -> str:
    """Says whether `what` fails only when traced (not jittable) or also eagerly."""
    try:
        eager()
    except Exception as eager_error:
        return f"{what} raises: {_first_line(eager_error)}"
    return f"{what} is not jittable: {_first_line(error)}"


def _trace_pair(name: str, what: str, fn: Any, *args: Any) -> tuple[Any, str | None]:
    """`(abstract (state, TimeStep), None)` from tracing `fn(*args)`, or `(None, problem)` if it does
    not trace (see `_traced_failure`) or returns something other than a pair."""
    out, error = _trace(fn, *args)
    if error is not None:
        return None, _traced_failure(what, error, lambda: fn(*args))
    if not (isinstance(out, tuple) and len(out) == 2):
        return None, f"{name} must return a pair (state, TimeStep)"
    return out, None


def _bounds_problem(obs: np.ndarray, space: Any, where: str) -> str | None:
    """`obs` `[N, *obs_shape]` against the space's bounds; None if all inside."""
    if isinstance(space, Box):
        low = np.broadcast_to(
            np.reshape(np.asarray(space.low, np.float64), (-1,)), (int(np.prod(space.shape)),)
        )
        high = np.broadcast_to(np.reshape(np.asarray(space.high, np.float64), (-1,)), low.shape)
        flat = obs.reshape(obs.shape[0], -1).astype(np.float64)
        if flat.shape[1] != low.shape[0]:
            return None  # a shape problem, reported elsewhere
        outside = ~((flat >= low) & (flat <= high))
    elif isinstance(space, Discrete):
        flat = obs.reshape(obs.shape[0], -1).astype(np.float64)
        outside = ~((flat >= 0) & (flat < space.n) & (flat == np.round(flat)))
        low, high = np.zeros(flat.shape[1]), np.full(flat.shape[1], space.n - 1.0)
    else:
        return None
    if not outside.any():
        return None
    sample, index = np.argwhere(outside)[0]
    return (
        f"{where}: {int(outside.sum())} of {outside.size} observation values lie outside "
        f"spec.observation_space (e.g. flat index {int(index)} = {flat[sample, index]:g}, bounds "
        f"[{low[index]:g}, {high[index]:g}])"
    )


def _rollout_fn(env: Env, num_envs: int, num_steps: int) -> Any:
    """`key -> (first TimeStep [B], steps TimeStep [T, B])` with random actions and auto-reset."""
    stepper = wrappers.auto_reset(env)
    action_space = env.spec.action_space

    def one(key, params):
        key_reset, key_loop = jax.random.split(key)
        state, first = env.reset(key_reset, params)

        def body(state, key):
            key_action, key_step = jax.random.split(key)
            state, ts = stepper.step(key_step, state, action_space.sample(key_action), params)
            return state, ts

        _, steps = jax.lax.scan(body, state, jax.random.split(key_loop, num_steps))
        return first, steps

    def rollout(key, params):
        first, steps = jax.vmap(one, in_axes=(0, None))(jax.random.split(key, num_envs), params)
        return first, jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), steps)

    return rollout


def _equal_trees(a: Any, b: Any) -> bool:
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(leaves_a) == len(leaves_b) and all(
        np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
        for x, y in zip(leaves_a, leaves_b, strict=True)
    )


def check_env(
    env: Env | str, params: Any = None, *, seed: int = 0, num_envs: int = 4, num_steps: int = 32
) -> list[str]:
    """Every violation of the `Env` contract by `env`, one sentence each (empty list: no violation).

    Args:
        env: an `Env`, or a registered name (then `params` defaults to its default params).
        params: the env params to check with; None for an `Env` passes None (fine for envs that ignore
            their params).
        seed: seed of the keys used for the checks.
        num_envs: instances in the vmapped rollout.
        num_steps: steps of the rollout (random actions, auto-reset).

    Returns:
        List of messages naming each problem.
    """
    if isinstance(env, str):
        from purerl.envs.registry import make

        env, default_params = make(env)
        params = default_params if params is None else params
    if not isinstance(env, Env):
        return [f"env is a {type(env).__name__}, not a purerl Env"]
    problems = _check_spec(env.spec)
    spec = env.spec if isinstance(env.spec, EnvSpec) else None
    obs_space = getattr(spec, "observation_space", None)
    action_space = getattr(spec, "action_space", None)
    key = jax.random.key(seed)
    key_reset, key_step, key_action = jax.random.split(key, 3)

    # reset: traceable, vmappable, a well-formed first TimeStep.
    reset_out, problem = _trace_pair("reset", "reset", env.reset, key_reset, params)
    if problem is not None:
        problems.append(problem)
        return problems
    state_abstract, first_abstract = reset_out
    problems += _check_timestep(first_abstract, "reset", obs_space)
    keys = jax.random.split(key_reset, num_envs)
    _, error = _trace(jax.vmap(env.reset, in_axes=(0, None)), keys, params)
    # Problems that make the rollout below meaningless or impossible; others are still reported by it.
    blocking = error is not None
    if error is not None:
        problems.append(f"reset is not vmappable: {_first_line(error)}")

    # step: accepts a sampled action, traceable, vmappable, keeps the state's structure.
    if not isinstance(action_space, _SPACES):
        problems.append("cannot check step: spec.action_space is not a purerl space")
        return problems
    action = action_space.sample(key_action)

    def step_once(key, action):
        state, _ = env.reset(key_reset, params)
        return env.step(key, state, action, params)

    what = f"step with a sampled action (shape {action.shape}, dtype {action.dtype})"
    step_out, problem = _trace_pair("step", what, step_once, key_step, action)
    if problem is not None:
        problems.append(problem)
        return problems
    next_state_abstract, step_abstract = step_out
    problems += _check_timestep(step_abstract, "step", obs_space)
    if _signature(next_state_abstract) != _signature(state_abstract):
        blocking = True
        problems.append("step returns a state whose pytree structure, shapes or dtypes differ from reset's")
    fields = ("obs", "final_obs", "reward", "terminated", "truncated")
    timesteps = (first_abstract, step_abstract)
    blocking |= not all(isinstance(ts, TimeStep) for ts in timesteps) or not all(
        hasattr(getattr(ts, field), "shape") for ts in timesteps for field in fields
    )
    actions = jax.vmap(action_space.sample)(jax.random.split(key_action, num_envs))

    def step_batch(keys, actions):
        states, _ = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
        return jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, states, actions, params)

    _, error = _trace(step_batch, keys, actions)
    if error is not None:
        blocking = True
        problems.append(f"step is not vmappable: {_first_line(error)}")
    if blocking:
        return problems

    # One compiled rollout, run twice with the same key.
    rollout = jax.jit(_rollout_fn(env, num_envs, num_steps))
    try:
        first, steps = jax.device_get(rollout(key, params))
        first_again, steps_again = jax.device_get(rollout(key, params))
    except Exception as error:
        return [*problems, f"a jitted, vmapped rollout of reset and step fails: {_first_line(error)}"]
    if not (_equal_trees(first, first_again) and _equal_trees(steps, steps_again)):
        differ = [
            field
            for field in TimeStep._fields
            if not _equal_trees(getattr(first, field), getattr(first_again, field))
            or not _equal_trees(getattr(steps, field), getattr(steps_again, field))
        ]
        problems.append(f"not deterministic: the same key gave different {', '.join(differ) or 'results'}")
    reward0 = np.asarray(first.reward)
    if np.any(reward0 != 0):
        problems.append(f"reset: reward must be 0, got {reward0.ravel()[np.flatnonzero(reward0)[0]]:g}")
    for field in ("terminated", "truncated"):
        if np.any(np.asarray(getattr(first, field))):
            problems.append(f"reset: {field} must be False")
    if not np.array_equal(np.asarray(first.obs), np.asarray(first.final_obs), equal_nan=True):
        problems.append("reset: final_obs must equal obs")
    both = np.asarray(steps.terminated) & np.asarray(steps.truncated)
    if both.any():
        problems.append(f"step: terminated and truncated are both True on {int(both.sum())} steps")
    rewards = np.asarray(steps.reward)
    if not np.all(np.isfinite(rewards)):
        problems.append(f"step: reward is not finite on {int((~np.isfinite(rewards)).sum())} steps")
    if not isinstance(obs_space, _SPACES):
        return problems
    shape = tuple(obs_space.shape)
    for where, obs in (
        ("reset obs", np.asarray(first.obs)),
        ("step obs", np.asarray(steps.obs)),
        ("step final_obs", np.asarray(steps.final_obs)),
    ):
        if obs.shape[obs.ndim - len(shape) :] != shape:
            continue  # a shape problem, reported above
        problem = _bounds_problem(obs.reshape((-1, *shape)), obs_space, where)
        if problem:
            problems.append(problem)
    return problems


def assert_valid_env(env: Env | str, params: Any = None, **options: Any) -> None:
    """Raise if `check_env(env, params, **options)` finds any problem.

    Raises:
        ValueError: listing every problem, one per line, under the env's name.
    """
    problems = check_env(env, params, **options)
    if problems:
        name = env if isinstance(env, str) else getattr(getattr(env, "spec", None), "name", "env")
        raise ValueError(f"{name} breaks the Env contract:\n- " + "\n- ".join(problems))
