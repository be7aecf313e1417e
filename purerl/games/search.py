"""Tree search over a `Game` with mctx: Gumbel MuZero's policy with the true simulator as the model.

An *evaluator* gives the search its prior and leaf values: `(key, states [B]) -> (logits [B, A], value
[B])`, the value in `[-1, 1]` from the view of each state's player to move. Two are built here: a
network's (AlphaZero) and random playouts under a uniform prior (search without learning).

Inside the tree a move's reward is what the mover got for it, and the discount is -1 when the turn
passes to the opponent (+1 if the same player moves again), so every node's value is from the view of
its own player to move; a finished game has discount 0. Illegal moves get the lowest logit at every node,
and at the root they are also passed to mctx as `invalid_actions`, so the search never selects one.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import mctx

from purerl.games.core import Game, GameState, batch_step, is_over, mover_reward
from purerl.types import PRNGKey

Evaluator = Callable[[PRNGKey, GameState], tuple[jax.Array, jax.Array]]


def mask_illegal(logits: jax.Array, legal: jax.Array) -> jax.Array:
    """`logits [..., A]` with illegal actions (`legal` False) set to the lowest finite value."""
    return jnp.where(legal, logits, jnp.finfo(logits.dtype).min)


def recurrent_fn(game: Game, evaluator: Evaluator) -> Callable:
    """mctx's `recurrent_fn(params, key, action [B], states [B]) -> (RecurrentFnOutput, states)`: one
    simulated move in every game of the batch (`params` is unused: the evaluator closes over its own)."""

    def step(params, key: PRNGKey, action: jax.Array, states: GameState):
        del params
        step_key, eval_key = jax.random.split(key)
        next_states = batch_step(game, step_key, states, action)
        logits, value = evaluator(eval_key, next_states)
        over = is_over(next_states)
        same_player = next_states.current_player == states.current_player
        output = mctx.RecurrentFnOutput(
            reward=mover_reward(next_states, states.current_player),
            discount=jnp.where(over, 0.0, jnp.where(same_player, 1.0, -1.0)),
            prior_logits=mask_illegal(logits, next_states.legal_action_mask),
            value=jnp.where(over, 0.0, value),
        )
        return output, next_states

    return step


def search(
    key: PRNGKey,
    game: Game,
    evaluator: Evaluator,
    states: GameState,
    num_simulations: int,
    *,
    gumbel_scale: float | jax.Array = 1.0,
    max_considered_actions: int = 16,
) -> tuple[jax.Array, jax.Array]:
    """Gumbel MuZero search from each of `states [B]` (Danihelka et al., 2022).

    Args:
        key: PRNG key.
        game: the game, whose `step` is the model.
        evaluator: prior and leaf values.
        states: root positions, leaves `[B, ...]`.
        num_simulations: simulations per root (static, >= 1).
        gumbel_scale: 1 samples root actions (self-play), 0 makes the choice deterministic (evaluation).
        max_considered_actions: root actions Sequential Halving starts from.

    Returns:
        `(action [B] int32, policy [B, A])`: the chosen moves and the improved policy (the training
        target), both zero on illegal moves.
    """
    root_key, search_key = jax.random.split(key)
    logits, value = evaluator(root_key, states)
    legal = states.legal_action_mask
    root = mctx.RootFnOutput(prior_logits=mask_illegal(logits, legal), value=value, embedding=states)
    out = mctx.gumbel_muzero_policy(
        params=(),
        rng_key=search_key,
        root=root,
        recurrent_fn=recurrent_fn(game, evaluator),
        num_simulations=num_simulations,
        invalid_actions=~legal,
        max_num_considered_actions=max_considered_actions,
        gumbel_scale=gumbel_scale,
    )
    return out.action.astype(jnp.int32), out.action_weights


def network_evaluator(apply: Callable[[jax.Array], tuple[jax.Array, jax.Array]]) -> Evaluator:
    """The evaluator of a policy/value network `apply(obs [B, ...]) -> (logits [B, A], value [B])`."""

    def evaluate(key: PRNGKey, states: GameState) -> tuple[jax.Array, jax.Array]:
        del key
        return apply(states.observation)

    return evaluate


def rollout_evaluator(game: Game) -> Evaluator:
    """Uniform prior; the value is the result of one uniformly random playout to the end of the game
    (at most `max_length` moves) for the player to move: what search without learning relies on."""

    def evaluate(key: PRNGKey, states: GameState) -> tuple[jax.Array, jax.Array]:
        player = states.current_player
        uniform = jnp.zeros(states.legal_action_mask.shape, jnp.float32)

        def move(carry, key):
            states, total = carry
            act_key, step_key = jax.random.split(key)
            action = jax.random.categorical(act_key, mask_illegal(uniform, states.legal_action_mask))
            states = batch_step(game, step_key, states, action.astype(jnp.int32))
            return (states, total + mover_reward(states, player)), None

        keys = jax.random.split(key, game.max_length)
        (_, total), _ = jax.lax.scan(move, (states, jnp.zeros(player.shape, jnp.float32)), keys)
        return uniform, total

    return evaluate
