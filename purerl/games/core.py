"""The two-player game contract: what self-play, search and the arena need from a game.

A `Game` is pure functions over a state pytree, one game per state (vmap for batches). The state has the
fields of a pgx `State`, which is what the registered games are:

    state.current_player      int32 scalar, the player to move (0 or 1)
    state.observation         [*obs_shape], the board as the player to move sees it
    state.legal_action_mask   [num_actions] bool (all True once the game is over)
    state.rewards             [2] float32, each player's reward for the last move (zero-sum here)
    state.terminated          bool scalar, the game has a result
    state.truncated           bool scalar, the game was cut at `max_length` moves without one

Stepping a finished game returns it unchanged with zero rewards, and an illegal move loses at once (pgx's
rules); search and play never make one, because they mask illegal moves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purerl.types import PRNGKey

GameState = Any


class Game(NamedTuple):
    """A two-player, alternating-move, zero-sum game.

    Attributes:
        name: registered name, e.g. "TicTacToe".
        num_actions: size of the discrete action space.
        obs_shape: shape of `state.observation`.
        max_length: moves after which a game without a result is truncated (bounds every rollout).
        init: `(key) -> state`; the first mover is drawn from the key.
        step: `(key, state, action int32) -> state`.
        optimal_moves: `(state) -> [num_actions] bool`, the moves that keep the game-theoretic value, for
            games with an exact solver (tic-tac-toe), else None.
    """

    name: str
    num_actions: int
    obs_shape: tuple[int, ...]
    max_length: int
    init: Callable[[PRNGKey], GameState]
    step: Callable[[PRNGKey, GameState, jax.Array], GameState]
    optimal_moves: Callable[[GameState], jax.Array] | None = None


def is_over(state: GameState) -> jax.Array:
    """Bool `[...]`: the game has ended (a result, or cut at `max_length`)."""
    return state.terminated | state.truncated


def mover_reward(state: GameState, mover: jax.Array) -> jax.Array:
    """`[B]` the reward `state.rewards [B, 2]` gives player `mover [B]`."""
    return jnp.take_along_axis(state.rewards, mover[:, None].astype(jnp.int32), axis=1)[:, 0]


def pgx_game(env_id: str, name: str, max_length: int, optimal_moves: Callable | None = None) -> Game:
    """A pgx environment as a `Game`, truncated after `max_length` moves if it has not ended by then."""
    import pgx

    env = pgx.make(env_id)
    if env.num_players != 2:
        raise ValueError(f"{env_id} has {env.num_players} players; a Game has 2")

    def step(key: PRNGKey, state: GameState, action: jax.Array) -> GameState:
        state = env.step(state, action, key)
        cut = (state._step_count >= max_length) & ~state.terminated
        return state.replace(truncated=state.truncated | cut)

    return Game(
        name, env.num_actions, tuple(env.observation_shape), max_length, env.init, step, optimal_moves
    )


def batch_init(game: Game, key: PRNGKey, num_games: int) -> GameState:
    """`num_games` fresh games (leaves `[B, ...]`)."""
    return jax.vmap(game.init)(jax.random.split(key, num_games))


def batch_step(game: Game, key: PRNGKey, states: GameState, actions: jax.Array) -> GameState:
    """Step a batch of games `[B]` with actions `[B]`."""
    return jax.vmap(game.step)(jax.random.split(key, actions.shape[0]), states, actions)


def restart_finished(game: Game, key: PRNGKey, states: GameState) -> GameState:
    """Replace every finished game of the batch by a fresh one (self-play's auto-reset)."""
    fresh = batch_init(game, key, states.terminated.shape[0])
    over = is_over(states)
    return jax.tree.map(
        lambda new, old: jnp.where(over.reshape((-1,) + (1,) * (old.ndim - 1)), new, old), fresh, states
    )
