"""The algorithm contract and the generic training loop every algorithm plugs into.

An algorithm (`Algorithm`) is three pure functions of one seed and one hyperparameter setting, plus the
environment steps one update takes:

    init(key, hparams, *init_args) -> state
    update(key, state, hparams) -> (state, metrics)       one collect + learn step
    act(key, state, obs [B, ...]) -> action [B, ...]       the evaluation policy (greedy or sampled:
                                                           the config's static `eval_greedy`)

Everything else belongs to the loop: building the environment from the config's `env_name` and
`env_kwargs` (rejecting an action space the algorithm cannot act in), the evaluation schedule and the
evaluation episodes (played with `act`), blocks, the finite check and throughput accounting. The shared
config pieces (`TrainConfig`, `StepsConfig`, `NetworkOptions`) declare and validate those fields once.

The loop runs `eval_every` updates, then one evaluation: that is a *block*. A whole run is `num_blocks`
blocks in a `lax.scan`; the runner executes the same blocks in chunks so the host can report progress and
checkpoint between them, with identical results, because the key of block `b` is `fold_in(loop_key, b)`
whichever chunk runs it. Evaluation sits at block boundaries (never behind a `lax.cond`, which `vmap`
would turn into computing both branches every iteration).

Every block ends with a finite-check: a seed whose state or metrics hold a NaN or inf is *frozen* (it
keeps its last finite state for the rest of the run, its later metrics are NaN) and `metrics["healthy"]`
records it, so one diverged seed never spoils the statistics of the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp

from purerl import rollout
from purerl.config import (
    Activation,
    AutoInt,
    Flag,
    PositiveInt,
    Sizes,
    Torso,
    check_fields,
    one_of,
    store_sorted_pairs,
    unknown_name_message,
)
from purerl.envs.core import Env
from purerl.types import PRNGKey

if TYPE_CHECKING:
    from purerl.agents.registry import AlgoSpec


# ----------------------------------------------------------------------------------------------------
# Shared config pieces


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What every algorithm's config has: the environment and the evaluation schedule.

    A subclass adds its own fields (with `Annotated` checks, see `purerl.config`), defines
    `num_updates` (and `steps_per_update` if it steps an environment) and may override `check` for
    checks across fields. Everything is validated once, on construction.

    Attributes:
        env_name: registered environment name.
        env_kwargs: static options of the environment's factory as `(name, value)` pairs (a dict is
            accepted and stored as sorted pairs), e.g. `{"length": 8}` for `CombinationLock-v0`.
        env_params: "default" (every seed plays the factory's params), "sampled" (every seed draws
            its own problem, e.g. a DeepSea action mapping or a bandit's arms, from its key with the
            env's registered sampler; its evaluation episodes play the same problem) or "given" (every
            seed's params are the first init argument, `init(key, hparams, env_params, *rest)`, so
            problems drawn outside the run can be shared with other stages of the same seed, e.g. a
            teacher's demonstrations).
        eval_every: updates between evaluations; 0 picks `num_updates // 20` (at least 1).
        eval_episodes: evaluation episodes per evaluation.
        eval_greedy: evaluate the policy's mode (greedy action) rather than samples.
        eval_max_steps: step cap of an evaluation episode; 0 uses the env's episode limit.
    """

    env_name: str = "CartPole-v1"
    env_kwargs: tuple[tuple[str, Any], ...] = ()
    env_params: one_of("default", "sampled", "given") = "default"
    eval_every: AutoInt = 0
    eval_episodes: PositiveInt = 16
    eval_greedy: Flag = True
    eval_max_steps: AutoInt = 0

    def __post_init__(self) -> None:
        name = type(self).__name__
        check_fields(self)
        self._check_env()
        self._check_run_length()
        self.check()
        if self.eval_every > self.num_updates:
            raise ValueError(
                f"{name}.eval_every={self.eval_every} exceeds the number of updates ({self.num_updates})"
            )

    def check(self) -> None:
        """Checks across fields of the algorithm (raise `ValueError` naming the field)."""

    def _check_env(self) -> None:
        """`env_name` names a registered environment that `env_kwargs` fit (games override it)."""
        _check_env(self)

    def _check_run_length(self) -> None:
        """The run holds at least one update (checked before `check`, which may rely on it)."""

    @property
    def steps_per_update(self) -> int:
        """Environment steps one update takes (0 for algorithms that learn from data only)."""
        return 0

    @property
    def num_updates(self) -> int:
        raise NotImplementedError

    @property
    def updates_run(self) -> int:
        """Updates a run executes: `num_updates` rounded down to whole evaluation blocks."""
        eval_every, num_blocks = eval_blocks(self.num_updates, self.eval_every)
        return eval_every * num_blocks

    @property
    def env_steps_run(self) -> int:
        """Environment steps a run takes (per seed)."""
        return self.updates_run * self.steps_per_update


