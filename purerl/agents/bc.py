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

from purerl import learn
from purerl.agents.actor_critic import ObsNormalizer, make_actor_critic, make_policy_act
from purerl.agents.bootstrap import policy_act
from purerl.agents.registry import AlgoSpec, get_algorithm, register_algorithm
from purerl.config import Flag, Positive, PositiveInt, Real
from purerl.demonstrations import Demonstrations
from purerl.envs.core import Env
from purerl.loop import Algorithm, NetworkOptions, TrainConfig, make_env
from purerl.networks import ActorCritic
from purerl.rollout import Policy
from purerl.types import Params, PRNGKey


@dataclasses.dataclass(frozen=True)
class BCConfig(TrainConfig, NetworkOptions):
    """Static behaviour-cloning options (environment, evaluation and network fields: `TrainConfig`,
    `NetworkOptions`; the network should match the agent the policy will bootstrap).

    Attributes:
        num_updates: gradient steps, one minibatch each.
        batch_size: transitions per minibatch, drawn uniformly with replacement from the dataset.
        init_log_std: initial log-std of the Gaussian policy (continuous actions).
        anneal_lr: decay the learning rate linearly to 0 over the run.
    """

    num_updates: PositiveInt = 2000
    batch_size: PositiveInt = 256
    init_log_std: Real = 0.0
    anneal_lr: Flag = False


class BCHParams(NamedTuple):
    """Traced behaviour-cloning hyperparameters (sweepable)."""

    learning_rate: Positive = 1e-3
    max_grad_norm: Positive = 1.0


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


def build(config: BCConfig, env: Env, env_params: Any) -> Algorithm:
    """Behaviour cloning's pure functions (see `purerl.loop.Algorithm`).

    `init(key, hparams, demos)` requires the dataset (`Demonstrations [T, B]` or `BCData [N]`).
    """
    spec = env.spec
    network = make_actor_critic(spec, config)
    # No observation normalisation: the bootstrapped agent must see the inputs BC was fitted to.
    norm = ObsNormalizer(False, spec.observation_space.shape)

    def optimizer(hparams: BCHParams) -> optax.GradientTransformation:
        decay_steps = config.updates_run if config.anneal_lr else 0
        return learn.make_optimizer(hparams.learning_rate, hparams.max_grad_norm, decay_steps=decay_steps)

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

    def loss_fn(params, batch):
        pi = network.apply(params, batch.obs, method=ActorCritic.policy)
        nll = -pi.log_prob(batch.action).mean()
        if spec.discrete_actions:
            fit = (pi.mode() == batch.action).astype(jnp.float32).mean()
            return nll, {"loss": nll, "accuracy": fit}
        fit = jnp.square(pi.mode() - batch.action).sum(axis=-1).mean()
        return nll, {"loss": nll, "action_sq_error": fit}

    def update(key: PRNGKey, state: BCState, hparams: BCHParams):
        num = state.data.obs.shape[0]
        index = jax.random.randint(key, (config.batch_size,), 0, num)
        batch = jax.tree.map(lambda x: x[index], state.data)
        params, opt_state, metrics, _ = learn.gradient_step(
            optimizer(hparams), loss_fn, state.params, state.opt_state, batch
        )
        return BCState(params, opt_state, state.data, state.update_count + 1), metrics

    return Algorithm(init, update, make_policy_act(network, norm, config.eval_greedy), 0)


def make_act(config: BCConfig) -> Callable[[Params, bool], Policy]:
    """`act_for(params, greedy) -> (key, obs) -> (action, {})` for this config's network: BC's params, or
    the params of an agent with the same architecture (e.g. PPO's, whose critic is then unused)."""
    env, _ = make_env(config, "bc", get_algorithm("bc").action_spaces)
    network = make_actor_critic(env.spec, config)
    return lambda params, greedy: policy_act(network, params, greedy)


SUMMARY = "Behaviour cloning (max log-likelihood of demonstrated actions); needs a dataset"
SPEC = register_algorithm(AlgoSpec("bc", SUMMARY, BCConfig, BCHParams, build, ("discrete", "continuous")))
make_train, preset = SPEC.make_train, SPEC.preset
