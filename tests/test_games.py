"""Two-player games, search and self-play: the game contract over every registered game, value signs in
the tree on hand-built tic-tac-toe positions, illegal moves never chosen, outcome targets by hand, and
the arena's opponents."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.games import arena, make_game, registered_games
from purerl.games.core import batch_init, batch_step, is_over, pgx_game
from purerl.games.search import mask_illegal, recurrent_fn, rollout_evaluator, search
from purerl.games.training import SelfPlayRecord, outcome_targets, self_play


def blind_evaluator(key, states):
    """Uniform prior and value 0 everywhere: the search sees only the game's rewards."""
    return jnp.zeros(states.legal_action_mask.shape), jnp.zeros(states.current_player.shape)


def position(game, moves, batch=1):
    """The position after `moves` (from the first mover's view), repeated `batch` times."""
    states = batch_init(game, jax.random.key(0), batch)
    for move in moves:
        states = batch_step(game, jax.random.key(1), states, jnp.full(batch, move, jnp.int32))
    return states


@pytest.fixture(scope="module")
def ttt():
    return make_game("TicTacToe")


def test_registered_games_and_unknown_name():
    assert {"TicTacToe", "ConnectFour", "Othello", "Go-9x9"} <= set(registered_games())
    with pytest.raises(ValueError, match=r"unknown game 'TicTacTo'.*TicTacToe"):
        make_game("TicTacTo")


@pytest.mark.slow  # compile-heavy: keeps the default suite under 10 minutes
@pytest.mark.parametrize("name", sorted(registered_games()))
def test_game_contract(name):
    """jit/vmap over init and step; shapes and dtypes; zero-sum rewards; games end within max_length."""
    game = make_game(name)
    states = jax.jit(lambda k: batch_init(game, k, 4))(jax.random.key(0))
    assert states.observation.shape == (4, *game.obs_shape)
    assert states.legal_action_mask.shape == (4, game.num_actions) and states.legal_action_mask.dtype == bool
    assert states.rewards.shape == (4, 2)
    step = jax.jit(lambda k, s: batch_step(game, k, s, arena.random_policy(k, s)))
    total = jnp.zeros((4, 2))
    for i in range(min(game.max_length, 60)):
        states = step(jax.random.key(i), states)
        total = total + states.rewards
    np.testing.assert_allclose(total.sum(-1), 0.0, atol=1e-6)
    if game.max_length <= 60:
        assert bool(is_over(states).all())


def test_truncation_at_max_length():
    game = pgx_game("connect_four", "ConnectFour-5", 5)
    states = position(game, [0, 1, 2, 3], batch=2)
    assert not bool(is_over(states).any())
    states = batch_step(game, jax.random.key(0), states, jnp.array([4, 4]))
    assert bool(states.truncated.all()) and not bool(states.terminated.any())


def test_one_move_win_reward_and_discount(ttt):
    """X (to move) completes the top row with move 2: the mover's reward is +1 and the game ends."""
    states = position(ttt, [0, 3, 1, 4])
    step = recurrent_fn(ttt, blind_evaluator)
    out, after = step((), jax.random.key(0), jnp.array([2]), states)
    assert float(out.reward[0]) == 1.0 and float(out.discount[0]) == 0.0 and float(out.value[0]) == 0.0
    out, _ = step((), jax.random.key(0), jnp.array([5]), states)  # not winning: turn passes, discount -1
    assert float(out.reward[0]) == 0.0 and float(out.discount[0]) == -1.0
    assert bool(after.terminated[0])


