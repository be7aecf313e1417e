"""Pieces every agent's config and setup share: the environment for a config, action-space checks."""

from __future__ import annotations

from typing import Any

import optax

from purerl.envs import make, wrappers
from purerl.envs.core import Env


def make_env(env_name: str, algo: str, action_spaces: tuple[str, ...]) -> tuple[Env, Any]:
    """Build `env_name` for `algo`, rejecting an action space the algorithm cannot act in.

    Continuous actions are clipped into the action box by a wrapper, so agents may sample unbounded
    Gaussian actions and still store the raw sample.
    """
    env, params = make(env_name)
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
