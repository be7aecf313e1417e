"""Ratings and outcome rates for two-player game results (e.g. AlphaZero self-play evaluation).

Players are indexed ``0..N-1``: checkpoints of one or more runs and fixed opponents (a random player, a
search-only player, an exact solver). Everything here is NumPy on the host.

Model (Bradley and Terry, 1952): player ``i`` has log-strength ``theta_i`` and scores against ``j`` with
probability ``p_ij = 1 / (1 + exp(theta_j - theta_i))``. Ratings are maximum-likelihood estimates, found
by Newton's method on the concave log-likelihood ``sum_{i != j} w_ij log p_ij``, where ``w_ij`` is the
number of points ``i`` scored against ``j``.

Draws count as half a win for each side (the usual Elo convention): a draw adds 0.5 to ``w_ij`` and 0.5 to
``w_ji``, so the likelihood counts it as half a win plus half a loss. There is no separate draw parameter:
draws move ratings only through the score they give.

Scale: ratings are reported on the Elo scale, ``elo = 400 / ln(10) * theta`` (about 173.7 Elo per unit of
log-strength), so ``predicted_score(a, b) = 1 / (1 + 10 ** ((b - a) / 400))``: a 75% score is a gap of
``400 * log10(3)``, about 190.8 Elo. Only differences are identified; the ``anchor`` player is set to
``anchor_elo`` (e.g. the random player at 0), or, without an anchor, the mean rating is.

Prior: a player who won (or lost) every game has no finite maximum-likelihood rating. By default every
pair of players that actually met gets ``prior_games`` extra virtual games, drawn: ``prior_games / 2``
points to each side. This is a weak symmetric prior that pulls each such pair's gap towards zero by about
as much as ``prior_games`` drawn games would, keeps every rating finite, and leaves pairs that never met
unconnected (so it never links two groups of players that are not compared by real games). Two players
alone, one winning all ``n`` games, then sit ``400 * log10((2 n + p) / p)`` Elo apart for
``p = prior_games`` (1320 Elo for n = 1000, p = 1), so the prior matters only for near-perfect records. With
``prior_games=0`` the fit is the plain maximum-likelihood estimate, which exists exactly when no group of
players failed to score against the rest (Zermelo, 1929; Ford, 1957); otherwise a ``ValueError`` says so.

Uncertainty: games within one training seed are correlated (one network plays them all), so the
bootstrap resamples whole seeds, as in :mod:`purerl.stats` (Agarwal et al., 2021): ``outcome_rates``
averages the games of each seed and resamples the seed means; ``elo_with_ci`` resamples seeds' result
matrices, sums them and refits.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from purerl import stats
from purerl.stats import _check_bootstrap_args, _percentile_interval

ELO_PER_NAT = 400.0 / math.log(10.0)  # Elo points per unit of log-strength theta

__all__ = [
    "ELO_PER_NAT",
    "EloEstimate",
    "Estimate",
    "OutcomeRates",
    "elo_with_ci",
    "fit_bradley_terry",
    "game_matrices",
    "outcome_rates",
    "predicted_score",
]


class Estimate(NamedTuple):
    """A point estimate with a bootstrap confidence interval (Python floats)."""

    value: float
    low: float
    high: float


class OutcomeRates(NamedTuple):
    """Win, draw and loss rates and mean score of player A, each with a bootstrap interval."""

    win: Estimate
    draw: Estimate
    loss: Estimate
    score: Estimate  # mean of outcomes in {+1, 0, -1}: win rate minus loss rate
    num_seeds: int
    games_per_seed: int


class EloEstimate(NamedTuple):
    """Fitted Elo ratings with per-player bootstrap intervals.

    Attributes:
        elo: ``[N]`` ratings fitted on the results of all seeds.
        low: ``[N]`` lower ends of the intervals.
        high: ``[N]`` upper ends of the intervals.
        samples: ``[num_resamples, N]`` refitted ratings, one row per resample; use them for intervals of
            differences, e.g. ``np.percentile(samples[:, k] - samples[:, 0], [2.5, 97.5])``.
    """

    elo: np.ndarray
    low: np.ndarray
    high: np.ndarray
    samples: np.ndarray


# ----------------------------------------------------------------------------------------------------
# Outcome rates


def outcome_rates(
    outcomes: ArrayLike,
    *,
    seed_axis: int = 0,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> OutcomeRates:
    """Win, draw and loss rates and mean score of player A over seeds, with stratified bootstrap CIs.

    Each seed's games are averaged first, then the seed means are averaged (every seed weighs the same)
    and resampled with :func:`purerl.stats.bootstrap_ci`. The four intervals use one seed, hence the same
    resampled seeds.

    Args:
        outcomes: ``[num_seeds, num_games]`` scores of player A, each +1 (win), 0 (draw) or -1 (loss).
        seed_axis: the axis that indexes seeds (1 for a ``[num_games, num_seeds]`` array).
        num_resamples: bootstrap resamples.
        confidence: coverage of the intervals, in (0, 1).
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        An :class:`OutcomeRates`. With one seed every interval collapses to its point estimate.

    Raises:
        ValueError: on a non-2-D or empty array, values other than -1, 0, 1, a bad ``seed_axis`` or bad
            bootstrap arguments.
    """
    _check_bootstrap_args(num_resamples, confidence)
    a = np.asarray(outcomes, dtype=np.float64)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"outcomes must be a non-empty [num_seeds, num_games] array, got shape {a.shape}.")
    if seed_axis not in (0, 1, -1, -2):
        raise ValueError(f"seed_axis must be 0 or 1 for 2-D outcomes, got {seed_axis}.")
    a = np.moveaxis(a, seed_axis, 0)
    if not np.all((a == 1.0) | (a == 0.0) | (a == -1.0)):
        raise ValueError("outcomes must contain only +1 (win), 0 (draw) and -1 (loss) (NaN is rejected too).")
    per_seed = {
        "win": (a == 1.0).mean(axis=1),
        "draw": (a == 0.0).mean(axis=1),
        "loss": (a == -1.0).mean(axis=1),
        "score": a.mean(axis=1),
    }  # each [num_seeds]
    estimates = {}
    for name, values in per_seed.items():
        low, high = stats.bootstrap_ci(values, stats.mean, num_resamples, confidence, seed)
        estimates[name] = Estimate(float(values.mean()), low, high)
    return OutcomeRates(**estimates, num_seeds=int(a.shape[0]), games_per_seed=int(a.shape[1]))


# ----------------------------------------------------------------------------------------------------
# Bradley-Terry fit


def predicted_score(elo_i: ArrayLike, elo_j: ArrayLike) -> float | np.ndarray:
    """Expected score of ``i`` against ``j``, draws half a win: ``1 / (1 + 10 ** ((elo_j - elo_i) / 400))``.

    Args:
        elo_i: rating(s) of ``i``, any shape broadcastable with ``elo_j``.
        elo_j: rating(s) of ``j``.

    Returns:
        A Python float for scalar inputs, else the broadcast array of scores in (0, 1).
    """
    gap = (np.asarray(elo_i, dtype=np.float64) - np.asarray(elo_j, dtype=np.float64)) / ELO_PER_NAT
    # sigmoid(gap) written with tanh, which does not overflow for large |gap| as exp would.
    score = 0.5 * (1.0 + np.tanh(0.5 * gap))
    return float(score) if score.ndim == 0 else score


def _check_matrices(wins: np.ndarray, games: np.ndarray) -> None:
    """Validates ``[..., N, N]`` points and games (one matrix or a stack of per-seed matrices)."""
    w, g = "wins", "games"
    if wins.shape != games.shape:
        raise ValueError(f"{w} and {g} must have one shape, got {wins.shape} and {games.shape}.")
    if wins.ndim < 2 or wins.shape[-1] != wins.shape[-2] or wins.shape[-1] == 0:
        raise ValueError(f"{w} and {g} must be square [N, N] matrices (N >= 1), got shape {wins.shape}.")
    if not (np.all(np.isfinite(wins)) and np.all(np.isfinite(games))):
        raise ValueError(f"{w} and {g} must be finite (no NaN or inf).")
    if np.any(games < 0):
        raise ValueError(f"{g} must be non-negative, got a minimum of {games.min()}.")
    if np.any(wins < 0):
        raise ValueError(f"{w} must be non-negative, got a minimum of {wins.min()}.")
    diag = np.arange(wins.shape[-1])
    if np.any(games[..., diag, diag] != 0) or np.any(wins[..., diag, diag] != 0):
        raise ValueError(f"{g} and {w} must have a zero diagonal: a player does not play itself.")
    tol = 1e-9 * max(1.0, float(games.max()))
    if np.any(np.abs(games - np.swapaxes(games, -1, -2)) > tol):
        raise ValueError(f"{g} must be symmetric: games[i, j] == games[j, i].")
    if np.any(wins > games + tol):
        raise ValueError(f"{w} must not exceed {g}: player i cannot score more points than games against j.")
    if np.any(np.abs(wins + np.swapaxes(wins, -1, -2) - games) > tol):
        raise ValueError(
            f"{w}[i, j] + {w}[j, i] must equal {g}[i, j] (one point per game, a draw is 0.5 each)."
        )


def _reachable(adjacency: np.ndarray, start: int) -> np.ndarray:
    """``[N]`` bool: the players reachable from ``start`` along directed edges ``adjacency[i, j]``."""
    seen = np.zeros(adjacency.shape[0], dtype=bool)
    seen[start] = True
    frontier = seen.copy()
    while frontier.any():
        frontier = adjacency[frontier].any(axis=0) & ~seen
        seen |= frontier
    return seen


def _check_anchor(anchor: int | None, num_players: int) -> None:
    if anchor is None:
        return
    if isinstance(anchor, bool) or not isinstance(anchor, int | np.integer) or not 0 <= anchor < num_players:
        raise ValueError(f"anchor must be a player index in [0, {num_players}) or None, got {anchor!r}.")


def _check_prior(prior_games: float) -> None:
    if not (math.isfinite(prior_games) and prior_games >= 0):
        raise ValueError(f"prior_games must be a finite number >= 0, got {prior_games}.")


def _log_likelihood(theta: np.ndarray, wins: np.ndarray) -> float:
    # sum_{i != j} w_ij log sigmoid(theta_i - theta_j); log sigmoid(x) = -log(1 + exp(-x)).
    diff = theta[:, None] - theta[None, :]
    return float(-(wins * np.logaddexp(0.0, -diff)).sum())


def _newton(wins: np.ndarray, games: np.ndarray, tol: float, max_iter: int) -> np.ndarray:
    """Maximum-likelihood log-strengths ``[N]`` with zero mean; assumes the maximum exists.

    The negative Hessian is the graph Laplacian ``A`` with weights ``n_ij p_ij (1 - p_ij)``; it is singular
    along the all-ones direction (a common shift changes nothing), so each step solves
    ``(A + 11^T) d = g``, whose solution is the zero-mean solution of ``A d = g`` because ``g`` sums to 0.
    A backtracking line search keeps every step an ascent step far from the optimum.
    """
    n = wins.shape[0]
    theta = np.zeros(n)
    points = wins.sum(axis=1)  # [N] W_i
    scale = max(1.0, float(games.sum(axis=1).max()))
    ll = _log_likelihood(theta, wins)
    for _ in range(max_iter):
        p = 0.5 * (1.0 + np.tanh(0.5 * (theta[:, None] - theta[None, :])))  # [N, N] p_ij
        grad = points - (games * p).sum(axis=1)
        if np.abs(grad).max() <= tol * scale:
            return theta - theta.mean()
        weights = games * p * (1.0 - p)
        laplacian = np.diag(weights.sum(axis=1)) - weights
        step = np.linalg.solve(laplacian + 1.0, grad)
        if np.abs(step).max() <= 1e-12:  # rounding in the gradient can keep it just above tol
            return theta - theta.mean()
        if np.abs(step).max() <= 1e-6:
            # Near the optimum the log-likelihood's rounding (~1e-13) swamps the Armijo test's gain, so the
            # line search would crawl; a full Newton step converges quadratically from here.
            theta = theta + step
            ll = _log_likelihood(theta, wins)
            continue
        slope = float(grad @ step)
        t = 1.0
        while True:
            candidate = theta + t * step
            ll_candidate = _log_likelihood(candidate, wins)
            if ll_candidate >= ll + 1e-4 * t * slope:
                break
            t *= 0.5
            if t < 1e-10:  # no ascent left at working precision: this is the optimum
                return theta - theta.mean()
        theta, ll = candidate, ll_candidate
    raise RuntimeError(f"Bradley-Terry Newton iteration did not converge in {max_iter} steps.")


def _fit(
    wins: np.ndarray,
    games: np.ndarray,
    prior_pairs: np.ndarray,
    prior_games: float,
    anchor: int | None,
    anchor_elo: float,
    tol: float,
    max_iter: int,
) -> np.ndarray:
    """Elo ratings ``[N]`` from validated matrices; the prior goes on the pairs where ``prior_pairs``."""
    n = wins.shape[0]
    if n == 1:
        return np.full(1, float(anchor_elo))
    virtual = prior_games * prior_pairs
    wins = wins + 0.5 * virtual
    games = games + virtual
    linked = _reachable(games > 0, 0)
    if not linked.all():
        unreached = np.flatnonzero(~linked).tolist()
        raise ValueError(
            f"games: players {unreached} are not linked to player 0 by any chain of games, so their "
            "ratings are not comparable; fit the groups separately or add games between them."
        )
    scored = wins > 0  # i -> j when i scored against j
    if not (_reachable(scored, 0).all() and _reachable(scored.T, 0).all()):
        raise ValueError(
            "wins: a group of players never scored against the rest (e.g. an undefeated or a winless "
            "player), so the maximum-likelihood ratings diverge; use prior_games > 0."
        )
    elo = ELO_PER_NAT * _newton(wins, games, tol, max_iter)
    shift = elo[anchor] if anchor is not None else elo.mean()
    return elo - shift + float(anchor_elo)


def fit_bradley_terry(
    wins: ArrayLike,
    games: ArrayLike,
    *,
    anchor: int | None = None,
    anchor_elo: float = 0.0,
    prior_games: float = 1.0,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> np.ndarray:
    """Maximum-likelihood Bradley-Terry ratings on the Elo scale.

    Args:
        wins: ``[N, N]`` points player ``i`` scored against ``j`` (win 1, draw 0.5); zero diagonal, and
            ``wins[i, j] + wins[j, i] == games[i, j]``.
        games: ``[N, N]`` games played between ``i`` and ``j``, symmetric, zero diagonal. Fractional
            (weighted) games are allowed.
        anchor: player whose rating is set to ``anchor_elo``; ``None`` sets the mean rating instead.
        anchor_elo: rating of the anchor (or the mean).
        prior_games: virtual drawn games added to every pair with ``games[i, j] > 0`` (see the module
            docstring); 0 gives the plain maximum-likelihood fit.
        tol: stop when every gradient entry is below ``tol`` times the most games any player played.
        max_iter: maximum number of Newton steps.

    Returns:
        ``[N]`` float64 Elo ratings.

    Raises:
        ValueError: on bad shapes, negative or asymmetric games, points above games or inconsistent
            with them, a bad ``anchor`` or ``prior_games``, players not linked by games, or (with
            ``prior_games=0``) results whose maximum-likelihood ratings are infinite.
        RuntimeError: if Newton's method does not converge (not expected: the problem is concave).
    """
    w = np.asarray(wins, dtype=np.float64)
    g = np.asarray(games, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"wins must be an [N, N] matrix, got shape {w.shape}.")
    _check_matrices(w, g)
    _check_anchor(anchor, w.shape[0])
    _check_prior(prior_games)
    return _fit(w, g, g > 0, float(prior_games), anchor, anchor_elo, tol, max_iter)


# ----------------------------------------------------------------------------------------------------
# Per-seed results and the bootstrap


def game_matrices(
    records: ArrayLike, *, num_players: int | None = None, num_seeds: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed points and games matrices from one record per game.

    Args:
        records: ``[num_games, 4]`` rows ``(player_i, player_j, seed, score_i)`` with integer player and
            seed indices and ``score_i`` the points of ``i`` in [0, 1] (1 win, 0.5 draw, 0 loss; from
            outcomes in {+1, 0, -1} use ``(outcome + 1) / 2``). A list of tuples works.
        num_players: ``N``; default one more than the largest player index.
        num_seeds: ``S``; default one more than the largest seed index.

    Returns:
        ``(wins, games)``, each ``[S, N, N]`` float64, as :func:`elo_with_ci` takes them.

    Raises:
        ValueError: on a bad shape, non-integer or out-of-range indices, a player paired with itself, or
            a score outside [0, 1].
    """
    r = np.asarray(records, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] != 4 or r.shape[0] == 0:
        raise ValueError(f"records must be a non-empty [num_games, 4] array, got shape {r.shape}.")
    if not np.all(np.isfinite(r)):
        raise ValueError("records must be finite (no NaN or inf).")
    index = r[:, :3]
    if np.any(index != np.round(index)) or np.any(index < 0):
        raise ValueError("records: player_i, player_j and seed must be non-negative integers.")
    pi, pj, s = (index[:, k].astype(np.int64) for k in range(3))
    score = r[:, 3]
    if np.any(pi == pj):
        raise ValueError("records: player_i equals player_j in some game; a player does not play itself.")
    if np.any((score < 0) | (score > 1)):
        raise ValueError("records: score_i must be in [0, 1] (1 win, 0.5 draw, 0 loss).")
    n = int(max(pi.max(), pj.max())) + 1 if num_players is None else int(num_players)
    num_s = int(s.max()) + 1 if num_seeds is None else int(num_seeds)
    if max(pi.max(), pj.max()) >= n:
        raise ValueError(f"num_players is {n} but records name player {max(pi.max(), pj.max())}.")
    if s.max() >= num_s:
        raise ValueError(f"num_seeds is {num_s} but records name seed {s.max()}.")
    wins = np.zeros((num_s, n, n))
    games = np.zeros((num_s, n, n))
    np.add.at(wins, (s, pi, pj), score)
    np.add.at(wins, (s, pj, pi), 1.0 - score)
    np.add.at(games, (s, pi, pj), 1.0)
    np.add.at(games, (s, pj, pi), 1.0)
    return wins, games


