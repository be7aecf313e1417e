"""Host-side statistics for many-seed RL results.

Follows the methodology of "Deep Reinforcement Learning at the Edge of the Statistical Precipice"
(Agarwal, Schwarzer, Castro, Courville and Bellemare, NeurIPS 2021): report the interquartile mean (IQM)
with a stratified percentile-bootstrap confidence interval instead of a bare mean, show performance
profiles (score distributions) and the probability of improvement between two algorithms.

Everything here is NumPy on the host: call it on results already fetched from the device. Scores are
``[num_runs]`` (one task) or ``[num_runs, num_tasks]``; aggregates pool all entries, so scores of
different tasks should first be normalised to a common scale (e.g. random = 0, reference = 1).

Non-finite scores (a diverged seed) are rejected with a ``ValueError`` rather than silently sorted to an
end and trimmed away: drop such runs explicitly and report how many were dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

Statistic = Callable[[np.ndarray], float]

# Upper bound on the number of float64 entries materialised at once when resampling (about 32 MiB), so
# the bootstrap of a few thousand runs never builds a [num_resamples, num_runs, num_tasks] array at once.
_MAX_CHUNK_ELEMENTS = 1 << 22


# ----------------------------------------------------------------------------------------------------
# Validation


def _check_finite(a: np.ndarray, name: str) -> None:
    if a.size == 0:
        raise ValueError(f"{name} is empty: need at least one run.")
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))
        rows = sorted({int(i) for i in bad[:, 0]}) if a.ndim > 0 else []
        shown = ", ".join(map(str, rows[:10])) + (", ..." if len(rows) > 10 else "")
        raise ValueError(
            f"{name} contains {len(bad)} non-finite value(s) (NaN or inf) in run(s) [{shown}]. "
            "Drop diverged seeds first, e.g. `scores[np.isfinite(scores).all(axis=1)]`, "
            "and report how many were dropped."
        )


def _as_runs_by_tasks(scores: ArrayLike, name: str = "scores") -> np.ndarray:
    """Returns validated float64 scores of shape ``[num_runs, num_tasks]``."""
    a = np.asarray(scores, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    elif a.ndim != 2:
        raise ValueError(f"{name} must be [num_runs] or [num_runs, num_tasks], got shape {a.shape}.")
    _check_finite(a, name)
    return a


def _check_bootstrap_args(num_resamples: int, confidence: float) -> None:
    if int(num_resamples) < 1:
        raise ValueError(f"num_resamples must be >= 1, got {num_resamples}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")


# ----------------------------------------------------------------------------------------------------
# Aggregates: f(scores) -> float, or an array when `axis` is given


def _iqm_along(a: np.ndarray, axis: int) -> np.ndarray:
    # scipy.stats.trim_mean(a, 0.25) convention: cut int(0.25 * n) whole entries from each end, with no
    # fractional weighting of the boundary entries.
    n = a.shape[axis]
    cut = int(0.25 * n)
    kept = np.take(np.sort(a, axis=axis), np.arange(cut, n - cut), axis=axis)
    return kept.mean(axis=axis)


def _prepare(x: ArrayLike, axis: int | None, name: str) -> tuple[np.ndarray, int]:
    a = np.asarray(x, dtype=np.float64)
    _check_finite(a, name)
    if axis is None:
        return a.reshape(-1), 0
    return a, axis


def _to_output(value: np.ndarray) -> float | np.ndarray:
    return float(value) if np.ndim(value) == 0 else value


def iqm(x: ArrayLike, axis: int | None = None) -> float | np.ndarray:
    """Interquartile mean: the mean of the middle 50% of the scores.

    Same convention as ``scipy.stats.trim_mean(x, 0.25)``: with ``n`` entries, ``int(0.25 * n)`` are cut
    from each end of the sorted scores (so for ``n < 4`` nothing is cut) and the rest are averaged.

    Args:
        x: scores, any shape, e.g. ``[num_runs]`` or ``[num_runs, num_tasks]``.
        axis: axis to reduce; ``None`` pools all entries.

    Returns:
        A Python float when ``axis`` is None, else an array with ``axis`` removed.

    Raises:
        ValueError: on empty input or non-finite values.
    """
    a, ax = _prepare(x, axis, "iqm input")
    return _to_output(_iqm_along(a, ax))


def mean(x: ArrayLike, axis: int | None = None) -> float | np.ndarray:
    """Arithmetic mean over all entries (or along ``axis``); same signature as :func:`iqm`."""
    a, ax = _prepare(x, axis, "mean input")
    return _to_output(a.mean(axis=ax))


def median(x: ArrayLike, axis: int | None = None) -> float | np.ndarray:
    """Median over all entries (or along ``axis``); same signature as :func:`iqm`."""
    a, ax = _prepare(x, axis, "median input")
    return _to_output(np.median(a, axis=ax))


# Unchecked batched versions used on resamples (already validated), keyed by the public function.
_BATCHED: dict[Callable[..., Any], Callable[[np.ndarray, int], np.ndarray]] = {
    iqm: _iqm_along,
    mean: lambda a, axis: a.mean(axis=axis),
    median: lambda a, axis: np.median(a, axis=axis),
}


# ----------------------------------------------------------------------------------------------------
# Bootstrap


def _row_draws(
    rng: np.random.Generator,
    num_rows: int,
    num_resamples: int,
    resample_elements: int,
    columns: tuple[int, ...] = (),
) -> Iterator[np.ndarray]:
    """Yields ``num_resamples`` draws of row indices with replacement, in chunks ``[b, num_rows, *columns]``.

    ``resample_elements`` is the size of one resample's data: a chunk holds at most
    ``_MAX_CHUNK_ELEMENTS`` of them (at least one resample), which bounds memory. ``columns`` draws each
    column's rows independently (stratified); ``()`` draws whole rows.
    """
    chunk = max(1, _MAX_CHUNK_ELEMENTS // resample_elements)
    for start in range(0, num_resamples, chunk):
        b = min(chunk, num_resamples - start)
        yield rng.integers(0, num_rows, size=(b, num_rows, *columns))


def _stratified_resamples(
    a: np.ndarray, num_resamples: int, rng: np.random.Generator, elements_per_entry: int = 1
) -> Iterator[np.ndarray]:
    """Yields chunks ``[b, num_runs, num_tasks]`` of stratified resamples of ``a`` ``[num_runs, num_tasks]``.

    Runs are drawn with replacement independently within each task (column), so every resample keeps
    ``num_runs`` entries per task. Chunks bound memory; the loop is over chunks, not over resamples.
    """
    num_runs, num_tasks = a.shape
    columns = np.arange(num_tasks)
    resample_elements = a.size * max(1, elements_per_entry)
    for rows in _row_draws(rng, num_runs, num_resamples, resample_elements, (num_tasks,)):
        yield a[rows, columns]


def _percentile_interval(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(samples, [tail, 100.0 - tail], axis=0)
    return low, high


def _bootstrap_distribution(
    a: np.ndarray, squeeze: bool, statistic: Statistic, num_resamples: int, seed: int
) -> np.ndarray:
    """Returns the statistic of each stratified resample, ``[num_resamples]``."""
    rng = np.random.default_rng(seed)
    batched = _BATCHED.get(statistic)
    values = []
    for chunk in _stratified_resamples(a, num_resamples, rng):
        if batched is not None:
            values.append(batched(chunk.reshape(chunk.shape[0], -1), 1))
        else:
            # Arbitrary user statistics get each resample in the caller's original shape.
            values.append(np.array([statistic(r[:, 0] if squeeze else r) for r in chunk], dtype=np.float64))
    return np.concatenate(values)


def bootstrap_ci(
    scores: ArrayLike,
    statistic: Statistic = iqm,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Stratified percentile-bootstrap confidence interval of an aggregate statistic.

    Each resample draws ``num_runs`` runs with replacement independently within every task (column), as
    in Agarwal et al. (2021), and evaluates ``statistic`` on it; the interval is the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles of those values. With a single run
    every resample equals the data, so the interval collapses to the point estimate.

    Args:
        scores: ``[num_runs]`` (one task) or ``[num_runs, num_tasks]``.
        statistic: aggregate ``f(scores) -> float``. :func:`iqm`, :func:`mean` and :func:`median` are
            evaluated on all resamples at once; any other callable is called once per resample with an
            array shaped like ``scores``.
        num_resamples: number of bootstrap resamples.
        confidence: coverage of the interval, in (0, 1).
        seed: seed of ``numpy.random.default_rng``; the same inputs and seed give the same interval.

    Returns:
        ``(low, high)`` as Python floats.

    Raises:
        ValueError: on empty input, non-finite scores (drop diverged seeds first), a bad shape,
            ``num_resamples < 1`` or ``confidence`` outside (0, 1).
    """
    _check_bootstrap_args(num_resamples, confidence)
    squeeze = np.ndim(scores) == 1
    a = _as_runs_by_tasks(scores)
    dist = _bootstrap_distribution(a, squeeze, statistic, int(num_resamples), seed)
    low, high = _percentile_interval(dist, confidence)
    return float(low), float(high)