@dataclasses.dataclass(frozen=True)
class StepsConfig(TrainConfig):
    """A config whose run length is a number of environment steps.

    Attributes:
        total_timesteps: env steps per seed; rounded down to whole updates and evaluation blocks.
    """

    total_timesteps: PositiveInt = 500_000

    def _check_run_length(self) -> None:
        if self.total_timesteps < self.steps_per_update:
            raise ValueError(
                f"{type(self).__name__}.total_timesteps={self.total_timesteps} is smaller than one update "
                f"({self.steps_per_update} env steps)"
            )

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update


@dataclasses.dataclass(frozen=True)
class RolloutConfig(StepsConfig):
    """A run whose update collects `num_steps` steps in each of `num_envs` environments.

    Attributes:
        num_envs: parallel environments per seed.
        num_steps: rollout length per environment per update.
    """

    num_envs: PositiveInt = 4
    num_steps: PositiveInt = 128

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps


@dataclasses.dataclass(frozen=True)
class MinibatchConfig(RolloutConfig):
    """A rollout learnt from in shuffled minibatch epochs (`learn.minibatch_epochs`).

    Attributes:
        num_epochs: passes over each rollout.
        num_minibatches: minibatches per epoch; must divide `num_envs * num_steps`.
    """

    num_epochs: PositiveInt = 4
    num_minibatches: PositiveInt = 4

    def check(self) -> None:
        if self.steps_per_update % self.num_minibatches:
            raise ValueError(
                f"{type(self).__name__}.num_minibatches={self.num_minibatches} must divide the batch "
                f"num_envs * num_steps = {self.steps_per_update}"
            )

    @property
    def grad_steps_per_update(self) -> int:
        return self.num_epochs * self.num_minibatches


@dataclasses.dataclass(frozen=True)
class NetworkOptions:
    """The torso of an algorithm's networks.

    Attributes:
        network: "mlp" or "minatar_cnn" torso.
        hidden_sizes: torso widths (the CNN uses the last one for its dense layer).
        activation: one of `networks.ACTIVATIONS`.
    """

    network: Torso = "mlp"
    hidden_sizes: Sizes = (64, 64)
    activation: Activation = "tanh"


def _check_env(config: TrainConfig) -> None:
    """`env_name` is registered and `env_kwargs` (stored back as sorted pairs) fit its factory."""
    from purerl.envs import make, registered
    from purerl.envs.registry import params_sampler

    name = type(config).__name__
    if not isinstance(config.env_name, str) or config.env_name not in registered():
        raise ValueError(
            f"{name}.env_name: " + unknown_name_message("environment", str(config.env_name), registered())
        )
    pairs = store_sorted_pairs(config, "env_kwargs")
    if config.env_params == "sampled" and params_sampler(config.env_name) is None:
        raise ValueError(
            f"{name}.env_params='sampled' needs an env with a params sampler; {config.env_name} has "
            "fixed params (use 'default')"
        )
    if pairs:
        try:
            make(config.env_name, **dict(pairs))
        except TypeError as err:
            raise ValueError(
                f"{name}.env_kwargs={dict(pairs)!r} do not fit {config.env_name}: {err}"
            ) from None


# ----------------------------------------------------------------------------------------------------
# The contract


class Algorithm(NamedTuple):
    """What an `agents/<algo>.py` file builds from `(config, env, env_params)`.

    Attributes:
        init: `(key, hparams, *init_args) -> state`; optional extra arguments carry per-seed data, e.g.
            PPO's bootstrap `init_params` or BC's demonstration dataset.
        update: `(key, state, hparams) -> (state, metrics)`, one iteration (collect + learn);
            `metrics` is a dict of scalars.
        act: `(key, state, obs [B, ...]) -> action [B, ...]`, the evaluation policy.
        steps_per_update: environment steps one `update` takes (throughput accounting).
    """

    init: Callable[..., Any]
    update: Callable[[PRNGKey, Any, Any], tuple[Any, dict[str, jax.Array]]]
    act: Callable[[PRNGKey, Any, jax.Array], jax.Array]
    steps_per_update: int


class Agent(NamedTuple):
    """An `Algorithm` as the loop runs it: with its evaluation and block schedule.

    Attributes:
        init: `Algorithm.init`.
        update: `Algorithm.update`.
        evaluate: `(key, state, hparams) -> {"eval_return", "eval_length"}` over fresh episodes.
        num_blocks: number of blocks in a full run.
        eval_every: updates per block.
        env_steps_per_update: environment steps one `update` consumes.
        act: `Algorithm.act`.
    """

    init: Callable[..., Any]
    update: Callable[[PRNGKey, Any, Any], tuple[Any, dict[str, jax.Array]]]
    evaluate: Callable[[PRNGKey, Any, Any], dict[str, jax.Array]]
    num_blocks: int
    eval_every: int
    env_steps_per_update: int
    act: Callable[[PRNGKey, Any, jax.Array], jax.Array]

    @property
    def num_updates(self) -> int:
        return self.num_blocks * self.eval_every

    @property
    def total_env_steps(self) -> int:
        return self.num_updates * self.env_steps_per_update


