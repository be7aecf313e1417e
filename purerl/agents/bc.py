"""Behaviour cloning: supervised maximum likelihood of a teacher's actions; discrete and continuous.

Behaviour cloning (Pomerleau, 1989, "ALVINN"; the name from Bain & Sammut, 1995) fits a policy to
demonstrations `D = {(s_i, a_i)}` by maximising the log-likelihood of the demonstrated actions,

    L(theta) = -1/|B| sum_{i in B} log pi_theta(a_i | s_i),   B a minibatch drawn uniformly from D,

which for a categorical policy is the cross-entropy to the teacher's actions and for a Gaussian one a
log-std-weighted squared error. It never acts in the environment while learning (0 env steps per update):
the environment is only used to evaluate the cloned policy.

The network is the actor half of the `ActorCritic` that PPO, A2C and REINFORCE build from the same
`network`, `hidden_sizes`, `activation` and `init_log_std`, initialised alone, so the learnt `params`
(`{"params": {"actor_torso", "policy_head"}}`) load directly into those agents as a bootstrap
(`agents.bootstrap`, PPO's `init_params`).

The dataset is an argument, not a constant: `init(key, hparams, demos)` puts it in the agent state,
which the compiled program receives as an input. Closing over it instead would bake every transition
into the compiled program as a literal (slow to compile, recompiled for every new dataset, and one copy
per seed), and would not allow a different dataset per seed. With `vmap` (or the runner's `init_args`)
each seed gets its own dataset, e.g. from its own teacher rollouts, so the spread across seeds includes
the randomness of the demonstrations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from purerl.agents.actor_critic import (
    ObsNormalizer,
    eval_blocks,
    linear_decay,
    make_actor_critic,
    make_policy_evaluator,
)
from purerl.agents.bootstrap import policy_act
from purerl.agents.common import (
    adam_with_clipping,
    check_env_kwargs,
    check_env_name,
    check_eval_options,
    check_network_options,
    make_env,
)
from purerl.agents.registry import AlgoSpec, register_algorithm
from purerl.config import POSITIVE, Range, check_positive_int
from purerl.demonstrations import ActFn, Demonstrations
from purerl.loop import Agent
from purerl.networks import ActorCritic
from purerl.normalization import RunningMeanStd
from purerl.types import Params, PRNGKey


@dataclasses.dataclass(frozen=True)
class BCConfig:
    """Static behaviour-cloning options. Validated on construction.

    Attributes:
        env_name: registered environment the demonstrations come from (and the policy is evaluated in).
        env_kwargs: static options of the environment's factory as `(name, value)` pairs (or a dict).
        num_updates: gradient steps, one minibatch each.
        batch_size: transitions per minibatch, drawn uniformly with replacement from the dataset.
        network: "mlp" or "minatar_cnn" torso (as the agent the policy will bootstrap).
        hidden_sizes: torso widths.
        activation: one of `networks.ACTIVATIONS`.
        init_log_std: initial log-std of the Gaussian policy (continuous actions).
        anneal_lr: decay the learning rate linearly to 0 over the run.
        eval_every: updates between evaluations; 0 picks `num_updates // 20` (at least 1).
        eval_episodes: evaluation episodes per evaluation.
        eval_greedy: evaluate the policy's mode rather than samples.
        eval_max_steps: step cap of an evaluation episode; 0 uses the env's episode limit.
    """

    env_name: str = "CartPole-v1"
    env_kwargs: tuple[tuple[str, Any], ...] = ()
    num_updates: int = 2000
    batch_size: int = 256
    network: str = "mlp"
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    init_log_std: float = 0.0
    anneal_lr: bool = False
    eval_every: int = 0
    eval_episodes: int = 16
    eval_greedy: bool = True
    eval_max_steps: int = 0

    def __post_init__(self):
        check_env_name(self)
        check_env_kwargs(self)
        check_positive_int(self, "num_updates", "batch_size", "eval_episodes")
        check_network_options(self)
        check_eval_options(self, self.num_updates)


class BCHParams(NamedTuple):
    """Traced behaviour-cloning hyperparameters (sweepable)."""

    learning_rate: float = 1e-3
    max_grad_norm: float = 1.0


HPARAM_RANGES = {"learning_rate": POSITIVE, "max_grad_norm": Range(0.0, low_open=True)}


class BCData(NamedTuple):
    """The transitions cloned from, flat.

    Attributes:
        obs: `[N, *obs_shape]` observations.
        action: `[N, *action_shape]` the teacher's actions.
    """

    obs: jax.Array
    action: jax.Array


class BCState(NamedTuple):
    """Behaviour cloning's training state.

    Attributes:
        params: actor-only `ActorCritic` params (a bootstrap for PPO / A2C / REINFORCE).
        opt_state: optimiser state.
        data: the dataset, carried unchanged (an input of the compiled program, see module doc).
        update_count: int32 scalar.
    """

    params: Any
    opt_state: Any
    data: BCData
    update_count: jax.Array


def as_bc_data(demos: Demonstrations | BCData) -> BCData:
    """Flatten time-major `Demonstrations [T, B]` (or pass `BCData [N]` through) to `BCData [N]`."""
    if isinstance(demos, BCData):
        return demos
    num = demos.reward.shape[0] * demos.reward.shape[1]
    flat = lambda x: x.reshape((num, *x.shape[2:]))
    return BCData(flat(demos.obs), flat(demos.action))


def make_agent(config: BCConfig) -> Agent:
    """Build behaviour cloning's pure functions (see `purerl.loop.Agent`).

    `init(key, hparams, demos)` requires the dataset (`Demonstrations [T, B]` or `BCData [N]`).
    """
    env, env_params = make_env(config.env_name, "bc", SPEC.action_spaces, config.env_kwargs)
    spec = env.spec
    network = make_actor_critic(
        spec, config.network, config.hidden_sizes, config.activation, config.init_log_std
    )
    # No observation normalisation: the bootstrapped agent must see the inputs BC was fitted to.
    norm = ObsNormalizer(False, spec.observation_space.shape)
    eval_every, num_blocks = eval_blocks(config.num_updates, config.eval_every)
    evaluator = make_policy_evaluator(
        env,
        env_params,
        network,
        norm,
        config.eval_episodes,
        config.eval_max_steps or spec.max_episode_steps,
        config.eval_greedy,
    )

    def optimizer(hparams: BCHParams) -> optax.GradientTransformation:
        if not config.anneal_lr:
            return adam_with_clipping(hparams.learning_rate, hparams.max_grad_norm)
        return adam_with_clipping(
            linear_decay(hparams.learning_rate, num_blocks * eval_every), hparams.max_grad_norm
        )

    def init(key: PRNGKey, hparams: BCHParams, demos: Demonstrations | BCData | None = None) -> BCState:
        if demos is None:
            raise ValueError(
                "behaviour cloning needs a demonstration dataset: init(key, hparams, demos), "
                "train(key, hparams, demos), or runner.run(..., init_args=(demos,)) with a [seed] axis"
            )
        data = as_bc_data(demos)
        obs_shape = spec.observation_space.shape
        if data.obs.shape[1:] != obs_shape:
            raise ValueError(
                f"demonstration obs have shape {data.obs.shape[1:]}, {spec.name} has {obs_shape}"
            )
        # Only the policy is built (`method=policy`): the critic would never be trained here.
        params = network.init(key, data.obs[0], method=ActorCritic.policy)
        return BCState(params, optimizer(hparams).init(params), data, jnp.zeros((), jnp.int32))

    def loss_fn(params, obs, action):
        pi = network.apply(params, obs, method=ActorCritic.policy)
        nll = -pi.log_prob(action).mean()
        if spec.discrete_actions:
            fit = (pi.mode() == action).astype(jnp.float32).mean()
            return nll, {"loss": nll, "accuracy": fit}
        fit = jnp.square(pi.mode() - action).sum(axis=-1).mean()
        return nll, {"loss": nll, "action_sq_error": fit}

    def update(state: BCState, hparams: BCHParams, key: PRNGKey):
        num = state.data.obs.shape[0]
        index = jax.random.randint(key, (config.batch_size,), 0, num)
        batch = jax.tree.map(lambda x: x[index], state.data)
        grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params, batch.obs, batch.action)
        updates, opt_state = optimizer(hparams).update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return BCState(params, opt_state, state.data, state.update_count + 1), metrics

    def evaluate(state: BCState, hparams: BCHParams, key: PRNGKey):
        return evaluator(state.params, RunningMeanStd.create(spec.observation_space.shape), key)

    return Agent(init, update, evaluate, num_blocks, eval_every, 0)


def make_act(config: BCConfig) -> Callable[[Params, bool], ActFn]:
    """`act_for(params, greedy) -> (obs, key) -> action` for this config's network: BC's params, or the
    params of an agent with the same architecture (e.g. PPO's, whose critic is then unused)."""
    env, _ = make_env(config.env_name, "bc", SPEC.action_spaces, config.env_kwargs)
    network = make_actor_critic(
        env.spec, config.network, config.hidden_sizes, config.activation, config.init_log_std
    )
    return lambda params, greedy: policy_act(network, params, greedy)


SPEC = register_algorithm(
    AlgoSpec(
        name="bc",
        summary="Behaviour cloning (max log-likelihood of demonstrated actions); needs a dataset",
        config_cls=BCConfig,
        hparams_cls=BCHParams,
        make_agent=make_agent,
        hparam_ranges=HPARAM_RANGES,
        action_spaces=("discrete", "continuous"),
    )
)
validate = SPEC.validate_hparams
make_train = SPEC.make_train