def elo_with_ci(
    wins: ArrayLike,
    games: ArrayLike,
    *,
    anchor: int | None = None,
    anchor_elo: float = 0.0,
    prior_games: float = 1.0,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> EloEstimate:
    """Bradley-Terry Elo ratings with percentile-bootstrap intervals over seeds.

    The point estimate is :func:`fit_bradley_terry` on the results summed over seeds. Each resample draws
    ``S`` seeds with replacement, sums their matrices and refits. The prior goes on every pair that met in
    any seed, so a resample that happens to miss a pair's games still links that pair. Intervals are of
    ratings relative to the anchor (the anchor's own interval is a single point) or to the mean.

    Args:
        wins: ``[S, N, N]`` points per seed, as in :func:`fit_bradley_terry` (see :func:`game_matrices`
            to build them from per-game records).
        games: ``[S, N, N]`` games per seed.
        anchor: player whose rating is fixed at ``anchor_elo``; ``None`` fixes the mean rating.
        anchor_elo: rating of the anchor (or the mean).
        prior_games: virtual drawn games per pair that met; with 0, a resample whose maximum-likelihood
            ratings are infinite raises.
        num_resamples: bootstrap resamples.
        confidence: coverage of the intervals, in (0, 1).
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        An :class:`EloEstimate` with ``elo``, ``low``, ``high`` ``[N]`` and ``samples``
        ``[num_resamples, N]``.

    Raises:
        ValueError: as :func:`fit_bradley_terry`, on a non-3-D input or bad bootstrap arguments.
    """
    _check_bootstrap_args(num_resamples, confidence)
    w = np.asarray(wins, dtype=np.float64)
    g = np.asarray(games, dtype=np.float64)
    if w.ndim != 3 or w.shape[0] == 0:
        raise ValueError(f"wins must be [num_seeds, N, N] with num_seeds >= 1, got shape {w.shape}.")
    _check_matrices(w, g)
    num_seeds, n = w.shape[0], w.shape[1]
    _check_anchor(anchor, n)
    _check_prior(prior_games)
    met = g.sum(axis=0) > 0
    args = (float(prior_games), anchor, anchor_elo, 1e-10, 100)
    elo = _fit(w.sum(axis=0), g.sum(axis=0), met, *args)
    rng = np.random.default_rng(seed)
    samples = np.empty((int(num_resamples), n))
    for b in range(int(num_resamples)):
        # Counts of each seed in a resample: the same law as S indices drawn with replacement.
        counts = rng.multinomial(num_seeds, np.full(num_seeds, 1.0 / num_seeds)).astype(np.float64)
        try:
            samples[b] = _fit(np.tensordot(counts, w, axes=1), np.tensordot(counts, g, axes=1), met, *args)
        except ValueError as error:
            raise ValueError(f"bootstrap resample {b}: {error}") from None
    low, high = _percentile_interval(samples, confidence)
    return EloEstimate(elo, low, high, samples)
