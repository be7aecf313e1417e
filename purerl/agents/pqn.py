"""PQN: parallelised Q-learning without replay buffer or target network (Gallici et al., 2024,
"Simplifying Deep Temporal Difference Learning").

One update = collect `num_steps` epsilon-greedy steps in each of `num_envs` environments, compute
Q(lambda) targets with the network as it was during collection (Peng & Williams, 1996; Watkins, 1989,
here in the "lambda-returns of max-Q bootstraps" form PQN uses):

    G_t = r_t + gamma_t * ((1 - lambda_t) * max_a Q(final_obs_t, a) + lambda_t * G_{t+1})

with `gamma_t = gamma * (1 - terminated_t)` and the trace cut at every episode end (`returns.
lambda_returns`), so a truncated step bootstraps from `max_a Q(final_obs_t, a)` and a terminated one
from 0. Then `num_epochs` passes of `num_minibatches` shuffled minibatches regress `Q(obs_t, a_t)` onto
the fixed targets. Stability comes from LayerNorm in the Q-network (the paper's analysis, sec. 3-4)
and from many decorrelated parallel environments instead of a replay buffer.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from purerl import returns, rollout
from purerl.agents.common import adam_with_clipping, make_env, make_q_evaluator
from purerl.agents.registry import AlgoSpec, register_algorithm
from purerl.config import POSITIVE, UNIT, Range, check_choice, check_positive_int, unknown_name_message
from purerl.envs import registered
from purerl.exploration import epsilon_greedy, linear_schedule
from purerl.loop import Agent
from purerl.losses import huber_loss, mse_loss
from purerl.networks import ACTIVATIONS, DiscreteQNetwork
from purerl.rollout import EnvBatch
from purerl.types import PRNGKey

LOSSES = {"mse": mse_loss, "huber": huber_loss}


@dataclasses.dataclass(frozen=True)
class PQNConfig:
    """Static PQN options (shapes, loop lengths, switches). Validated on construction.

    Attributes:
        env_name: registered environment name (discrete actions).
        total_timesteps: env steps per seed; rounded down to whole evaluation blocks.
        num_envs: parallel environments per seed.
        num_steps: rollout length per update.
        num_epochs: passes over each rollout.
        num_minibatches: minibatches per epoch; must divide `num_envs * num_steps`.
        loss: "mse" (the paper) or "huber".
        network: "mlp" or "minatar_cnn" torso.
        hidden_sizes: torso widths (the CNN uses the last one for its dense layer).
        activation: one of `networks.ACTIVATIONS`.
        layer_norm: LayerNorm after each hidden layer (PQN's stabiliser; keep it on).
        dueling: dueling value/advantage head (Wang et al., 2016).
        anneal_lr: decay the learning rate linearly to 0 over the run.
        eval_every: updates between evaluations; 0 picks `num_updates // 20` (at least 1).
        eval_episodes: evaluation episodes per evaluation.
        eval_max_steps: step cap of an evaluation episode; 0 uses the env's episode limit.
    """

    # Defaults: tuned on CartPole-v1 (see `purerl.defaults` for other environment families).
    env_name: str = "CartPole-v1"
    total_timesteps: int = 250_000
    num_envs: int = 32
    num_steps: int = 32
    num_epochs: int = 2
    num_minibatches: int = 4
    loss: str = "mse"
    network: str = "mlp"
    hidden_sizes: tuple[int, ...] = (128, 128)
    activation: str = "relu"
    layer_norm: bool = True
    dueling: bool = False
    anneal_lr: bool = True
    eval_every: int = 0
    eval_episodes: int = 16
    eval_max_steps: int = 0

    def __post_init__(self):
        if self.env_name not in registered():
            raise ValueError(
                "PQNConfig.env_name: " + unknown_name_message("environment", self.env_name, registered())
            )
        check_positive_int(
            self, "total_timesteps", "num_envs", "num_steps", "num_epochs", "num_minibatches", "eval_episodes"
        )
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        if not self.hidden_sizes or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden_sizes
        ):
            raise ValueError(f"PQNConfig.hidden_sizes must be positive integers, got {self.hidden_sizes!r}")
        check_choice(self, "loss", tuple(LOSSES))
        check_choice(self, "network", ("mlp", "minatar_cnn"))
        check_choice(self, "activation", tuple(ACTIVATIONS))
        for name in ("layer_norm", "dueling", "anneal_lr"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"PQNConfig.{name} must be a bool, got {getattr(self, name)!r}")
        batch = self.num_envs * self.num_steps
        if batch % self.num_minibatches:
            raise ValueError(
                f"PQNConfig.num_minibatches={self.num_minibatches} must divide the batch "
                f"num_envs * num_steps = {batch}"
            )
        if self.total_timesteps < batch:
            raise ValueError(
                f"PQNConfig.total_timesteps={self.total_timesteps} is smaller than one update "
                f"(num_envs * num_steps = {batch})"
            )
        for name in ("eval_every", "eval_max_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"PQNConfig.{name} must be a non-negative integer (0 = automatic), got {value!r}"
                )
        if self.eval_every > self.num_updates:
            raise ValueError(
                f"PQNConfig.eval_every={self.eval_every} exceeds the number of updates ({self.num_updates})"
            )

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update

    @property
    def minibatch_size(self) -> int:
        return self.steps_per_update // self.num_minibatches


class PQNHParams(NamedTuple):
    """Traced PQN hyperparameters: any field can be swept by stacking values and vmapping.

    Attributes:
        learning_rate: Adam step size (initial value when `anneal_lr`).
        gamma: discount.
        q_lambda: trace decay of the Q(lambda) targets (0: one-step Q-learning, 1: Monte Carlo).
        epsilon_start: exploration rate at the first step.
        epsilon_end: exploration rate after the decay.
        exploration_fraction: fraction of the run's env steps over which epsilon decays linearly.
        max_grad_norm: global-norm gradient clipping.
        eval_epsilon: exploration rate of evaluation episodes (0 = greedy).
    """

    learning_rate: float = 2e-3
    gamma: float = 0.99
    q_lambda: float = 0.97
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    exploration_fraction: float = 0.2
    max_grad_norm: float = 10.0
    eval_epsilon: float = 0.0


HPARAM_RANGES = {
    "learning_rate": POSITIVE,
    "gamma": UNIT,
    "q_lambda": UNIT,
    "epsilon_start": UNIT,
    "epsilon_end": UNIT,
    "exploration_fraction": UNIT,
    "max_grad_norm": Range(0.0, low_open=True),
    "eval_epsilon": UNIT,
}


class PQNState(NamedTuple):
    """Everything PQN carries between updates.

    Attributes:
        params: Q-network parameters.
        opt_state: optimiser state.
        envs: the training environments.
        env_steps: int32, env steps collected so far (all environments together).
    """

    params: Any
    opt_state: Any
    envs: EnvBatch
    env_steps: jax.Array


def q_lambda_targets(
    rewards: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    next_q: jax.Array,
    gamma: Any,
    q_lambda: Any,
) -> jax.Array:
    """PQN's Q(lambda) targets for a time-major rollout (Gallici et al., 2024, sec. 4):

        G_t = r_t + gamma_t * ((1 - l_t) * max_a next_q_t[a] + l_t * G_{t+1}),
        gamma_t = gamma * (1 - terminated_t),  l_t = q_lambda * (1 - (terminated_t | truncated_t))

    and `l_{T-1} = 0` (the rollout's last step bootstraps), via `returns.lambda_returns`.

    Args:
        rewards: `[T, B]` rewards.
        terminated: `[T, B]` bool.
        truncated: `[T, B]` bool.
        next_q: `[T, B, A]` Q-values of `final_obs_t` (the observation before auto-reset).
        gamma: discount (may be traced).
        q_lambda: trace decay (may be traced).

    Returns:
        `[T, B]` float32 targets.
    """
    discounts = gamma * (1.0 - terminated.astype(jnp.float32))
    ends = terminated | truncated
    return returns.batch_time_major(returns.lambda_returns)(
        rewards, discounts, q_lambda, next_q.max(axis=-1), ends
    )


def make_agent(config: PQNConfig) -> Agent:
    """Build PQN's pure functions for `config` (see `purerl.loop.Agent`)."""
    env, env_params = make_env(config.env_name, "pqn", SPEC.action_spaces)
    spec = env.spec
    train_env = rollout.training_env(env)
    network = DiscreteQNetwork(
        spec.action_space.n,
        config.network,
        config.hidden_sizes,
        config.activation,
        config.layer_norm,
        config.dueling,
        obs_ndim=len(spec.observation_space.shape),
    )
    regression_loss = LOSSES[config.loss]
    num_updates = config.num_updates
    eval_every = config.eval_every or max(1, num_updates // 20)
    num_blocks = num_updates // eval_every
    steps_per_update = config.steps_per_update
    total_env_steps = num_blocks * eval_every * steps_per_update
    grad_steps_per_update = config.num_epochs * config.num_minibatches
    eval_max_steps = config.eval_max_steps or spec.max_episode_steps

    def optimizer(hparams: PQNHParams) -> optax.GradientTransformation:
        if not config.anneal_lr:
            return adam_with_clipping(hparams.learning_rate, hparams.max_grad_norm)
        total = num_blocks * eval_every * grad_steps_per_update
        schedule = lambda count: hparams.learning_rate * (1.0 - count / total)
        return adam_with_clipping(schedule, hparams.max_grad_norm)

    def init(key: PRNGKey, hparams: PQNHParams) -> PQNState:
        key_net, key_env = jax.random.split(key)
        envs = rollout.reset_batch(train_env, env_params, key_env, config.num_envs)
        params = network.init(key_net, envs.obs)
        return PQNState(params, optimizer(hparams).init(params), envs, jnp.zeros((), jnp.int32))

    def loss_fn(params, batch):
        q_all = network.apply(params, batch["obs"])
        q_taken = jnp.take_along_axis(q_all, batch["action"][:, None], axis=-1)[:, 0]
        loss = regression_loss(q_taken, batch["target"])
        return loss, {"loss": loss, "q_mean": q_taken.mean()}

    def update(state: PQNState, hparams: PQNHParams, key: PRNGKey):
        key_collect, key_learn = jax.random.split(key)
        tx = optimizer(hparams)
        epsilon = linear_schedule(
            hparams.epsilon_start,
            hparams.epsilon_end,
            hparams.exploration_fraction * total_env_steps,
            state.env_steps,
        )

        def policy(obs, key):
            return epsilon_greedy(key, network.apply(state.params, obs), epsilon), {}

        envs, traj, info = rollout.collect(
            train_env, env_params, policy, state.envs, key_collect, config.num_steps
        )
        # Targets use the parameters the rollout was collected with, and stay fixed for every epoch.
        next_q = network.apply(state.params, traj.final_obs)
        targets = q_lambda_targets(
            traj.reward, traj.terminated, traj.truncated, next_q, hparams.gamma, hparams.q_lambda
        )
        flat = {"obs": traj.obs, "action": traj.action.astype(jnp.int32), "target": targets}
        flat = jax.tree.map(lambda x: x.reshape((steps_per_update, *x.shape[2:])), flat)

        def epoch(carry, key):
            order = jax.random.permutation(key, steps_per_update)
            minibatches = jax.tree.map(
                lambda x: x[order].reshape((config.num_minibatches, config.minibatch_size, *x.shape[1:])),
                flat,
            )

            def minibatch_step(carry, batch):
                params, opt_state = carry
                grads, metrics = jax.grad(loss_fn, has_aux=True)(params, batch)
                updates, opt_state = tx.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), metrics

            return jax.lax.scan(minibatch_step, carry, minibatches)

        (params, opt_state), metrics = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(key_learn, config.num_epochs)
        )
        metrics = {k: v.mean() for k, v in metrics.items()}
        metrics.update(rollout.episode_metrics(info))
        metrics["epsilon"] = epsilon
        metrics["target_mean"] = targets.mean()
        new_state = PQNState(params, opt_state, envs, state.env_steps + steps_per_update)
        return new_state, metrics

    evaluate = make_q_evaluator(env, env_params, network, config.eval_episodes, eval_max_steps)
    return Agent(init, update, evaluate, num_blocks, eval_every, steps_per_update)


SPEC = register_algorithm(
    AlgoSpec(
        name="pqn",
        summary="PQN: parallel Q(lambda) with LayerNorm, no replay buffer or target network",
        config_cls=PQNConfig,
        hparams_cls=PQNHParams,
        make_agent=make_agent,
        hparam_ranges=HPARAM_RANGES,
        action_spaces=("discrete",),
    )
)
validate = SPEC.validate_hparams
make_train = SPEC.make_train