def difference_ci(
    x: ArrayLike,
    y: ArrayLike,
    statistic: Statistic = mean,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``statistic(x) - statistic(y)`` for two independent run sets, with a percentile-bootstrap interval.

    Each resample draws X's runs and Y's runs with replacement separately (within each task, as
    :func:`bootstrap_ci`) and takes the difference of the two statistics.

    Args:
        x: ``[n]`` or ``[n, num_tasks]`` scores of X.
        y: ``[m]`` or ``[m, num_tasks]`` scores of Y.
        statistic: aggregate, as in :func:`bootstrap_ci` (default :func:`mean`).
        num_resamples: bootstrap resamples.
        confidence: coverage of the interval.
        seed: seed of ``numpy.random.default_rng`` (Y's draws use ``seed + 1``).

    Returns:
        ``(difference, low, high)`` as Python floats.

    Raises:
        ValueError: on empty or non-finite input, a bad shape or bad bootstrap arguments.
    """
    _check_bootstrap_args(num_resamples, confidence)
    samples = []
    for offset, (scores, name) in enumerate(((x, "x"), (y, "y"))):
        a = _as_runs_by_tasks(scores, name)
        dist = _bootstrap_distribution(a, np.ndim(scores) == 1, statistic, int(num_resamples), seed + offset)
        samples.append((statistic(a[:, 0] if np.ndim(scores) == 1 else a), dist))
    (point_x, dist_x), (point_y, dist_y) = samples
    low, high = _percentile_interval(dist_x - dist_y, confidence)
    return float(point_x - point_y), float(low), float(high)


def bootstrap_ci_pointwise(
    curves: ArrayLike,
    statistic: Statistic = iqm,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimate and percentile-bootstrap band at every x of a set of learning curves.

    Each x is its own one-task problem. Seeds (rows) are resampled as whole curves, so one index draw
    serves every x; the marginal interval at each x is the same as resampling that column alone.

    Args:
        curves: ``[num_seeds, T]`` values of each seed at ``T`` points (``[T]`` is one seed).
        statistic: aggregate across seeds; :func:`iqm`, :func:`mean` and :func:`median` are vectorised,
            any other callable is applied to each column of each resample (slow).
        num_resamples: number of bootstrap resamples (a few hundred suffice for a plotted band).
        confidence: coverage of the band, in (0, 1).
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        ``(point, low, high)``, each ``[T]`` float64.

    Raises:
        ValueError: on empty input, non-finite values, a bad shape or bad bootstrap arguments.
    """
    _check_bootstrap_args(num_resamples, confidence)
    y = np.asarray(curves, dtype=np.float64)
    if y.ndim == 1:
        y = y[None, :]
    if y.ndim != 2:
        raise ValueError(f"curves must be [num_seeds, T], got shape {y.shape}.")
    _check_finite(y, "curves")
    batched = _BATCHED.get(statistic)
    if batched is None:

        def batched(arr: np.ndarray, axis: int) -> np.ndarray:
            return np.apply_along_axis(statistic, axis, arr)

    rng = np.random.default_rng(seed)
    # Seeds are resampled as whole curves: one index draw serves every x.
    draws = _row_draws(rng, y.shape[0], int(num_resamples), y.size)
    values = [batched(y[rows], 1) for rows in draws]  # [b, num_seeds, T] -> [b, T]
    low, high = _percentile_interval(np.concatenate(values), confidence)
    return np.asarray(batched(y, 0), dtype=np.float64), low, high


# ----------------------------------------------------------------------------------------------------
# Summaries


def final_scores(final: ArrayLike, healthy: ArrayLike, target: float | None = None) -> dict[str, Any]:
    """One setting's final returns: statistics over its healthy seeds and the seeds at `target`.

    Args:
        final: ``[S]`` final returns, every seed.
        healthy: ``[S]`` bool, seeds that did not diverge (non-finite returns are excluded too).
        target: the return a seed must reach (``>=``), or None.

    Returns:
        ``{"final_return": summarize(...) or None, "num_healthy", "num_at_target",
        "fraction_at_target"}``; the fraction is over all ``S`` seeds (a diverged seed did not reach the
        target); both target entries are None without a target.
    """
    final = np.asarray(final, np.float64)
    scores = final[np.asarray(healthy, bool) & np.isfinite(final)]
    at = None if target is None else int(np.sum(scores >= target))
    return {
        "final_return": summarize(scores) if scores.size else None,
        "num_healthy": int(scores.size),
        "num_at_target": at,
        "fraction_at_target": None if at is None else at / final.shape[0],
    }


def summarize(
    per_seed: ArrayLike, seed: int = 0, num_resamples: int = 2000, confidence: float = 0.95
) -> dict[str, Any]:
    """JSON-ready summary of per-seed scores; the confidence interval is for the IQM.

    Args:
        per_seed: ``[num_seeds]`` final scores (or ``[num_seeds, num_tasks]``).
        seed: bootstrap seed.
        num_resamples: bootstrap resamples.
        confidence: coverage of the IQM interval.

    Returns:
        ``{"iqm", "ci_low", "ci_high", "mean", "median", "std", "num_seeds", "per_seed"}`` with Python
        floats (``num_seeds`` an int, ``per_seed`` a list). ``std`` is the sample standard deviation
        (``ddof=1``) over all entries, 0.0 for a single entry.

    Raises:
        ValueError: on empty input or non-finite scores.
    """
    a = np.asarray(per_seed, dtype=np.float64)
    if a.ndim not in (1, 2):
        raise ValueError(f"per_seed must be [num_seeds] or [num_seeds, num_tasks], got shape {a.shape}.")
    _check_finite(a, "per_seed")
    low, high = bootstrap_ci(a, iqm, num_resamples=num_resamples, confidence=confidence, seed=seed)
    return {
        "iqm": float(iqm(a)),
        "ci_low": low,
        "ci_high": high,
        "mean": float(a.mean()),
        "median": float(np.median(a)),
        "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "num_seeds": int(a.shape[0]),
        "per_seed": a.tolist(),
    }


def format_ci(summary: dict[str, Any], digits: int = 1) -> str:
    """Formats a :func:`summarize` result for a table, e.g. ``"487.3 [471.2, 495.0]"``."""
    d = int(digits)
    return f"{summary['iqm']:.{d}f} [{summary['ci_low']:.{d}f}, {summary['ci_high']:.{d}f}]"


# ----------------------------------------------------------------------------------------------------
# Performance profiles


def _fraction_above(flat: np.ndarray, taus: np.ndarray) -> np.ndarray:
    # [..., N] scores and [M] thresholds -> [..., M] fraction strictly above each threshold.
    return (flat[..., :, None] > taus).mean(axis=-2)


def _as_taus(taus: ArrayLike) -> np.ndarray:
    t = np.asarray(taus, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"taus must be 1-D, got shape {t.shape}.")
    return t


def performance_profile(scores: ArrayLike, taus: ArrayLike) -> np.ndarray:
    """Run-score distribution: the fraction of runs scoring strictly above each threshold.

    ``F(tau) = 1 / (num_runs * num_tasks) * sum_{r, k} [score_{r, k} > tau]``, i.e. the per-task
    fractions averaged over tasks (Agarwal et al., 2021, Sec. 4.2).

    Args:
        scores: ``[num_runs]`` or ``[num_runs, num_tasks]``.
        taus: ``[M]`` thresholds.

    Returns:
        ``[M]`` float64 fractions in [0, 1], non-increasing in tau.
    """
    a = _as_runs_by_tasks(scores)
    return _fraction_above(a.reshape(-1), _as_taus(taus))


def performance_profile_ci(
    scores: ArrayLike,
    taus: ArrayLike,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified percentile-bootstrap band of :func:`performance_profile`.

    Args:
        scores: ``[num_runs]`` or ``[num_runs, num_tasks]``.
        taus: ``[M]`` thresholds.
        num_resamples: bootstrap resamples.
        confidence: coverage of the band.
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        ``(low, high)``, each ``[M]`` float64.
    """
    _check_bootstrap_args(num_resamples, confidence)
    a = _as_runs_by_tasks(scores)
    t = _as_taus(taus)
    rng = np.random.default_rng(seed)
    values = [
        _fraction_above(chunk.reshape(chunk.shape[0], -1), t)
        for chunk in _stratified_resamples(a, int(num_resamples), rng, elements_per_entry=t.size)
    ]
    return _percentile_interval(np.concatenate(values), confidence)


# ----------------------------------------------------------------------------------------------------
# Probability of improvement


def _win_matrix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # [n] and [m] -> [n, m]: 1 where x_i > y_j, 1/2 on ties, 0 otherwise.
    return (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])


def probability_of_improvement(
    x: ArrayLike,
    y: ArrayLike,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Probability that a run of X scores higher than a run of Y, with a bootstrap interval.

    Per task, ``P(X > Y) = U / (n m)`` with ``U`` the Mann–Whitney statistic
    ``sum_{i, j} ([x_i > y_j] + 1/2 [x_i = y_j])``; with several tasks the per-task values are averaged
    (Agarwal et al., 2021). The two run sets are independent and are resampled separately within each
    task. A resample is a vector of draw counts ``c_x [n]``, ``c_y [m]``, so its value is
    ``c_x^T W c_y / (n m)`` for the fixed win matrix ``W [n, m]``: one matrix product per task covers
    all resamples.

    Args:
        x: ``[n]`` or ``[n, num_tasks]`` scores of algorithm X.
        y: ``[m]`` or ``[m, num_tasks]`` scores of algorithm Y (same tasks).
        num_resamples: bootstrap resamples.
        confidence: coverage of the interval.
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        ``(p, low, high)`` as Python floats.

    Raises:
        ValueError: on empty or non-finite input, or mismatched task counts.
    """
    _check_bootstrap_args(num_resamples, confidence)
    a = _as_runs_by_tasks(x, "x")
    b = _as_runs_by_tasks(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must have the same number of tasks, got {a.shape[1]} and {b.shape[1]}.")
    n, m, num_tasks = a.shape[0], b.shape[0], a.shape[1]
    num_resamples = int(num_resamples)
    rng = np.random.default_rng(seed)
    point = 0.0
    dist = np.zeros(num_resamples)
    for k in range(num_tasks):  # a loop over tasks, not resamples
        w = _win_matrix(a[:, k], b[:, k])
        point += w.mean()
        # Multinomial counts have the law of the counts of n indices drawn uniformly with replacement.
        counts_x = rng.multinomial(n, np.full(n, 1.0 / n), size=num_resamples).astype(np.float64)  # [B, n]
        counts_y = rng.multinomial(m, np.full(m, 1.0 / m), size=num_resamples).astype(np.float64)  # [B, m]
        dist += ((counts_x @ w) * counts_y).sum(axis=1) / (n * m)
    dist /= num_tasks
    low, high = _percentile_interval(dist, confidence)
    return float(point / num_tasks), float(low), float(high)


# ----------------------------------------------------------------------------------------------------
# Tests of directional claims


def permutation_test(
    x: ArrayLike, y: ArrayLike, paired: bool = False, num_resamples: int = 10_000, seed: int = 0
) -> float:
    """One-sided p-value of "X scores higher than Y on average", by a Monte Carlo permutation test.

    The statistic is `mean(x) - mean(y)`. Unpaired, the null hypothesis is that X and Y are exchangeable:
    the pooled scores are reshuffled into groups of the original sizes. Paired (`x[i]`, `y[i]` from one
    seed, e.g. a fine-tuned policy and the policy it started from), the sign of each difference is flipped
    at random. `p = (1 + #{resampled statistic >= observed}) / (1 + num_resamples)`, which is never 0 and
    is a valid p-value for any number of resamples (Phipson & Smyth, 2010).

    Args:
        x: `[n]` scores of X.
        y: `[m]` scores of Y (`m = n` when `paired`).
        paired: resample sign flips of `x - y` instead of group labels.
        num_resamples: Monte Carlo resamples.
        seed: seed of `numpy.random.default_rng`.

    Returns:
        The p-value, a Python float in (0, 1].
    """
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    _check_finite(a, "x")
    _check_finite(b, "y")
    if a.size == 0 or b.size == 0:
        raise ValueError("permutation_test needs at least one score in x and in y.")
    if paired and a.size != b.size:
        raise ValueError(f"a paired test needs x and y of one length, got {a.size} and {b.size}.")
    rng = np.random.default_rng(seed)
    observed = a.mean() - b.mean()
    if paired:
        signs = rng.choice([-1.0, 1.0], size=(num_resamples, a.size))
        resampled = (signs * (a - b)).mean(axis=1)
    else:
        pooled = np.concatenate([a, b])
        order = rng.permuted(np.tile(pooled, (num_resamples, 1)), axis=1)
        resampled = order[:, : a.size].mean(axis=1) - order[:, a.size :].mean(axis=1)
    # A small tolerance so that ties with the observed value (common with 0/1 scores) count as ties.
    exceed = np.sum(resampled >= observed - 1e-12 * max(1.0, abs(observed)))
    return float((1 + exceed) / (1 + num_resamples))


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values for a family of claims (Holm, 1979).

    The `i`-th smallest of `k` p-values is multiplied by `k - i + 1` (i from 1), made non-decreasing in
    that order and capped at 1; a claim is accepted at level alpha when its adjusted p-value is <= alpha,
    which controls the family-wise error rate at alpha.

    Args:
        p_values: `[k]` raw p-values.

    Returns:
        `[k]` adjusted p-values, in the input order.
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (p.size - np.arange(p.size))
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out
