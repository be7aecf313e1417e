"""Starting an actor-critic agent from a given policy (a bootstrap) instead of a fresh initialisation.

A bootstrap is the parameters of an `ActorCritic` policy: the output of behaviour cloning (`agents.bc`,
which trains only the actor half of the same network) or the `params` of a saved run. An agent started
from it copies the actor (`actor_torso`, `policy_head`) and keeps its own freshly initialised critic,
since a value function fitted to another policy (or none at all, for BC) would be wrong for this one.

The copied actor is also kept as a frozen reference policy, so the agent may penalise its drift from
the bootstrap (`KL(pi || pi_init)`, see `agents.ppo`).
"""

from __future__ import annotations

import jax

from purerl.networks import ActorCritic
from purerl.rollout import Policy
from purerl.types import Params, PRNGKey

# Submodules of `networks.ActorCritic` that make up the policy.
ACTOR_MODULES = ("actor_torso", "policy_head")


def actor_params(params: Params) -> Params:
    """The policy half of `ActorCritic` params: `{"params": {"actor_torso": ..., "policy_head": ...}}`.

    Applying `ActorCritic` with `method=ActorCritic.policy` needs nothing else.

    Raises:
        ValueError: if `params` lacks one of the actor's submodules.
    """
    inner = params["params"]
    missing = [name for name in ACTOR_MODULES if name not in inner]
    if missing:
        raise ValueError(
            f"bootstrap params lack the actor submodule(s) {missing}; expected ActorCritic params "
            f"with {list(ACTOR_MODULES)}, got top-level keys {sorted(inner)}"
        )
    return {"params": {name: inner[name] for name in ACTOR_MODULES}}


def load_actor(fresh: Params, bootstrap: Params) -> Params:
    """`fresh` ActorCritic params with the actor replaced by the bootstrap's (the critic is kept).

    Args:
        fresh: freshly initialised `ActorCritic` params (unbatched).
        bootstrap: params holding at least the actor submodules, with the same architecture
            (torso, widths, action space); may also hold a critic, which is ignored.

    Returns:
        Params with `fresh`'s structure.

    Raises:
        ValueError: if the bootstrap's actor does not have the shapes of `fresh`'s actor (e.g. other
            `hidden_sizes`, another environment).
    """
    given = actor_params(bootstrap)
    expected = actor_params(fresh)
    shapes = lambda tree: jax.tree.map(lambda x: tuple(x.shape), tree)
    if jax.tree.structure(given) != jax.tree.structure(expected) or shapes(given) != shapes(expected):
        raise ValueError(
            "bootstrap actor does not fit this agent's network: expected shapes "
            f"{shapes(expected)}, got {shapes(given)} (same network, hidden_sizes, activation and "
            "environment are needed)"
        )
    given = jax.tree.map(lambda g, e: g.astype(e.dtype), given, expected)
    return {"params": {**fresh["params"], **given["params"]}}


def policy_act(network: ActorCritic, params: Params, greedy: bool) -> Policy:
    """The policy of `ActorCritic` params (full or actor-only) as a `rollout.Policy`, `(key, obs) ->
    (action, {})`, for an observation of any batch shape.

    Args:
        network: the `ActorCritic` module the params belong to.
        params: its params (a critic, if present, is unused).
        greedy: act with the distribution's mode instead of a sample.
    """

    def act(key: PRNGKey, obs: jax.Array) -> tuple[jax.Array, dict]:
        pi = network.apply(params, obs, method=ActorCritic.policy)
        return (pi.mode() if greedy else pi.sample(key)), {}

    return act