class TrainOutput(NamedTuple):
    """What `train` returns for one seed (leading `[seed]` / `[hparam]` axes when vmapped).

    Attributes:
        state: the final training state (params, optimiser state, env state, ...).
        metrics: dict; per-update metrics have shape `[num_blocks, eval_every]`, evaluation metrics
            `[num_blocks]`; `metrics["healthy"]` (`[num_blocks]` bool) is False from the block in which
            the seed stopped being finite (see `run_blocks`).
    """

    state: Any
    metrics: dict[str, jax.Array]


def eval_blocks(num_updates: int, eval_every: int) -> tuple[int, int]:
    """`(eval_every, num_blocks)`: `eval_every = 0` means about 20 evaluations per run.

    Updates beyond `num_blocks * eval_every` are dropped, so a run always ends on an evaluation.
    """
    eval_every = eval_every or max(1, num_updates // 20)
    return eval_every, num_updates // eval_every


def make_env(config: TrainConfig, algo: str, action_spaces: tuple[str, ...]) -> tuple[Env, Any]:
    """The config's environment for `algo`, rejecting an action space the algorithm cannot act in.

    Actions are clipped into the action space by `wrappers.clip_action`, so agents may sample unbounded
    Gaussian actions and still store the raw sample, and an out-of-range discrete action acts as the
    nearest valid one.
    """
    from purerl.envs import make, wrappers

    env, params = make(config.env_name, **dict(config.env_kwargs))
    kind = "discrete" if env.spec.discrete_actions else "continuous"
    if kind not in action_spaces:
        from purerl.agents.registry import algorithms

        fitting = [n for n, s in algorithms().items() if kind in s.action_spaces]
        raise ValueError(
            f"{algo} does not support {kind} action spaces, but {config.env_name} has "
            f"{env.spec.action_space}. "
            f"Algorithms for {kind} actions: {', '.join(fitting)}"
        )
    return wrappers.clip_action(env), params


def make_agent(spec: AlgoSpec, config: TrainConfig) -> Agent:
    """Build the environment, the algorithm on it, and its evaluation and block schedule."""
    env, env_params = make_env(config, spec.name, spec.action_spaces)
    eval_every, num_blocks = eval_blocks(config.num_updates, config.eval_every)
    max_steps = config.eval_max_steps or env.spec.max_episode_steps

    def on(env_params: Any) -> tuple[Algorithm, Callable]:
        algo: Algorithm = spec.build(config, env, env_params)

        def evaluate(key: PRNGKey, state: Any, hparams: Any) -> dict[str, jax.Array]:
            def policy(key, obs):
                return algo.act(key, state, obs), {}

            return rollout.evaluate(key, env, env_params, policy, config.eval_episodes, max_steps)

        return algo, evaluate

    if config.env_params == "default":
        algo, evaluate = on(env_params)
        return Agent(
            algo.init, algo.update, evaluate, num_blocks, eval_every, algo.steps_per_update, algo.act
        )
    return _per_seed_params_agent(config, on, num_blocks, eval_every, on(env_params)[0].steps_per_update)


class SampledParamsState(NamedTuple):
    """The state of a run whose seeds have their own env params (`env_params="sampled"` or `"given"`).

    Attributes:
        env_params: this seed's env params (drawn once, at init, from its key; or given to init).
        inner: the algorithm's state.
    """

    env_params: Any
    inner: Any


def _per_seed_params_agent(
    config: TrainConfig, on: Callable, num_blocks: int, eval_every: int, steps_per_update: int
) -> Agent:
    """An `Agent` whose state carries its own env params: the algorithm is rebuilt on them (at trace time,
    closures over traced params) inside every function, so vmapping over seeds vmaps over problems and
    checkpoints, resumption and saved runs keep each seed's problem with its state."""
    from purerl.envs.registry import params_sampler

    sampler = params_sampler(config.env_name)
    static = dict(config.env_kwargs)

    def init(key: PRNGKey, hparams: Any, *init_args: Any) -> SampledParamsState:
        if config.env_params == "given":
            if not init_args:
                raise ValueError(
                    "env_params='given' needs each seed's env params as the first init argument: "
                    "init(key, hparams, env_params, ...) or train(key, hparams, env_params, ...)"
                )
            env_params, *rest = init_args
            return SampledParamsState(env_params, on(env_params)[0].init(key, hparams, *rest))
        key_params, key_init = jax.random.split(key)
        env_params = sampler(key_params, **static)
        return SampledParamsState(env_params, on(env_params)[0].init(key_init, hparams, *init_args))

    def update(key: PRNGKey, state: SampledParamsState, hparams: Any):
        inner, metrics = on(state.env_params)[0].update(key, state.inner, hparams)
        return SampledParamsState(state.env_params, inner), metrics

    def evaluate(key: PRNGKey, state: SampledParamsState, hparams: Any) -> dict[str, jax.Array]:
        return on(state.env_params)[1](key, state.inner, hparams)

    def act(key: PRNGKey, state: SampledParamsState, obs: jax.Array) -> jax.Array:
        return on(state.env_params)[0].act(key, state.inner, obs)

    return Agent(init, update, evaluate, num_blocks, eval_every, steps_per_update, act)


# ----------------------------------------------------------------------------------------------------
# Blocks


def run_block(agent: Agent, key: PRNGKey, state: Any, hparams: Any) -> tuple[Any, dict[str, jax.Array]]:
    """`eval_every` updates followed by one evaluation."""
    keys = jax.random.split(key, agent.eval_every + 1)

    def update(state, k):
        return agent.update(k, state, hparams)

    state, train_metrics = jax.lax.scan(update, state, keys[:-1])
    eval_metrics = agent.evaluate(keys[-1], state, hparams)
    return state, {**train_metrics, **eval_metrics}


def all_finite(tree: Any) -> jax.Array:
    """Bool scalar: no floating-point leaf of `tree` holds a NaN or an inf (other leaves are ignored)."""
    checks = [
        jnp.all(jnp.isfinite(leaf))
        for leaf in jax.tree.leaves(tree)
        if jnp.issubdtype(getattr(leaf, "dtype", jnp.float32), jnp.inexact)
    ]
    return jnp.all(jnp.stack(checks)) if checks else jnp.asarray(True)


def _freeze(healthy: jax.Array, new: Any, old: Any) -> Any:
    # `lax.select` rather than `jnp.where`: it also accepts typed PRNG-key leaves.
    return jax.tree.map(lambda n, o: jax.lax.select(jnp.broadcast_to(healthy, jnp.shape(n)), n, o), new, old)


def run_blocks(
    agent: Agent,
    carry: tuple[Any, jax.Array],
    hparams: Any,
    loop_key: PRNGKey,
    block_indices: jax.Array,
) -> tuple[tuple[Any, jax.Array], dict[str, jax.Array]]:
    """Run the blocks whose indices are given (`[K]` int32), in order, guarding against divergence.

    Args:
        carry: `(state, healthy)`; `healthy` is a bool scalar (True at the start of a run).

    Returns:
        `((state, healthy), metrics)`; metrics gain a leading `[K]` and a `"healthy"` entry `[K]`.
        After a block whose new state or metrics are not all finite, `healthy` is False for good, the
        state stays at its last finite value (checked per block, not per update, so the check costs
        one pass over the state per `eval_every` updates) and floating-point metrics are NaN.
        Freezing keeps the previous state alive during the block, so a block holds two copies of the
        state (replay buffers included) at its end.
    """

    def body(carry, index):
        state, healthy = carry
        new_state, metrics = run_block(agent, jax.random.fold_in(loop_key, index), state, hparams)
        healthy = healthy & all_finite(new_state) & all_finite(metrics)
        metrics = {
            name: jnp.where(healthy, value, jnp.nan) if jnp.issubdtype(value.dtype, jnp.inexact) else value
            for name, value in metrics.items()
        }
        return (_freeze(healthy, new_state, state), healthy), {**metrics, "healthy": healthy}

    return jax.lax.scan(body, carry, block_indices)


def split_run_key(key: PRNGKey) -> tuple[PRNGKey, PRNGKey]:
    """`key -> (init_key, loop_key)`: the one convention shared by `train` and the chunked runner."""
    init_key, loop_key = jax.random.split(key)
    return init_key, loop_key


def make_train_fn(agent: Agent) -> Callable[..., TrainOutput]:
    """`train(key, hparams, *init_args) -> TrainOutput` running every block in one `lax.scan`.

    Pure and unjitted: wrap it as `jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, hparams)`.
    `init_args` are passed on to `agent.init` (vmap them with `in_axes=0` for per-seed data).
    """

    def train(key: PRNGKey, hparams: Any, *init_args: Any) -> TrainOutput:
        init_key, loop_key = split_run_key(key)
        state = agent.init(init_key, hparams, *init_args)
        indices = jnp.arange(agent.num_blocks, dtype=jnp.int32)
        (state, _), metrics = run_blocks(agent, (state, jnp.asarray(True)), hparams, loop_key, indices)
        return TrainOutput(state, metrics)

    return train
