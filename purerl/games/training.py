"""What every game-playing algorithm shares: the config base, batched self-play with outcome targets, and
the loop wiring (evaluation games against a fixed opponent).

A game algorithm is a `loop.Algorithm` built from `(config, game, None)` whose observations are game
states: `act(key, state, game_states [B]) -> moves [B]`. The generic loop runs its blocks, divergence
freezing and checkpoints; an evaluation is `eval_episodes` games against `eval_opponent`, half of them
moving first, and `eval_return` is the mean score (+1 win, 0 draw, -1 loss).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purerl.config import AutoInt, PositiveInt, one_of, store_sorted_pairs, unknown_name_message
from purerl.games import arena
from purerl.games.core import Game, GameState, batch_init, batch_step, is_over, mover_reward, restart_finished
from purerl.games.search import Evaluator, search
from purerl.loop import Agent, StepsConfig, eval_blocks
from purerl.types import PRNGKey


@dataclasses.dataclass(frozen=True)
class GameConfig(StepsConfig):
    """A run of self-play on a registered two-player game (`purerl.games`).

    Attributes:
        env_name: registered game name, e.g. "TicTacToe" or "ConnectFour".
        total_timesteps: self-play moves per seed (all games together).
        num_games: self-play games played side by side per seed.
        num_steps: moves of each game per update; 0 = the game's `max_length`, so that the first game
            of every update finishes (each update starts fresh games).
        eval_episodes: evaluation games per evaluation.
        eval_opponent: "random", or "solver" (perfect play; games with an exact solver only).
    """

    env_name: str = "TicTacToe"
    total_timesteps: PositiveInt = 200_000
    num_games: PositiveInt = 64
    num_steps: AutoInt = 0
    eval_episodes: PositiveInt = 64
    eval_opponent: one_of("random", "solver") = "random"

    def _check_env(self) -> None:
        from purerl.games import make_game, registered_games

        name = type(self).__name__
        if not isinstance(self.env_name, str) or self.env_name not in registered_games():
            raise ValueError(
                f"{name}.env_name: " + unknown_name_message("game", str(self.env_name), registered_games())
            )
        if self.env_params != "default":
            raise ValueError(f"{name}.env_params must be 'default' for games, got {self.env_params!r}")
        pairs = store_sorted_pairs(self, "env_kwargs")
        try:
            game = make_game(self.env_name, **dict(pairs))
        except TypeError as err:
            raise ValueError(f"{name}.env_kwargs={dict(pairs)!r} do not fit {self.env_name}: {err}") from None
        if self.eval_opponent == "solver" and game.optimal_moves is None:
            raise ValueError(f"{name}.eval_opponent='solver' needs a game with an exact solver (TicTacToe)")

    @functools.cached_property
    def game(self) -> Game:
        from purerl.games import make_game

        return make_game(self.env_name, **dict(self.env_kwargs))

    @property
    def moves_per_update(self) -> int:
        """Moves of each self-play game per update (`num_steps`, or the game's `max_length`)."""
        return self.num_steps or self.game.max_length

    @property
    def steps_per_update(self) -> int:
        return self.num_games * self.moves_per_update


# ----------------------------------------------------------------------------------------------------
# Self-play


class SelfPlayRecord(NamedTuple):
    """One move of every self-play game (`[T, B, ...]` after `self_play`).

    Attributes:
        obs: the board as the mover saw it.
        legal: `[A]` bool, the legal moves.
        policy: `[A]` the search's improved policy (the policy target).
        mover: the player who moved.
        reward: what the mover got for the move.
        terminated: the move ended the game with a result.
        over: the game ended (a result, or cut at `max_length`); a fresh game follows.
        next_mover: the player to move after it (meaningless when `over`).
    """

    obs: jax.Array
    legal: jax.Array
    policy: jax.Array
    mover: jax.Array
    reward: jax.Array
    terminated: jax.Array
    over: jax.Array
    next_mover: jax.Array


def self_play(
    key: PRNGKey,
    game: Game,
    evaluator: Evaluator,
    num_games: int,
    num_steps: int,
    num_simulations: int,
    *,
    gumbel_scale: float | jax.Array = 1.0,
    max_considered_actions: int = 16,
) -> SelfPlayRecord:
    """`num_steps` moves of `num_games` fresh games, every move chosen by Gumbel search with `evaluator`;
    a finished game restarts at once. Returns a `SelfPlayRecord` with leaves `[T, B, ...]`."""
    init_key, loop_key = jax.random.split(key)

    def move(states: GameState, key: PRNGKey):
        search_key, step_key, reset_key = jax.random.split(key, 3)
        action, policy = search(
            search_key,
            game,
            evaluator,
            states,
            num_simulations,
            gumbel_scale=gumbel_scale,
            max_considered_actions=max_considered_actions,
        )
        next_states = batch_step(game, step_key, states, action)
        record = SelfPlayRecord(
            obs=states.observation,
            legal=states.legal_action_mask,
            policy=policy,
            mover=states.current_player,
            reward=mover_reward(next_states, states.current_player),
            terminated=next_states.terminated,
            over=is_over(next_states),
            next_mover=next_states.current_player,
        )
        return restart_finished(game, reset_key, next_states), record

    states = batch_init(game, init_key, num_games)
    _, records = jax.lax.scan(move, states, jax.random.split(loop_key, num_steps))
    return records


def outcome_targets(records: SelfPlayRecord) -> tuple[jax.Array, jax.Array]:
    """Each move's final outcome from the mover's view, and whether it is known.

    Backwards over time: `z_t = r_t + [not over_t] * s_t * z_{t+1}` with `s_t = +1` if the same player
    moves next and -1 if the opponent does. The outcome is known when the game ended with a result within
    the record (`terminated`); it is unknown for a game cut at `max_length` (truncated: no result) and for
    the game still running when the record ends.

    Args:
        records: leaves `[T, B]` (`reward`, `terminated`, `over`, `mover`, `next_mover`).

    Returns:
        `(z [T, B] float32, known [T, B] bool)`.
    """

    def back(carry, record):
        z_next, known_next = carry
        sign = jnp.where(record.next_mover == record.mover, 1.0, -1.0)
        z = record.reward + jnp.where(record.over, 0.0, sign * z_next)
        known = record.terminated | (~record.over & known_next)
        return (z, known), (z, known)

    batch = records.reward.shape[1:]
    init = (jnp.zeros(batch, jnp.float32), jnp.zeros(batch, bool))
    _, (z, known) = jax.lax.scan(back, init, records, reverse=True)
    return z, known


# ----------------------------------------------------------------------------------------------------
# Loop wiring


def evaluation_metrics(results: arena.GameResults, has_solver: bool) -> dict[str, jax.Array]:
    """Scalars of a batch of evaluation games: mean score, length, win and loss rates (and the
    optimal-move rate where an exact solver exists)."""
    metrics = {
        "eval_return": results.score.mean(),
        "eval_length": results.length.mean().astype(jnp.float32),
        "eval_win": (results.score > 0).mean(),
        "eval_loss": (results.score < 0).mean(),
    }
    if has_solver:
        metrics["eval_optimal_rate"] = results.optimal_rate.mean()
    return metrics


def make_agent(spec: Any, config: GameConfig) -> Agent:
    """The loop's view of a game algorithm: `spec.build(config, game, None)`, evaluated by games against
    `config.eval_opponent` played with its `act`."""
    game = config.game
    algo = spec.build(config, game, None)
    opponent = arena.opponent(game, config.eval_opponent)
    eval_every, num_blocks = eval_blocks(config.num_updates, config.eval_every)

    def evaluate(key: PRNGKey, state: Any, hparams: Any) -> dict[str, jax.Array]:
        policy: Callable = lambda key, states: algo.act(key, state, states)
        results = arena.play(key, game, policy, opponent, config.eval_episodes)
        return evaluation_metrics(results, game.optimal_moves is not None)

    return Agent(algo.init, algo.update, evaluate, num_blocks, eval_every, algo.steps_per_update, algo.act)
