"""Nim with one pile, written natively: the complete example of a `Game` that is not from pgx.

Two players take turns removing 1, 2 or 3 stones from a pile of `pile` stones; whoever takes the last
stone wins. Exact solution: the player to move loses exactly when the pile is a multiple of 4, and the
winning move leaves a multiple of 4, so `optimal_moves` is exact and AlphaZero can be checked against
perfect play on it as on tic-tac-toe. The observation is the pile as a one-hot vector `[pile + 1]`
(the same for both players: the position is symmetric). See `docs/games.md`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from purerl.games.core import Game
from purerl.types import PRNGKey

NUM_ACTIONS = 3  # action a takes a + 1 stones


class NimState(NamedTuple):
    """The contract's fields (see `purerl.games.core`) plus the pile."""

    current_player: jax.Array
    observation: jax.Array
    legal_action_mask: jax.Array
    rewards: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    stones: jax.Array


def make_nim(pile: int = 21) -> Game:
    """One-pile Nim as a `Game` (at most `pile` moves: every move takes at least one stone)."""
    if not isinstance(pile, int) or pile < 1:
        raise ValueError(f"pile must be a positive integer, got {pile!r}")

    def observe(stones: jax.Array) -> jax.Array:
        return jax.nn.one_hot(stones, pile + 1, dtype=jnp.float32)

    def legal(stones: jax.Array, over: jax.Array) -> jax.Array:
        # All True once the game is over (pgx's convention), so a softmax over legal moves stays defined.
        return (jnp.arange(NUM_ACTIONS) < stones) | over

    def init(key: PRNGKey) -> NimState:
        stones = jnp.asarray(pile, jnp.int32)
        first = jax.random.bernoulli(key).astype(jnp.int32)
        done = jnp.asarray(False)
        return NimState(first, observe(stones), legal(stones, done), jnp.zeros(2), done, done, stones)

    def step(key: PRNGKey, state: NimState, action: jax.Array) -> NimState:
        del key  # deterministic
        over = state.terminated | state.truncated
        illegal = ~over & (action + 1 > state.stones)
        stones = jnp.where(over | illegal, state.stones, state.stones - action - 1)
        mover_wins = ~over & ~illegal & (stones == 0)
        ends = mover_wins | illegal
        # +1 to the mover for the last stone, -1 for an illegal move; the opponent gets the negation.
        mover_reward = jnp.where(mover_wins, 1.0, jnp.where(illegal, -1.0, 0.0))
        mover = state.current_player
        rewards = jnp.where(jnp.arange(2) == mover, mover_reward, -mover_reward)
        terminated = state.terminated | ends
        next_player = jnp.where(over | ends, mover, 1 - mover)
        return NimState(
            next_player,
            observe(stones),
            legal(stones, terminated | state.truncated),
            rewards,
            terminated,
            state.truncated,
            stones,
        )

    def optimal_moves(state: NimState) -> jax.Array:
        winning = jnp.arange(NUM_ACTIONS) + 1 == state.stones % 4
        moves = jnp.where(state.stones % 4 == 0, jnp.arange(NUM_ACTIONS) < state.stones, winning)
        return moves & ~(state.terminated | state.truncated)

    return Game("Nim", NUM_ACTIONS, (pile + 1,), pile, init, step, optimal_moves)
