"""Games between two policies, and the opponents every evaluation uses.

A *policy* is `(key, states [B]) -> actions [B]`, legal moves only. `play` seats policy A first in
half of the games and second in the other half, so first-move advantage cancels out of its scores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from purerl.games.core import Game, GameState, batch_init, batch_step, is_over, mover_reward
from purerl.games.search import Evaluator, mask_illegal, rollout_evaluator, search
from purerl.types import PRNGKey

Policy = Callable[[PRNGKey, GameState], jax.Array]


class GameResults(NamedTuple):
    """Per-game results from A's side (`[G]` each).

    Attributes:
        score: +1 A won, 0 draw (or cut at `max_length`), -1 A lost.
        length: moves played.
        a_first: A moved first.
        optimal_rate: fraction of A's moves that kept the game-theoretic value (games with an exact
            solver; NaN elsewhere).
    """

    score: jax.Array
    length: jax.Array
    a_first: jax.Array
    optimal_rate: jax.Array


def play(key: PRNGKey, game: Game, policy_a: Policy, policy_b: Policy, num_games: int) -> GameResults:
    """`num_games` games of A against B, to the end (at most `max_length` moves), A first in even games.

    Both policies are evaluated on every game at every move (a vmapped program cannot skip one), and
    the mover's action is kept.
    """
    init_key, loop_key = jax.random.split(key)
    states = batch_init(game, init_key, num_games)
    a_first = jnp.arange(num_games) % 2 == 0
    a_player = jnp.where(a_first, states.current_player, 1 - states.current_player)

    def move(carry, key):
        states, score, length, optimal, a_moves = carry
        key_a, key_b, step_key = jax.random.split(key, 3)
        a_turn = states.current_player == a_player
        action = jnp.where(a_turn, policy_a(key_a, states), policy_b(key_b, states))
        active = ~is_over(states)
        counted = active & a_turn
        if game.optimal_moves is not None:
            good = jnp.take_along_axis(jax.vmap(game.optimal_moves)(states), action[:, None], axis=1)[:, 0]
            optimal = optimal + (counted & good)
        length = length + active
        states = batch_step(game, step_key, states, action)
        return (states, score + mover_reward(states, a_player), length, optimal, a_moves + counted), None

    zeros = jnp.zeros(num_games, jnp.int32)
    carry = (states, jnp.zeros(num_games, jnp.float32), zeros, zeros, zeros)
    (_, score, length, optimal, a_moves), _ = jax.lax.scan(
        move, carry, jax.random.split(loop_key, game.max_length)
    )
    rate = optimal / jnp.maximum(a_moves, 1)
    if game.optimal_moves is None:
        rate = jnp.full(num_games, jnp.nan)
    return GameResults(score, length, a_first, rate)


def random_policy(key: PRNGKey, states: GameState) -> jax.Array:
    """A uniformly random legal move."""
    uniform = jnp.zeros(states.legal_action_mask.shape, jnp.float32)
    return jax.random.categorical(key, mask_illegal(uniform, states.legal_action_mask)).astype(jnp.int32)


def prior_policy(evaluator: Evaluator, greedy: bool = True) -> Policy:
    """The evaluator's prior alone, no search: its most likely legal move (or a sample)."""

    def policy(key: PRNGKey, states: GameState) -> jax.Array:
        eval_key, sample_key = jax.random.split(key)
        logits = mask_illegal(evaluator(eval_key, states)[0], states.legal_action_mask)
        if greedy:
            return jnp.argmax(logits, axis=-1).astype(jnp.int32)
        return jax.random.categorical(sample_key, logits).astype(jnp.int32)

    return policy


def search_policy(
    game: Game, evaluator: Evaluator, num_simulations: int, max_considered_actions: int = 16
) -> Policy:
    """Gumbel search's deterministic choice (`gumbel_scale = 0`) with `evaluator`; 0 simulations is
    `prior_policy`."""
    if num_simulations == 0:
        return prior_policy(evaluator)

    def policy(key: PRNGKey, states: GameState) -> jax.Array:
        action, _ = search(
            key,
            game,
            evaluator,
            states,
            num_simulations,
            gumbel_scale=0.0,
            max_considered_actions=max_considered_actions,
        )
        return action

    return policy


def search_only_policy(game: Game, num_simulations: int) -> Policy:
    """Search without learning: uniform prior and random-playout values, `num_simulations` per move
    (0 simulations: a uniformly random legal move)."""
    if num_simulations == 0:
        return random_policy
    return search_policy(game, rollout_evaluator(game), num_simulations)


def solver_policy(game: Game) -> Policy:
    """Perfect play (games with an exact solver): a uniformly random move among the optimal ones."""
    if game.optimal_moves is None:
        raise ValueError(f"{game.name} has no exact solver (Game.optimal_moves)")

    def policy(key: PRNGKey, states: GameState) -> jax.Array:
        best = jax.vmap(game.optimal_moves)(states) & states.legal_action_mask
        # A finished game has no optimal move: any legal one leaves it unchanged.
        best = jnp.where(best.any(-1, keepdims=True), best, states.legal_action_mask)
        return jax.random.categorical(key, mask_illegal(jnp.zeros(best.shape), best)).astype(jnp.int32)

    return policy


def opponent(game: Game, name: str, num_simulations: int = 0) -> Policy:
    """A fixed opponent by name: "random", "solver" or "search" (search-only at `num_simulations`)."""
    if name == "random":
        return random_policy
    if name == "solver":
        return solver_policy(game)
    if name == "search":
        return search_only_policy(game, num_simulations)
    raise ValueError(f"opponent must be 'random', 'solver' or 'search', got {name!r}")
