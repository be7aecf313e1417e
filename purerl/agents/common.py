"""Pieces every agent's config and setup share: the environment for a config, action-space checks,
config validation helpers, optimisers and the value-based agents' evaluation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import optax

from purerl import rollout
from purerl.config import check_choice, unknown_name_message
from purerl.envs import make, registered, wrappers
from purerl.envs.core import Env
from purerl.exploration import epsilon_greedy
from purerl.networks import ACTIVATIONS
from purerl.types import PRNGKey


def make_env(
    env_name: str, algo: str, action_spaces: tuple[str, ...], env_kwargs: tuple[tuple[str, Any], ...] = ()
) -> tuple[Env, Any]:
    """Build `env_name` for `algo`, rejecting an action space the algorithm cannot act in.

    Actions are clipped into the action space by `wrappers.clip_action`, so agents may sample unbounded
    Gaussian actions and still store the raw sample, and an out-of-range discrete action acts as the
    nearest valid one. `env_kwargs` are the factory's static options as
    `(name, value)` pairs (a config's hashable `env_kwargs`), e.g. `(("length", 8),)` for a lock.
    """
    env, params = make(env_name, **dict(env_kwargs))
    kind = "discrete" if env.spec.discrete_actions else "continuous"
    if kind not in action_spaces:
        from purerl.agents.registry import algorithms

        fitting = [n for n, s in algorithms().items() if kind in s.action_spaces]
        raise ValueError(
            f"{algo} does not support {kind} action spaces, but {env_name} has {env.spec.action_space}. "
            f"Algorithms for {kind} actions: {', '.join(fitting)}"
        )
    return wrappers.clip_action(env), params


def adam_with_clipping(
    learning_rate: Any, max_grad_norm: Any, eps: float = 1e-5
) -> optax.GradientTransformation:
    """Global-norm clipping followed by Adam; both arguments may be traced (swept) values or schedules."""
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(learning_rate, eps=eps))


def rmsprop_with_clipping(
    learning_rate: Any, max_grad_norm: Any, decay: Any = 0.99, eps: float = 1e-5
) -> optax.GradientTransformation:
    """Global-norm clipping followed by RMSProp (Tieleman & Hinton, 2012) as A2C implementations use it.

    `v <- decay * v + (1 - decay) * g^2`, step `-lr * g / (sqrt(v) + eps)`: `eps` outside the square
    root and `v` starting at 0, the PyTorch convention (optax's default puts `eps` inside the root).
    """
    return optax.chain(
        optax.clip_by_global_norm(max_grad_norm),
        optax.rmsprop(learning_rate, decay=decay, eps=eps, eps_in_sqrt=False),
    )


def check_env_name(config: Any) -> None:
    """`config.env_name` must be registered (`ValueError` listing the closest names otherwise)."""
    if not isinstance(config.env_name, str):
        raise ValueError(f"{type(config).__name__}.env_name must be a string, got {config.env_name!r}")
    if config.env_name not in registered():
        raise ValueError(
            f"{type(config).__name__}.env_name: "
            + unknown_name_message("environment", config.env_name, registered())
        )


def check_env_kwargs(config: Any) -> None:
    """Store `config.env_kwargs` (a dict or `(name, value)` pairs) back as sorted pairs, so the config
    stays hashable, and check that the environment builds with them (`ValueError` otherwise)."""
    name = type(config).__name__
    raw = config.env_kwargs
    try:
        pairs = tuple(sorted(dict(raw).items()))
    except (TypeError, ValueError):
        raise ValueError(f"{name}.env_kwargs must be a dict or (name, value) pairs, got {raw!r}") from None
    object.__setattr__(config, "env_kwargs", pairs)
    if pairs:
        try:
            make(config.env_name, **dict(pairs))
        except TypeError as err:
            message = f"{name}.env_kwargs={dict(pairs)!r} do not fit {config.env_name}: {err}"
            raise ValueError(message) from None


def check_network_options(config: Any) -> None:
    """Validate `hidden_sizes` (stored back as a tuple, so the config stays hashable), `network` and
    `activation` of a config with those fields."""
    name = type(config).__name__
    if isinstance(config.hidden_sizes, str) or not hasattr(config.hidden_sizes, "__iter__"):
        # tuple("64") would be ("6", "4"): name the actual mistake instead.
        raise ValueError(
            f"{name}.hidden_sizes must be a sequence of positive integers, got {config.hidden_sizes!r}"
        )
    object.__setattr__(config, "hidden_sizes", tuple(config.hidden_sizes))
    sizes = config.hidden_sizes
    if not sizes or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in sizes):
        raise ValueError(f"{name}.hidden_sizes must be positive integers, got {sizes!r}")
    check_choice(config, "network", ("mlp", "minatar_cnn"))
    check_choice(config, "activation", tuple(ACTIVATIONS))


def check_eval_options(config: Any, num_updates: int) -> None:
    """`eval_every` and `eval_max_steps` are non-negative ints (0 = automatic) and `eval_every` fits
    in the run's `num_updates`."""
    name = type(config).__name__
    for field in ("eval_every", "eval_max_steps"):
        value = getattr(config, field)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}.{field} must be a non-negative integer (0 = automatic), got {value!r}")
    if config.eval_every > num_updates:
        raise ValueError(
            f"{name}.eval_every={config.eval_every} exceeds the number of updates ({num_updates})"
        )


def make_q_evaluator(
    env: Env, env_params: Any, q_network: nn.Module, num_episodes: int, max_steps: int
) -> Callable[[Any, Any, PRNGKey], dict[str, jax.Array]]:
    """`evaluate(state, hparams, key)` for value-based agents: `num_episodes` fresh episodes of at most
    `max_steps` steps, acting epsilon-greedily (`hparams.eval_epsilon`) in `state.params`' Q-values."""

    def evaluate(state: Any, hparams: Any, key: PRNGKey) -> dict[str, jax.Array]:
        def act(obs, key):
            return epsilon_greedy(key, q_network.apply(state.params, obs), hparams.eval_epsilon)

        return rollout.evaluate(env, env_params, act, key, num_episodes, max_steps)

    return evaluate
