"""What the multi-armed bandit agents share: per-arm statistics, one pull per environment per update,
the evaluation policy and registration. An algorithm file adds only its selection rule.

A bandit agent keeps, for each of its `num_envs` environment instances, the statistics of every arm
(`ArmStats`, leaves `[num_envs, K]`): pull counts, reward sums and sums of squared rewards. One update:

1. every instance picks one arm with the algorithm's rule (`BanditRule.select`) from its own statistics
   and the algorithm's own per-instance state (e.g. the gradient bandit's preferences);
2. the instances are stepped once (`rollout.collect` with `num_steps=1`);
3. the pulled arm's statistics take the reward and the rule's own state learns (`BanditRule.learn`,
   shown the statistics from before the pull).

Statistics persist across episodes by default: the env's time limit is then only a reporting
convenience (episode returns), and a run is one long bandit game per instance. With `per_episode=True`
an instance's statistics and own state restart when its episode ends, for meta-bandits that draw a new
problem at every reset (gymnax's `BernoulliBandit-misc`, `GaussianBandit-misc`, or the native bandits with
`problem="random"`). Bandit agents ignore observations (a context-free bandit has none worth using; the
gymnax meta-bandits' observations only repeat the last action, reward and time).

Metrics per update: the mean reward of the pulls, the episode statistics (`rollout.episode_metrics`) and,
when the env reports it (the native bandits do), `regret`: the mean over instances of the pull's expected
regret `info["regret"]`. Its running sum over updates is the cumulative pseudo-regret of one instance,
averaged over instances.

`act(key, state, obs [B])` plays the arm with the highest empirical mean of the statistics *pooled over
the instances*: evaluation episodes are fresh instances, so no single training instance's statistics
belong to them, and on a fixed problem the pooled statistics are the best estimate of it. (On random
problems, `problem="random"` or a meta-bandit, an evaluation instance is a new problem and the greedy
arm says nothing about it: read `regret` and the training episode returns there instead.) It is greedy
whatever `eval_greedy` says: `act` has no hyperparameters to run a rule's exploration with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purerl import rollout
from purerl.agents.registry import AlgoSpec, register_algorithm
from purerl.config import Flag, PositiveInt
from purerl.envs.core import Env
from purerl.loop import Algorithm, StepsConfig
from purerl.types import Array, PRNGKey

# The probe of the algorithm contract tests: one state, two arms paying -1 and +1. Bandit agents ignore
# observations, so the default discrete probe (reward depends on the observation) is not learnable.
PROBE = "Probe-ActionReward-v0"


@dataclasses.dataclass(frozen=True)
class BanditConfig(StepsConfig):
    """Static options every bandit agent has (the environment and evaluation: `StepsConfig`).

    Attributes:
        num_envs: environment instances per seed, each its own bandit game; one update pulls one arm
            in each, so `total_timesteps / num_envs` is the number of pulls per instance.
        per_episode: restart an instance's statistics (and the rule's own state) when its episode ends,
            for meta-bandits that draw a new problem at every reset.
    """

    env_name: str = "Bandit-Bernoulli-v0"
    total_timesteps: PositiveInt = 16_000
    num_envs: PositiveInt = 16
    per_episode: Flag = False

    @property
    def steps_per_update(self) -> int:
        return self.num_envs


class ArmStats(NamedTuple):
    """Per-arm reward statistics; leaves `[..., K]` (`[K]` for one instance, `[num_envs, K]` batched).

    Attributes:
        counts: int32, pulls of each arm.
        sums: float32, sum of each arm's rewards.
        sums_sq: float32, sum of each arm's squared rewards.
    """

    counts: Array
    sums: Array
    sums_sq: Array

    @classmethod
    def zeros(cls, shape: tuple[int, ...]) -> ArmStats:
        """No pulls yet; `shape` is `(..., K)`."""
        return cls(jnp.zeros(shape, jnp.int32), jnp.zeros(shape, jnp.float32), jnp.zeros(shape, jnp.float32))

    def pulls(self) -> Array:
        """`[..., 1]` int32, pulls of all arms so far (kept as an axis, to broadcast against `[..., K]`)."""
        return self.counts.sum(-1, keepdims=True)

    def means(self) -> Array:
        """`[..., K]` float32 empirical means `sums / counts`; 0 for an arm never pulled (the initial
        estimate `Q_1 = 0` of Sutton & Barto, 2018, sec. 2.2)."""
        return self.sums / jnp.maximum(self.counts, 1).astype(jnp.float32)

    def variances(self) -> Array:
        """`[..., K]` float32 empirical (biased, divide-by-n) variances `sums_sq / n - mean^2`; 0 for an
        arm never pulled, clipped at 0 against float32 round-off."""
        n = jnp.maximum(self.counts, 1).astype(jnp.float32)
        return jnp.maximum(self.sums_sq / n - self.means() ** 2, 0.0)

    def add(self, arm: Array, reward: Array) -> ArmStats:
        """The statistics after arm `arm` (`[...]` int) paid `reward` (`[...]` float)."""
        pulled = jax.nn.one_hot(arm, self.counts.shape[-1], dtype=jnp.float32)
        reward = jnp.asarray(reward, jnp.float32)[..., None]
        return ArmStats(
            self.counts + pulled.astype(jnp.int32),
            self.sums + pulled * reward,
            self.sums_sq + pulled * reward**2,
        )

    def pooled(self) -> ArmStats:
        """The statistics of all instances together (summed over the leading axis): `[K]` from `[E, K]`."""
        return jax.tree.map(lambda x: x.sum(0), self)


def sample_index(key: PRNGKey, weights: Array) -> Array:
    """An index of the last axis drawn with probability proportional to `weights` (`[..., K]`, >= 0,
    not all 0), by inverting the CDF with one uniform per row: `[...]` int32.

    One uniform per row rather than `K` Gumbel draws (`jax.random.categorical`): random bits are most of
    a bandit agent's cost on a CPU.
    """
    cdf = jnp.cumsum(weights, axis=-1)
    u = jax.random.uniform(key, (*weights.shape[:-1], 1), cdf.dtype) * cdf[..., -1:]
    # The first index whose CDF exceeds u; zero-weight entries never do (their CDF equals the previous).
    index = jnp.sum(cdf <= u, axis=-1)
    return jnp.minimum(index, weights.shape[-1] - 1).astype(jnp.int32)


def argmax_random_ties(key: PRNGKey, values: Array) -> Array:
    """`argmax` over the last axis of `values` (`[..., K]`) with ties broken uniformly at random: `[...]`
    int32.

    First-index tie-breaking would make a sample-average agent keep pulling arm 0 while every estimate
    is still 0 (Sutton & Barto, 2018, sec. 2.3, break ties randomly); with Bernoulli rewards two arms of
    equal counts and sums tie exactly, so ties recur throughout a run.
    """
    best = values >= values.max(axis=-1, keepdims=True)
    return sample_index(key, best.astype(jnp.float32))


def _no_own_state(num_arms: int) -> tuple:
    del num_arms
    return ()


def _keep_own_state(own: Any, stats: ArmStats, arm: Array, reward: Array, hparams: Any) -> Any:
    del stats, arm, reward, hparams
    return own


class BanditRule(NamedTuple):
    """An algorithm's own part of a bandit agent, written for a batch of instances (leading axes `[...]`,
    `[num_envs]` in training) with one key for the whole batch: per-instance keys would cost more random
    bits than the rules themselves.

    Attributes:
        select: `(key, stats, own, hparams) -> arms [...]` (int32): the arm each instance pulls next,
            from its statistics (leaves `[..., K]`) and the rule's own state.
        init: `(num_arms) -> own`, the rule's own state of *one* instance (e.g. preferences `[K]`), which
            the layer broadcasts to `[num_envs, ...]`; `()` for a rule that needs only the statistics.
        learn: `(own, stats, arms, rewards, hparams) -> own` after a pull (`arms`, `rewards`: `[...]`);
            `stats` are from before it.
    """

    select: Callable[[PRNGKey, ArmStats, Any, Any], Array]
    init: Callable[[int], Any] = _no_own_state
    learn: Callable[[Any, ArmStats, Array, Array, Any], Any] = _keep_own_state


class BanditState(NamedTuple):
    """Training state of a bandit agent.

    Attributes:
        stats: `ArmStats` with leaves `[num_envs, K]`.
        own: the rule's own state, leaves `[num_envs, ...]` (`()` if none).
        envs: the environment instances.
    """

    stats: ArmStats
    own: Any
    envs: rollout.EnvBatch


def make_bandit_algorithm(config: BanditConfig, env: Env, env_params: Any, rule: BanditRule) -> Algorithm:
    """A bandit agent's pure functions for `config` on `env` with the selection rule `rule` (see the
    module docstring and `purerl.loop.Algorithm`)."""
    train_env = rollout.training_env(env)
    num_envs, num_arms = config.num_envs, env.spec.action_space.n

    def fresh_own() -> Any:
        return jax.tree.map(lambda x: jnp.broadcast_to(x, (num_envs, *jnp.shape(x))), rule.init(num_arms))

    def init(key: PRNGKey, hparams: Any) -> BanditState:
        del hparams
        envs = rollout.reset_batch(key, train_env, env_params, num_envs)
        return BanditState(ArmStats.zeros((num_envs, num_arms)), fresh_own(), envs)

    def update(key: PRNGKey, state: BanditState, hparams: Any) -> tuple[BanditState, dict[str, Array]]:
        # The env key is split off first and the same way for every rule, so agents run with one seed
        # meet the same problems and reward noise (common random numbers for paired comparisons).
        key_collect, key_select = jax.random.split(key)
        arms = rule.select(key_select, state.stats, state.own, hparams)

        def policy(key: PRNGKey, obs: Array) -> tuple[Array, dict]:
            del key, obs
            return arms, {}

        envs, traj, info = rollout.collect(key_collect, train_env, env_params, policy, state.envs, 1)
        reward = traj.reward[0]
        own = rule.learn(state.own, state.stats, arms, reward, hparams)
        stats = state.stats.add(arms, reward)
        if config.per_episode:
            done = traj.terminated[0] | traj.truncated[0]
            restart = lambda new, old: jnp.where(done.reshape((num_envs,) + (1,) * (old.ndim - 1)), new, old)
            stats = jax.tree.map(restart, ArmStats.zeros((num_envs, num_arms)), stats)
            own = jax.tree.map(restart, fresh_own(), own)
        metrics = {**rollout.episode_metrics(info), "reward": reward.mean()}
        if "regret" in info:
            metrics["regret"] = info["regret"].mean()
        return BanditState(stats, own, envs), metrics

    def act(key: PRNGKey, state: BanditState, obs: Array) -> Array:
        arm = argmax_random_ties(key, state.stats.pooled().means())
        return jnp.full(obs.shape[:1], arm, jnp.int32)

    return Algorithm(init, update, act, config.steps_per_update)


def register_bandit(
    name: str,
    summary: str,
    config_cls: type[BanditConfig],
    hparams_cls: type,
    make_rule: Callable[[Any], BanditRule],
) -> AlgoSpec:
    """Register a bandit agent whose rule is `make_rule(config)`; discrete actions, probed on `PROBE`."""

    def build(config: BanditConfig, env: Env, env_params: Any) -> Algorithm:
        return make_bandit_algorithm(config, env, env_params, make_rule(config))

    return register_algorithm(
        AlgoSpec(name, summary, config_cls, hparams_cls, build, ("discrete",), probe=PROBE)
    )