def test_search_finds_wins_and_blocks_from_rewards_alone(ttt):
    """With a blind evaluator only the game's rewards inform the search: it takes an immediate win, and
    blocks the opponent's (which needs the value sign flipped between players)."""
    cases = [
        ([0, 3, 1, 4], 2),  # X to move wins at once
        ([0, 4, 1], 2),  # O to move must block X's top row
        ([4, 0, 8, 2], 1),  # O threatens 0-1-2; X to move must block at 1
    ]
    positions = [position(ttt, moves) for moves, _ in cases]
    states = jax.tree.map(lambda *xs: jnp.concatenate(xs), *positions)
    actions, _ = jax.jit(lambda k, s: search(k, ttt, blind_evaluator, s, 64, gumbel_scale=0.0))(
        jax.random.key(0), states
    )
    expected = [e for _, e in cases]
    np.testing.assert_array_equal(np.asarray(actions), expected)
    optimal = np.asarray(jax.vmap(ttt.optimal_moves)(states))
    assert optimal[np.arange(3), expected].all()


@pytest.mark.slow  # compile-heavy: keeps the default suite under 10 minutes
@pytest.mark.parametrize("name", ["TicTacToe", "ConnectFour"])
def test_illegal_moves_never_chosen(name):
    """From random mid-game positions (and, in connect four, a full first column), with a random prior,
    search never picks an illegal move and its policy is zero on them."""
    game = make_game(name)
    moves = [0, 0, 0, 0, 0, 0] if name == "ConnectFour" else [4, 0]
    states = position(game, moves, batch=64)
    states = batch_step(game, jax.random.key(5), states, arena.random_policy(jax.random.key(6), states))
    assert not bool(is_over(states).any())

    def noisy_evaluator(key, states):
        logits = 5.0 * jax.random.normal(key, states.legal_action_mask.shape)
        return logits, jnp.tanh(jax.random.normal(key, states.current_player.shape))

    actions, policy = jax.jit(lambda k, s: search(k, game, noisy_evaluator, s, 16))(jax.random.key(2), states)
    legal = np.asarray(states.legal_action_mask)
    assert legal[np.arange(64), np.asarray(actions)].all()
    assert np.all(np.asarray(policy)[~legal] == 0.0)
    np.testing.assert_allclose(np.asarray(policy).sum(-1), 1.0, rtol=1e-5)
    if name == "ConnectFour":
        assert not legal[:, 0].any()


def test_self_play_shapes_and_policy_targets(ttt):
    records = jax.jit(lambda k: self_play(k, ttt, blind_evaluator, 3, 12, 4))(jax.random.key(0))
    assert records.obs.shape == (12, 3, 3, 3, 2) and records.policy.shape == (12, 3, 9)
    assert records.mover.shape == records.reward.shape == records.over.shape == (12, 3)
    np.testing.assert_allclose(np.asarray(records.policy).sum(-1), 1.0, rtol=1e-5)
    assert np.all(np.asarray(records.policy)[~np.asarray(records.legal)] == 0.0)
    # A game of tic-tac-toe lasts 5 to 9 moves, so the first game of every column ends within 9.
    assert np.asarray(records.over[:9]).any(axis=0).all()


def _records(**columns):
    fields = {name: np.asarray(value) for name, value in columns.items()}
    return SelfPlayRecord(obs=None, legal=None, policy=None, **fields)


def test_outcome_targets_by_hand():
    """Column 0: X (player 0), O, X; X wins at t=2, then a new game (t=3, 4) still running at the end:
    unknown. Column 1: a game cut at t=1 (truncated: unknown), then a new game that player 1 opens at
    t=2 and wins with its move at t=4."""
    records = _records(
        mover=[[0, 0], [1, 1], [0, 1], [1, 0], [0, 1]],
        next_mover=[[1, 1], [0, 0], [1, 0], [0, 1], [1, 0]],
        reward=[[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 1.0]],
        terminated=[[False, False], [False, False], [True, False], [False, False], [False, True]],
        over=[[False, False], [False, True], [True, False], [False, False], [False, True]],
    )
    z, known = outcome_targets(records)
    np.testing.assert_array_equal(np.asarray(known[:, 0]), [True, True, True, False, False])
    np.testing.assert_allclose(np.asarray(z[:3, 0]), [1.0, -1.0, 1.0])
    np.testing.assert_array_equal(np.asarray(known[:, 1]), [False, False, True, True, True])
    np.testing.assert_allclose(np.asarray(z[2:, 1]), [1.0, -1.0, 1.0])


