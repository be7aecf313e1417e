"""Tests for purerl.ratings (host-side NumPy; fast)."""

import math

import numpy as np
import pytest

from purerl import ratings

GAP_75 = 400.0 * math.log10(3.0)  # Elo gap of a 75% score: 10 ** (gap / 400) = 0.75 / 0.25


def _expected_results(elo: np.ndarray, games_per_pair: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact expected points ``[N, N]`` and games ``[N, N]`` of a round robin between rated players."""
    n = elo.size
    games = np.full((n, n), float(games_per_pair)) * (1.0 - np.eye(n))
    wins = games * ratings.predicted_score(elo[:, None], elo[None, :])
    return wins, games


def _sampled_seeds(elo: np.ndarray, num_seeds: int, games_per_pair: int, seed: int):
    """Random per-seed results ``[S, N, N]`` of a round robin with win probabilities from ``elo``."""
    rng = np.random.default_rng(seed)
    n = elo.size
    p = ratings.predicted_score(elo[:, None], elo[None, :])
    wins = np.zeros((num_seeds, n, n))
    games = np.zeros((num_seeds, n, n))
    for i in range(n):
        for j in range(i + 1, n):
            won = rng.binomial(games_per_pair, p[i, j], size=num_seeds)
            wins[:, i, j], wins[:, j, i] = won, games_per_pair - won
            games[:, i, j] = games[:, j, i] = games_per_pair
    return wins, games


def _mm_reference(wins: np.ndarray, games: np.ndarray, iters: int = 20_000) -> np.ndarray:
    """Hunter's (2004) MM iteration gamma_i <- W_i / sum_j n_ij / (gamma_i + gamma_j), in Elo, mean 0."""
    gamma = np.ones(wins.shape[0])
    points = wins.sum(axis=1)
    for _ in range(iters):
        gamma = points / (games / (gamma[:, None] + gamma[None, :])).sum(axis=1)
        gamma /= np.exp(np.log(gamma).mean())
    elo = ratings.ELO_PER_NAT * np.log(gamma)
    return elo - elo.mean()


# ----------------------------------------------------------------------------------------------------
# predicted_score


def test_predicted_score_formula_and_symmetry():
    assert ratings.predicted_score(1500.0, 1500.0) == 0.5
    assert ratings.predicted_score(GAP_75, 0.0) == pytest.approx(0.75)
    assert ratings.predicted_score(0.0, 400.0) == pytest.approx(1.0 / 11.0)  # 1 / (1 + 10)
    a, b = np.array([0.0, 100.0, -250.0]), np.array([[30.0], [-800.0]])
    s = ratings.predicted_score(a, b)
    assert s.shape == (2, 3)
    np.testing.assert_allclose(s, 1.0 / (1.0 + 10.0 ** ((b - a) / 400.0)))
    np.testing.assert_allclose(s + ratings.predicted_score(b, a), 1.0)
    assert ratings.predicted_score(1e5, 0.0) == 1.0  # saturates without overflow warnings


# ----------------------------------------------------------------------------------------------------
# fit_bradley_terry


def test_two_players_75_percent_is_190_8_elo():
    wins = np.array([[0.0, 75.0], [25.0, 0.0]])
    games = np.array([[0.0, 100.0], [100.0, 0.0]])
    elo = ratings.fit_bradley_terry(wins, games, anchor=1, prior_games=0)
    np.testing.assert_allclose(elo, [GAP_75, 0.0], atol=1e-8)
    assert abs(GAP_75 - 190.85) < 0.01
    # Without an anchor the mean is 0, so the two sit at +-gap / 2.
    np.testing.assert_allclose(
        ratings.fit_bradley_terry(wins, games, prior_games=0), [GAP_75 / 2, -GAP_75 / 2]
    )


def test_prior_is_virtual_draws_on_pairs_that_met():
    rng = np.random.default_rng(0)
    n = 5
    games = rng.integers(0, 6, size=(n, n)).astype(float)
    games = np.triu(games, 1) + np.triu(games, 1).T
    games[0, 1] = games[1, 0] = 3.0  # keep the graph connected whatever the draw
    for i in range(n - 1):
        games[i, i + 1] = games[i + 1, i] = max(games[i, i + 1], 1.0)
    frac = rng.uniform(size=(n, n))
    wins = np.round(np.triu(games * frac, 1))
    wins = wins + np.triu(games, 1).T - wins.T
    played = (games > 0).astype(float)
    with_prior = ratings.fit_bradley_terry(wins, games, prior_games=2.0)
    by_hand = ratings.fit_bradley_terry(wins + played, games + 2.0 * played, prior_games=0)
    np.testing.assert_allclose(with_prior, by_hand, atol=1e-8)
    np.testing.assert_allclose(with_prior, _mm_reference(wins + played, games + 2.0 * played), atol=1e-6)


def test_transitive_chain_recovers_generating_ratings():
    true_elo = np.array([0.0, 120.0, 400.0])  # random < search-only < solver-like
    wins, games = _expected_results(true_elo, 1e6)
    elo = ratings.fit_bradley_terry(wins, games, anchor=0, prior_games=0)
    np.testing.assert_allclose(elo, true_elo, atol=1e-6)
    # The default prior (one virtual game per pair) moves ratings by well under an Elo point here.
    np.testing.assert_allclose(ratings.fit_bradley_terry(wins, games, anchor=0), true_elo, atol=0.1)


def test_chain_that_only_meets_neighbours_is_linked_transitively():
    true_elo = np.array([0.0, 150.0, 300.0, 450.0])
    wins, games = _expected_results(true_elo, 1e4)
    chain = np.abs(np.subtract.outer(np.arange(4), np.arange(4))) == 1  # 0-1, 1-2, 2-3 only
    elo = ratings.fit_bradley_terry(wins * chain, games * chain, anchor=0, prior_games=0)
    np.testing.assert_allclose(elo, true_elo, atol=1e-6)


def test_undefeated_player_is_finite_and_highest_with_prior():
    # Player 2 (e.g. an exact solver) wins all its games; 0 and 1 split theirs 6-4.
    wins = np.array([[0.0, 6.0, 0.0], [4.0, 0.0, 0.0], [10.0, 10.0, 0.0]])
    games = np.array([[0.0, 10.0, 10.0], [10.0, 0.0, 10.0], [10.0, 10.0, 0.0]])
    elo = ratings.fit_bradley_terry(wins, games, anchor=0)
    assert np.all(np.isfinite(elo))
    assert np.argmax(elo) == 2
    assert elo[2] - elo[1] > 400.0  # finite, although 2 never dropped a point
    assert elo[0] > elo[1]
    # More prior mass pulls the gap in; no prior has no finite answer and says how to get one.
    assert ratings.fit_bradley_terry(wins, games, anchor=0, prior_games=4.0)[2] < elo[2]
    with pytest.raises(ValueError, match=r"^wins: .*prior_games > 0"):
        ratings.fit_bradley_terry(wins, games, prior_games=0)
    # A winless player is the mirror case.
    elo_t = ratings.fit_bradley_terry(wins.T, games, anchor=0)
    assert np.argmin(elo_t) == 2 and np.all(np.isfinite(elo_t))


def test_anchor_and_mean_centering():
    wins, games = _expected_results(np.array([0.0, 50.0, 200.0, -100.0]), 100.0)
    centered = ratings.fit_bradley_terry(wins, games, prior_games=0)
    assert centered.mean() == pytest.approx(0.0, abs=1e-9)
    anchored = ratings.fit_bradley_terry(wins, games, anchor=3, anchor_elo=1000.0, prior_games=0)
    assert anchored[3] == pytest.approx(1000.0)
    np.testing.assert_allclose(anchored - anchored[3], centered - centered[3], atol=1e-9)
    mean_1500 = ratings.fit_bradley_terry(wins, games, anchor_elo=1500.0, prior_games=0)
    assert mean_1500.mean() == pytest.approx(1500.0)


def test_symmetric_results_give_equal_ratings():
    n = 4
    games = np.full((n, n), 8.0) * (1.0 - np.eye(n))
    np.testing.assert_allclose(ratings.fit_bradley_terry(games / 2, games), 0.0, atol=1e-9)
    # Rock-paper-scissors: every player beats the next 3-1, so all are equal too.
    wins = np.array([[0.0, 3.0, 1.0], [1.0, 0.0, 3.0], [3.0, 1.0, 0.0]])
    rps = ratings.fit_bradley_terry(wins, 4.0 * (1.0 - np.eye(3)), prior_games=0)
    np.testing.assert_allclose(rps, 0.0, atol=1e-9)


def test_single_player_gets_the_anchor_rating():
    np.testing.assert_array_equal(ratings.fit_bradley_terry([[0.0]], [[0.0]], anchor_elo=7.0), [7.0])


def test_fit_matches_mm_reference_on_random_results():
    wins, games = _sampled_seeds(np.array([0.0, 80.0, 160.0, 240.0, 320.0]), 1, 20, seed=3)
    np.testing.assert_allclose(
        ratings.fit_bradley_terry(wins[0], games[0], prior_games=0),
        _mm_reference(wins[0], games[0]),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    ("wins", "games", "kwargs", "match"),
    [
        (np.zeros((2, 3)), np.zeros((2, 3)), {}, r"^wins and games must be square"),
        (np.zeros((2, 2)), np.zeros((3, 3)), {}, r"^wins and games must have one shape"),
        (np.zeros(3), np.zeros(3), {}, r"^wins must be an \[N, N\] matrix"),
        ([[0, 0], [0, 0]], [[0, -1], [-1, 0]], {}, r"^games must be non-negative"),
        ([[0, 3], [0, 0]], [[0, 2], [2, 0]], {}, r"^wins must not exceed games"),
        ([[0, 1], [0, 0]], [[0, 2], [2, 0]], {}, r"^wins\[i, j\] \+ wins\[j, i\] must equal games"),
        ([[0, 1], [1, 0]], [[0, 2], [1, 0]], {}, r"^games must be symmetric"),
        ([[0, 1], [1, 0]], [[1, 2], [2, 0]], {}, r"^games and wins must have a zero diagonal"),
        ([[0, 1], [1, 0]], [[0, np.nan], [2, 0]], {}, r"^wins and games must be finite"),
        ([[0, 1], [1, 0]], [[0, 2], [2, 0]], {"anchor": 2}, r"^anchor must be"),
        ([[0, 1], [1, 0]], [[0, 2], [2, 0]], {"prior_games": -1.0}, r"^prior_games must be"),
    ],
)
def test_fit_rejects_bad_input(wins, games, kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        ratings.fit_bradley_terry(np.asarray(wins, float), np.asarray(games, float), **kwargs)
    assert "\n" not in str(info.value)


def test_fit_rejects_unlinked_groups():
    games = np.zeros((4, 4))
    games[0, 1] = games[1, 0] = games[2, 3] = games[3, 2] = 2.0
    with pytest.raises(ValueError, match=r"^games: players \[2, 3\] are not linked"):
        ratings.fit_bradley_terry(games / 2, games)


# ----------------------------------------------------------------------------------------------------
# outcome_rates


def test_outcome_rates_hand_checked():
    outcomes = np.array([[1, 1, 0, -1], [1, -1, -1, -1]])  # [seeds=2, games=4]
    r = ratings.outcome_rates(outcomes, num_resamples=500)
    # Seed 0: W .5 D .25 L .25 score .25; seed 1: W .25 D 0 L .75 score -.5.
    assert r.win.value == pytest.approx(0.375)
    assert r.draw.value == pytest.approx(0.125)
    assert r.loss.value == pytest.approx(0.5)
    assert r.score.value == pytest.approx(-0.125)
    assert (r.num_seeds, r.games_per_seed) == (2, 4)
    for est, lo, hi in [(r.win, 0.25, 0.5), (r.draw, 0.0, 0.25), (r.loss, 0.25, 0.75), (r.score, -0.5, 0.25)]:
        # Two seeds: a resample mean is one seed's value or their average.
        assert lo <= est.low <= est.value <= est.high <= hi
    assert ratings.outcome_rates(outcomes.T, seed_axis=1, num_resamples=500) == r


def test_outcome_rates_single_seed_collapses_and_cis_shrink_with_seeds():
    one = ratings.outcome_rates([[1, 0, -1, 1]])
    assert one.win == ratings.Estimate(0.5, 0.5, 0.5)
    rng = np.random.default_rng(0)
    # Per-seed skill varies, so seeds differ beyond game noise.
    p_win = rng.uniform(0.3, 0.7, size=(256, 1))
    outcomes = np.where(rng.uniform(size=(256, 20)) < p_win, 1, -1)
    few = ratings.outcome_rates(outcomes[:8], num_resamples=500)
    many = ratings.outcome_rates(outcomes, num_resamples=500)
    for r in (few, many):
        assert r.score.low <= r.score.value <= r.score.high
    assert many.score.high - many.score.low < 0.5 * (few.score.high - few.score.low)


@pytest.mark.parametrize(
    ("outcomes", "kwargs", "match"),
    [
        ([1, 0, -1], {}, r"^outcomes must be a non-empty \[num_seeds, num_games\]"),
        (np.zeros((0, 3)), {}, r"^outcomes must be a non-empty"),
        ([[1, 0.5]], {}, r"^outcomes must contain only"),
        ([[1, np.nan]], {}, r"^outcomes must contain only"),
        ([[1, 0]], {"seed_axis": 2}, r"^seed_axis must be"),
        ([[1, 0]], {"confidence": 1.5}, r"^confidence must be"),
    ],
)
def test_outcome_rates_rejects_bad_input(outcomes, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ratings.outcome_rates(outcomes, **kwargs)


# ----------------------------------------------------------------------------------------------------
# game_matrices and elo_with_ci


def test_game_matrices_from_records():
    # (player_i, player_j, seed, score_i): a win, a draw and a loss of 0 against 1 in seed 0, one win of
    # 2 over 0 in seed 1.
    records = [(0, 1, 0, 1.0), (1, 0, 0, 0.5), (0, 1, 0, 0.0), (2, 0, 1, 1.0)]
    wins, games = ratings.game_matrices(records)
    assert wins.shape == games.shape == (2, 3, 3)
    np.testing.assert_array_equal(wins[0], [[0, 1.5, 0], [1.5, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(games[0], [[0, 3, 0], [3, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(wins[1], [[0, 0, 0], [0, 0, 0], [1, 0, 0]])
    assert ratings.game_matrices(records, num_players=5, num_seeds=4)[0].shape == (4, 5, 5)
    with pytest.raises(ValueError, match=r"^records: score_i must be in \[0, 1\]"):
        ratings.game_matrices([(0, 1, 0, -1.0)])
    with pytest.raises(ValueError, match=r"^records: player_i equals player_j"):
        ratings.game_matrices([(1, 1, 0, 1.0)])
    with pytest.raises(ValueError, match=r"^records must be a non-empty \[num_games, 4\]"):
        ratings.game_matrices([(0, 1, 1.0)])
    with pytest.raises(ValueError, match=r"^num_players is 2"):
        ratings.game_matrices(records, num_players=2)


def test_elo_with_ci_contains_point_and_shrinks_with_seeds():
    true_elo = np.array([0.0, 100.0, 250.0])
    wins, games = _sampled_seeds(true_elo, 64, 10, seed=1)
    few = ratings.elo_with_ci(wins[:4], games[:4], anchor=0, num_resamples=300)
    many = ratings.elo_with_ci(wins, games, anchor=0, num_resamples=300)
    for est in (few, many):
        assert est.samples.shape == (300, 3)
        assert np.all(est.low <= est.elo) and np.all(est.elo <= est.high)
        assert est.low[0] == est.high[0] == 0.0  # the anchor is fixed in every resample
    width = lambda est: (est.high - est.low)[1:]
    assert np.all(width(many) < 0.5 * width(few))
    assert np.all(many.low[1:] <= true_elo[1:]) and np.all(true_elo[1:] <= many.high[1:])
    pooled = ratings.fit_bradley_terry(wins.sum(0), games.sum(0), anchor=0)
    np.testing.assert_allclose(many.elo, pooled)
    again = ratings.elo_with_ci(wins[:4], games[:4], anchor=0, num_resamples=300)
    np.testing.assert_array_equal(again.samples, few.samples)  # same seed, same resamples


def test_elo_with_ci_prior_links_pairs_missing_from_a_resample():
    # Players 0 and 1 meet only in seed 0; 1 and 2 only in seed 1. Many resamples miss one of the two
    # seeds, yet the prior on pairs that met in any seed keeps every refit defined and finite.
    records = [(0, 1, 0, 1.0), (0, 1, 0, 0.0), (1, 2, 1, 1.0), (1, 2, 1, 0.5)]
    est = ratings.elo_with_ci(*ratings.game_matrices(records), anchor=0, num_resamples=200)
    assert np.all(np.isfinite(est.samples))
    with pytest.raises(ValueError, match=r"^bootstrap resample \d+: "):
        ratings.elo_with_ci(*ratings.game_matrices(records), prior_games=0, num_resamples=200)


def test_elo_with_ci_rejects_bad_input():
    wins, games = _sampled_seeds(np.zeros(2), 2, 4, seed=0)
    with pytest.raises(ValueError, match=r"^wins must be \[num_seeds, N, N\]"):
        ratings.elo_with_ci(wins[0], games[0])
    bad = games.copy()
    bad[1, 0, 1] = -4.0
    with pytest.raises(ValueError, match=r"^games must be non-negative"):
        ratings.elo_with_ci(wins, bad)
    with pytest.raises(ValueError, match=r"^num_resamples must be"):
        ratings.elo_with_ci(wins, games, num_resamples=0)


def test_fits_converge_where_rounding_swamps_the_line_search():
    """Random tournaments with lopsided and drawn pairs: near the optimum the log-likelihood's rounding
    once made the Armijo test fail for every step, and the fit stopped after 100 crawling iterations."""
    rng = np.random.default_rng(0)
    for _ in range(40):
        strength = rng.normal(0.0, 3.0, 6)
        wins = np.zeros((4, 6, 6))
        games = np.zeros((4, 6, 6))
        for i in range(6):
            for j in range(i + 1, 6):
                p = 1.0 / (1.0 + np.exp(strength[j] - strength[i]))
                w = np.full(4, 4.0) if rng.random() < 0.3 else rng.binomial(8, p, 4).astype(float)
                wins[:, i, j], wins[:, j, i] = w, 8.0 - w
                games[:, i, j] = games[:, j, i] = 8.0
        estimate = ratings.elo_with_ci(wins, games, anchor=0, num_resamples=20)
        assert np.all(np.isfinite(estimate.elo))
