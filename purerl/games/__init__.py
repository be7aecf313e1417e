"""Two-player board games for self-play and search: the `Game` contract, the pgx games, and the registry.

`make_game(name)` builds a registered game; `register_game(name, factory)` adds one (see
`docs/games.md`). pgx is imported only when a pgx game is built.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from purerl.config import unknown_name_message
from purerl.games.core import Game, GameState, is_over, pgx_game
from purerl.games.nim import make_nim

__all__ = ["Game", "GameState", "is_over", "make_game", "register_game", "registered_games"]

_GAMES: dict[str, Callable[..., Game]] = {}


def register_game(name: str, factory: Callable[..., Game]) -> None:
    """Register `factory(**static) -> Game` under `name` (names are unique, and distinct from the
    single-agent environments of `purerl.envs`)."""
    if name in _GAMES:
        raise ValueError(f"game {name!r} is already registered")
    _GAMES[name] = factory


def registered_games() -> tuple[str, ...]:
    """All registered game names, sorted."""
    return tuple(sorted(_GAMES))


def make_game(name: str, **static) -> Game:
    """Build a registered game; an unknown name raises `ValueError` listing the closest valid ones."""
    if name not in _GAMES:
        raise ValueError(unknown_name_message("game", name, registered_games()))
    return _GAMES[name](**static)


def _tictactoe_optimal_moves(state: GameState):
    from purerl.games import tictactoe_solver

    return tictactoe_solver.optimal_moves(state._x.board)


def _tictactoe() -> Game:
    return pgx_game("tic_tac_toe", "TicTacToe", 9, _tictactoe_optimal_moves)


register_game("TicTacToe", _tictactoe)
register_game("Nim", make_nim)
register_game("ConnectFour", partial(pgx_game, "connect_four", "ConnectFour", 42))
# Othello: at most 60 placements plus passes; go: pgx ends a 9x9 game after 2 * 81 moves at the latest.
register_game("Othello", partial(pgx_game, "othello", "Othello", 128))
register_game("Go-9x9", partial(pgx_game, "go_9x9", "Go-9x9", 162))