def test_mask_illegal_keeps_softmax_finite():
    logits = mask_illegal(jnp.zeros(3), jnp.array([True, False, True]))
    np.testing.assert_allclose(np.asarray(jax.nn.softmax(logits)), [0.5, 0.0, 0.5])


def test_arena_seats_and_opponents(ttt):
    results = jax.jit(lambda k: arena.play(k, ttt, arena.solver_policy(ttt), arena.random_policy, 64))(
        jax.random.key(0)
    )
    assert int(results.a_first.sum()) == 32
    assert float((results.score < 0).mean()) == 0.0 and float((results.score > 0).mean()) > 0.5
    np.testing.assert_allclose(np.asarray(results.optimal_rate), 1.0)
    both = jax.jit(lambda k: arena.play(k, ttt, arena.solver_policy(ttt), arena.solver_policy(ttt), 16))(
        jax.random.key(1)
    )
    assert np.all(np.asarray(both.score) == 0.0) and np.all(np.asarray(both.length) == 9)


@pytest.mark.slow  # compile-heavy: keeps the default suite under 10 minutes
def test_search_only_beats_random(ttt):
    policy = arena.search_only_policy(ttt, 16)
    results = jax.jit(lambda k: arena.play(k, ttt, policy, arena.random_policy, 64))(jax.random.key(0))
    assert float(results.score.mean()) > 0.5
    assert arena.search_only_policy(ttt, 0) is arena.random_policy
    _, value = rollout_evaluator(ttt)(jax.random.key(0), position(ttt, [0, 3, 1, 4, 2]))
    assert float(value[0]) == 0.0  # a finished game's playout scores nothing more


def test_nim_rules_and_exact_solution():
    game = make_game("Nim", pile=5)
    states = position(game, [])  # 5 stones: the mover wins by taking 1 (leaves 4)
    np.testing.assert_array_equal(np.asarray(jax.vmap(game.optimal_moves)(states))[0], [True, False, False])
    states = position(game, [0])  # 4 stones: lost, every move is as bad
    np.testing.assert_array_equal(np.asarray(jax.vmap(game.optimal_moves)(states))[0], [True, True, True])
    states = position(game, [0, 2])  # 4 - 3 = 1 stone left
    mover = int(states.current_player[0])
    assert not bool(states.legal_action_mask[0, 1])  # cannot take 2 of 1
    after = batch_step(game, jax.random.key(0), states, jnp.array([0]))
    assert bool(after.terminated[0]) and float(after.rewards[0, mover]) == 1.0
    again = batch_step(game, jax.random.key(0), after, jnp.array([0]))  # a finished game stays put
    assert float(jnp.abs(again.rewards).sum()) == 0.0 and int(again.stones[0]) == 0
    illegal = batch_step(game, jax.random.key(0), states, jnp.array([2]))  # taking 3 of 1 loses at once
    assert bool(illegal.terminated[0]) and float(illegal.rewards[0, mover]) == -1.0
    solver = jax.jit(lambda k: arena.play(k, game, arena.solver_policy(game), arena.random_policy, 32))
    results = solver(jax.random.key(0))
    # From 5 stones the first mover wins with perfect play; second, the solver wins unless random
    # happens to play perfectly too.
    assert np.all(np.asarray(results.score)[np.asarray(results.a_first)] == 1.0)


def test_docs_example_registers_a_game():
    """docs/games.md's example: a new game is one `register_game` call."""
    from purerl.games import register_game
    from purerl.games.nim import make_nim

    if "Nim-31" not in registered_games():
        register_game("Nim-31", lambda: make_nim(pile=31))
    game = make_game("Nim-31")
    assert game.obs_shape == (32,) and game.max_length == 31
    with pytest.raises(ValueError, match="already registered"):
        register_game("Nim-31", lambda: make_nim(pile=31))
