"""Tests for the exact tic-tac-toe solver: hand-checked positions, published counts, and play in pgx."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.games import tictactoe_solver as ttt

pgx = pytest.importorskip("pgx")

E, X, O = -1, 0, 1  # noqa: E741 (board diagrams read better with the letter O)
NUM_GAMES = 256


def board(*cells: int) -> jnp.ndarray:
    """A `[9]` int32 board from nine cells given row by row."""
    assert len(cells) == 9
    return jnp.asarray(cells, jnp.int32)


def one_hot_mask(*cells: int) -> np.ndarray:
    mask = np.zeros(9, bool)
    mask[list(cells)] = True
    return mask


def decode(codes: np.ndarray) -> np.ndarray:
    """`[N]` codes -> `[N, 9]` boards (inverse of `board_code`)."""
    return (codes[:, None] // 3 ** np.arange(9)) % 3 - 1


def test_board_code_hand_values():
    empty = jnp.full(9, E, jnp.int32)
    assert int(ttt.board_code(empty)) == 0
    assert int(ttt.board_code(empty.at[0].set(X))) == 1
    assert int(ttt.board_code(empty.at[8].set(O))) == 2 * 3**8
    assert int(ttt.board_code(jnp.full(9, O, jnp.int32))) == 3**9 - 1
    batch = jnp.stack([empty, empty.at[0].set(X)]).reshape(2, 1, 9)
    assert ttt.board_code(batch).shape == (2, 1)
    assert ttt.board_code(batch).dtype == jnp.int32


def test_empty_board_is_a_draw_and_every_opening_keeps_it():
    empty = jnp.full(9, E, jnp.int32)
    assert int(ttt.position_value(empty)) == 0
    np.testing.assert_array_equal(ttt.optimal_moves(empty), np.ones(9, bool))


def test_reachable_and_terminal_counts():
    # Published counts: positions by number of marks 1, 9, 72, 252, 756, 1260, 1520, 1140, 390, 78
    # (5,478 in all); 958 terminal boards, of which X won 626, O won 316 and 16 are full-board draws.
    t = ttt.tables()
    reachable = np.asarray(t.reachable)
    assert reachable.sum() == 5478
    codes = np.nonzero(reachable)[0]
    boards = decode(codes)
    plies = (boards != E).sum(axis=1)
    np.testing.assert_array_equal(np.bincount(plies), [1, 9, 72, 252, 756, 1260, 1520, 1140, 390, 78])

    terminal = ~np.asarray(t.optimal)[codes].any(axis=1)
    values = np.asarray(t.value)[codes]
    assert terminal.sum() == 958
    won = terminal & (values == -1)
    # The previous mover won: X when the number of marks is odd.
    assert (won & (plies % 2 == 1)).sum() == 626
    assert (won & (plies % 2 == 0)).sum() == 316
    assert (terminal & (values == 0)).sum() == 16
    assert not (terminal & (values == 1)).any()
    # Every non-terminal reachable position has at least one optimal move, and only legal ones.
    optimal = np.asarray(t.optimal)[codes]
    assert not (optimal & (boards != E)).any()
    # Unreachable entries carry nothing.
    assert not np.asarray(t.optimal)[~reachable].any()
    assert not np.asarray(t.value)[~reachable].any()


def test_immediate_win_is_the_only_optimal_move():
    # X X .      X to move wins at 2. Anything else lets O win at 5
    # O O .      (even blocking at 5 only draws), so no other move is optimal.
    # . . .
    b = board(X, X, E, O, O, E, E, E, E)
    assert int(ttt.position_value(b)) == 1
    np.testing.assert_array_equal(ttt.optimal_moves(b), one_hot_mask(2))
    assert bool(ttt.is_optimal(b, 2))
    assert not bool(ttt.is_optimal(b, 5))
    assert not bool(ttt.is_optimal(b, 8))


def test_forced_block_is_the_only_optimal_move():
    # X X .      O to move must block at 2; the game is then a draw.
    # . O .
    # . . .
    b = board(X, X, E, E, O, E, E, E, E)
    assert int(ttt.position_value(b)) == 0
    np.testing.assert_array_equal(ttt.optimal_moves(b), one_hot_mask(2))


def test_fork_defence_needs_an_edge():
    # X . .      O to move: a corner lets X fork (e.g. O 2, X 6 threatens 3 and 7);
    # . O .      an edge forces X to answer and draws.
    # . . X
    b = board(X, E, E, E, O, E, E, E, X)
    assert int(ttt.position_value(b)) == 0
    np.testing.assert_array_equal(ttt.optimal_moves(b), one_hot_mask(1, 3, 5, 7))


def test_double_threat_is_lost_and_every_move_is_equally_bad():
    # X X .      O to move has no win of its own and X threatens both 2 and 6.
    # X O .
    # . . O
    b = board(X, X, E, X, O, E, E, E, O)
    assert int(ttt.position_value(b)) == -1
    np.testing.assert_array_equal(ttt.optimal_moves(b), np.asarray(b) == E)


def test_terminal_positions():
    won = board(X, X, X, O, O, E, E, E, E)  # X has just won; O is to move.
    assert int(ttt.position_value(won)) == -1
    assert not np.asarray(ttt.optimal_moves(won)).any()
    drawn = board(X, O, X, X, O, O, O, X, X)
    assert int(ttt.position_value(drawn)) == 0
    assert not np.asarray(ttt.optimal_moves(drawn)).any()
    assert not bool(ttt.is_optimal(drawn, 0))


def test_is_optimal_rejects_out_of_range_actions():
    empty = jnp.full(9, E, jnp.int32)
    np.testing.assert_array_equal(
        ttt.is_optimal(jnp.stack([empty] * 4), jnp.asarray([-1, 0, 8, 9])), [False, True, True, False]
    )


@pytest.fixture(scope="module")
def sample_many():
    """Jitted `solver_action` vmapped over keys for one board: `[K]` actions."""

    @functools.partial(jax.jit, static_argnums=2)
    def sample(key, b, num):
        legal = b == E
        return jax.vmap(ttt.solver_action, in_axes=(0, None, None))(jax.random.split(key, num), b, legal)

    return sample


@pytest.mark.parametrize(
    "cells",
    [
        (E,) * 9,
        (X, E, E, E, O, E, E, E, X),
        (X, X, E, O, O, E, E, E, E),
        (X, X, E, X, O, E, E, E, O),
    ],
)
def test_solver_action_samples_every_optimal_move_and_nothing_else(sample_many, cells):
    b = board(*cells)
    actions = np.asarray(sample_many(jax.random.key(0), b, 1000))
    assert actions.dtype == np.int32
    chosen = np.bincount(actions, minlength=9) > 0
    np.testing.assert_array_equal(chosen, np.asarray(ttt.optimal_moves(b)))


def test_solver_action_falls_back_to_a_legal_move():
    won = board(X, X, X, O, O, E, E, E, E)
    unreachable = board(X, X, X, X, E, E, E, E, E)
    for b in (won, unreachable):
        legal = b == E
        actions = jax.vmap(ttt.solver_action, in_axes=(0, None, None))(
            jax.random.split(jax.random.key(1), 64), b, legal
        )
        assert np.asarray(legal)[np.asarray(actions)].all()


def test_solver_action_batches_under_jit_and_vmap():
    boards = jnp.stack(
        [board(*([E] * 9)), board(X, X, E, O, O, E, E, E, E), board(X, X, E, E, O, E, E, E, E)]
    )
    keys = jax.random.split(jax.random.key(2), 3)
    vmapped = jax.jit(jax.vmap(ttt.solver_action))(keys, boards, boards == E)
    assert vmapped.shape == (3,) and vmapped.dtype == jnp.int32
    assert np.asarray(ttt.is_optimal(boards, vmapped)).all()
    # Leading batch dimensions without vmap: one key, independent draws per row.
    batched = jax.jit(ttt.solver_action)(keys[0], boards, boards == E)
    assert batched.shape == (3,)
    assert np.asarray(ttt.is_optimal(boards, batched)).all()
    np.testing.assert_array_equal(vmapped[1:], [2, 2])


@pytest.fixture(scope="module")
def rollout():
    """Plays `NUM_GAMES` pgx games; colour c uses the solver with probability `solver_prob[c]`, else a
    uniformly random legal move. Returns per-ply `[9, NUM_GAMES, ...]` records as numpy arrays."""
    env = pgx.make("tic_tac_toe")

    @jax.jit
    def play(key, solver_prob):
        init_key, key = jax.random.split(key)
        state = jax.vmap(env.init)(jax.random.split(init_key, NUM_GAMES))

        def ply(state, key):
            k_solver, k_random, k_pick = jax.random.split(key, 3)
            b, legal = state._x.board, state.legal_action_mask
            smart = ttt.solver_action(k_solver, b, legal)
            rand = jax.random.categorical(k_random, jnp.where(legal, 0.0, -jnp.inf), axis=-1)
            use_solver = jax.random.uniform(k_pick, (NUM_GAMES,)) < solver_prob[state._x.color]
            action = jnp.where(use_solver, smart, rand).astype(jnp.int32)
            nxt = jax.vmap(env.step)(state, action)
            record = dict(
                alive=~state.terminated,
                board=b,
                color=state._x.color,
                legal=legal,
                action=action,
                next_board=nxt._x.board,
                next_terminated=nxt.terminated,
                next_winner=nxt._x.winner,
            )
            return nxt, record

        final, records = jax.lax.scan(ply, state, jax.random.split(key, 9))
        return final._x.winner, final.terminated, records

    def run(seed, solver_prob):
        winner, terminated, records = play(jax.random.key(seed), jnp.asarray(solver_prob, jnp.float32))
        assert np.asarray(terminated).all()
        return np.asarray(winner), jax.tree.map(np.asarray, records)

    return run


def test_consistent_with_pgx_transitions(rollout):
    _, r = rollout(0, [0.5, 0.5])
    alive = r["alive"]
    board_, next_board = r["board"][alive], r["next_board"][alive]
    t = ttt.tables()
    value, optimal, reachable = (np.asarray(a) for a in t)
    code = np.asarray(ttt.board_code(board_))
    next_code = np.asarray(ttt.board_code(next_board))
    assert reachable[code].all() and reachable[next_code].all()
    # pgx's colour to move is the side the solver infers from the counts, and its legal moves are the
    # empty cells.
    np.testing.assert_array_equal(r["color"][alive], (board_ != E).sum(axis=1) % 2)
    np.testing.assert_array_equal(r["legal"][alive], board_ == E)
    # Negamax through pgx's own transitions: an optimal move keeps the value (negated for the opponent),
    # any other move loses some.
    v, v_next = value[code].astype(int), value[next_code].astype(int)
    optimal_taken = optimal[code, r["action"][alive]]
    assert optimal_taken.any() and (~optimal_taken).any()
    np.testing.assert_array_equal(-v_next[optimal_taken], v[optimal_taken])
    assert (-v_next[~optimal_taken] < v[~optimal_taken]).all()
    # pgx ends the game exactly where the table has no moves left, with the same result.
    ended = r["next_terminated"][alive]
    np.testing.assert_array_equal(ended, ~optimal[next_code].any(axis=1))
    winner = r["next_winner"][alive]
    np.testing.assert_array_equal(winner[ended] == r["color"][alive][ended], winner[ended] != -1)
    np.testing.assert_array_equal(v_next[ended], np.where(winner[ended] == -1, 0, -1))


@pytest.mark.parametrize("solver_color", [X, O])
def test_solver_never_loses_to_random_play(rollout, solver_color):
    prob = [0.0, 0.0]
    prob[solver_color] = 1.0
    winner, r = rollout(1 + solver_color, prob)
    assert not (winner == 1 - solver_color).any()
    # Sanity check that the opponent really played at random: the solver wins most games.
    assert (winner == solver_color).mean() > 0.5
    mover = r["alive"] & (r["color"] == solver_color)
    assert ttt.is_optimal(r["board"][mover], r["action"][mover]).all()


def test_self_play_always_draws(rollout):
    winner, r = rollout(3, [1.0, 1.0])
    assert (winner == -1).all()
    assert (r["next_board"][-1] != E).all()
