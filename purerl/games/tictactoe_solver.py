"""Exact tic-tac-toe solver: game-theoretic values and optimal moves for every reachable position.

A negamax search from the empty board visits all 5,478 positions reachable in legal play (958 of them
terminal: 626 won by X, 316 by O, 16 full-board draws). The empty board is a draw, and every one of the
nine opening moves keeps the draw. The search runs once, in plain Python (well under a second), and its
tables are cached; the JAX functions below only index them, so they are jit-able and vmappable.

Board convention (pgx 2.6.0's `state._x.board`): a `[9]` int32 array, row-major (`cell = 3 * row + col`),
-1 = empty, 0 = a mark of the first player ("X"), 1 = a mark of the second player ("O"). The side to move
follows from the counts: X when they are equal, else O (pgx's `state._x.color`).

Positions are indexed by the base-3 code `sum_i (board[i] + 1) * 3**i`, in `[0, 3**9)`. Tables:
    value[code]:       int8, value for the side to move: +1 win, 0 draw, -1 loss. A terminal position
                       is -1 when the previous mover has just won and 0 for a full-board draw.
    optimal[code, 9]:  bool, the legal moves that achieve `value[code]`; all False when terminal.
    reachable[code]:   bool, the position occurs in legal play from the empty board.
Entries of unreachable codes are 0 / False and carry no meaning.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from purerl.types import Array, PRNGKey

__all__ = [
    "NUM_CODES",
    "SolverTables",
    "board_code",
    "is_optimal",
    "optimal_moves",
    "position_value",
    "solver_action",
    "tables",
]

NUM_CODES = 3**9
_POW3 = tuple(3**i for i in range(9))
_LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


class SolverTables(NamedTuple):
    """Solver tables as JAX arrays, indexed by `board_code`.

    Attributes:
        value: `[3**9]` int8, value for the side to move (+1 / 0 / -1).
        optimal: `[3**9, 9]` bool, the legal moves achieving `value`; all False for terminal positions.
        reachable: `[3**9]` bool, whether the position occurs in legal play.
    """

    value: Array
    optimal: Array
    reachable: Array


def _has_line(board: list[int], mark: int) -> bool:
    return any(board[a] == board[b] == board[c] == mark for a, b, c in _LINES)


@functools.cache
def _solve() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Negamax over the reachable game tree, memoised on the code; returns read-only numpy tables."""
    value = np.zeros(NUM_CODES, np.int8)
    optimal = np.zeros((NUM_CODES, 9), bool)
    reachable = np.zeros(NUM_CODES, bool)

    def visit(board: list[int], code: int, mover: int) -> int:
        if reachable[code]:
            return int(value[code])
        reachable[code] = True
        # Only the player who just moved can have completed a line, so a line means a loss for `mover`.
        if _has_line(board, 1 - mover):
            best = -1
        elif -1 not in board:
            best = 0
        else:
            child = {}
            for cell in range(9):
                if board[cell] == -1:
                    board[cell] = mover
                    child[cell] = -visit(board, code + (mover + 1) * _POW3[cell], 1 - mover)
                    board[cell] = -1
            best = max(child.values())
            for cell, v in child.items():
                optimal[code, cell] = v == best
        value[code] = best
        return best

    visit([-1] * 9, 0, 0)
    for table in (value, optimal, reachable):
        table.setflags(write=False)
    return value, optimal, reachable


def tables() -> SolverTables:
    """The solver's tables as JAX arrays (the search runs on the first call and is cached as numpy;
    the arrays are made per call, so a call inside `jit` embeds them as constants and none escapes)."""
    value, optimal, reachable = _solve()
    return SolverTables(jnp.asarray(value), jnp.asarray(optimal), jnp.asarray(reachable))


def board_code(board: Array) -> Array:
    """Base-3 code of a board.

    Args:
        board: `[..., 9]` int, cells -1 (empty), 0 (X) or 1 (O).

    Returns:
        `[...]` int32 code `sum_i (board[i] + 1) * 3**i`.
    """
    board = jnp.asarray(board, jnp.int32)
    return jnp.sum((board + 1) * jnp.asarray(_POW3, jnp.int32), axis=-1)


def position_value(board: Array) -> Array:
    """Game-theoretic value for the side to move.

    Args:
        board: `[..., 9]` int board.

    Returns:
        `[...]` int32: +1 (win), 0 (draw) or -1 (loss) under perfect play; -1 for a board the previous
        mover has won, 0 for a drawn full board. Meaningless (0) for unreachable boards.
    """
    return tables().value[board_code(board)].astype(jnp.int32)


def optimal_moves(board: Array) -> Array:
    """Moves that achieve the position's value.

    Args:
        board: `[..., 9]` int board.

    Returns:
        `[..., 9]` bool mask over cells; all False for terminal and unreachable boards.
    """
    return tables().optimal[board_code(board)]


def is_optimal(board: Array, action: Array) -> Array:
    """Whether `action` is an optimal move on `board`.

    Args:
        board: `[..., 9]` int board.
        action: `[...]` int cell index; out-of-range actions are never optimal.

    Returns:
        `[...]` bool.
    """
    action = jnp.asarray(action, jnp.int32)
    in_range = (action >= 0) & (action < 9)
    picked = jnp.take_along_axis(optimal_moves(board), jnp.clip(action, 0, 8)[..., None], axis=-1)
    return in_range & picked[..., 0]


def solver_action(key: PRNGKey, board: Array, legal_mask: Array) -> Array:
    """A perfect player: a uniformly random optimal move.

    On a terminal or unreachable board (never met in legal play) it falls back to a uniformly random legal
    move. Leading batch dimensions are sampled independently with the one key; `vmap` over keys works too.

    Args:
        key: PRNG key.
        board: `[..., 9]` int board.
        legal_mask: `[..., 9]` bool, the legal moves (empty cells).

    Returns:
        `[...]` int32 action.
    """
    legal_mask = jnp.asarray(legal_mask, bool)
    # Intersecting with the caller's mask keeps the choice legal even if the board and mask disagree.
    best = optimal_moves(board) & legal_mask
    choices = jnp.where(jnp.any(best, axis=-1, keepdims=True), best, legal_mask)
    logits = jnp.where(choices, 0.0, -jnp.inf)
    return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)
