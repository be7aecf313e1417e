"""Tests for purerl.stats, purerl.io and purerl.plots (host-side, NumPy only; fast)."""

import json
import math

import numpy as np
import pytest

from purerl import io, plots, stats

# ----------------------------------------------------------------------------------------------------
# Aggregates


def test_iqm_even_length_is_mean_of_middle_half():
    # n = 8: int(0.25 * 8) = 2 cut from each end -> mean(3, 4, 5, 6) = 4.5.
    assert stats.iqm(np.arange(1, 9)) == 4.5
    assert stats.iqm(np.array([8, 1, 7, 2, 6, 3, 5, 4])) == 4.5  # order does not matter


def test_iqm_odd_length_uses_trim_mean_convention():
    # n = 9: the quartiles fall at 2.25 entries from each end. The trim_mean convention cuts
    # int(0.25 * 9) = 2 whole entries per end (no fractional weights): sorted
    # [1, 2, 3, 4, 7, 8, 9, 10, 100] -> keep [3, 4, 7, 8, 9] -> 31 / 5 = 6.2.
    x = np.array([10, 1, 7, 3, 9, 2, 8, 100, 4])
    assert stats.iqm(x) == pytest.approx(6.2)
    # n = 7: int(1.75) = 1 per end: sorted [1, 2, 3, 4, 5, 6, 50] -> mean(2, 3, 4, 5, 6) = 4.
    assert stats.iqm([50, 1, 2, 3, 4, 5, 6]) == pytest.approx(4.0)
    # n < 4 cuts nothing.
    assert stats.iqm([1.0, 2.0, 9.0]) == pytest.approx(4.0)


def test_iqm_matches_plain_python_trim_mean_reference():
    # scipy.stats.trim_mean(x, 0.25) written out in plain Python (importing scipy costs ~1 s).
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 4, 5, 6, 7, 10, 13):
        x = rng.normal(size=n).tolist()
        cut = int(0.25 * n)
        kept = sorted(x)[cut : n - cut]
        assert stats.iqm(x) == pytest.approx(sum(kept) / len(kept))


def test_aggregates_pool_all_entries_and_support_axis():
    scores = np.arange(1, 9, dtype=float).reshape(4, 2)  # [num_runs=4, num_tasks=2]
    assert stats.iqm(scores) == 4.5
    assert stats.mean(scores) == 4.5
    assert stats.median(scores) == 4.5
    # Per task: columns [1, 3, 5, 7] and [2, 4, 6, 8]; n = 4 cuts one per end.
    np.testing.assert_allclose(stats.iqm(scores, axis=0), [4.0, 5.0])
    assert isinstance(stats.iqm(scores), float)


# ----------------------------------------------------------------------------------------------------
# Bootstrap


def test_bootstrap_ci_contains_point_and_is_reproducible():
    x = np.random.default_rng(0).normal(100.0, 10.0, size=30)
    low, high = stats.bootstrap_ci(x, seed=3)
    assert low < stats.iqm(x) < high
    assert stats.bootstrap_ci(x, seed=3) == (low, high)
    assert stats.bootstrap_ci(x, seed=4) != (low, high)


def test_bootstrap_ci_narrows_with_more_runs():
    rng = np.random.default_rng(0)
    few = rng.normal(size=10)
    many = rng.normal(size=1000)
    lo_few, hi_few = stats.bootstrap_ci(few, num_resamples=500)
    lo_many, hi_many = stats.bootstrap_ci(many, num_resamples=500)
    assert hi_many - lo_many < 0.5 * (hi_few - lo_few)


def test_bootstrap_ci_single_run_collapses_to_point():
    assert stats.bootstrap_ci([3.5]) == (3.5, 3.5)
    assert stats.bootstrap_ci([[1.0, 2.0]], statistic=stats.mean) == (1.5, 1.5)


def test_bootstrap_is_stratified_per_task():
    # Task 0 is all 0, task 1 all 1. Resampling within each task keeps 5 zeros and 5 ones in every
    # resample, so the mean is always 0.5; pooling the 10 entries would let it vary.
    scores = np.stack([np.zeros(5), np.ones(5)], axis=1)
    assert stats.bootstrap_ci(scores, statistic=stats.mean) == (0.5, 0.5)
    assert stats.bootstrap_ci(scores, statistic=stats.iqm) == (0.5, 0.5)


def test_bootstrap_custom_statistic_sees_per_task_resamples():
    rng = np.random.default_rng(0)
    scores = np.stack([np.full(6, 7.0), rng.normal(size=6)], axis=1)  # task 0 constant

    def check(resample):
        assert resample.shape == (6, 2)
        assert np.all(resample[:, 0] == 7.0)  # never mixed with task 1
        assert np.all(np.isin(resample[:, 1], scores[:, 1]))
        return float(np.sum(resample[:, 0] == 7.0))

    assert stats.bootstrap_ci(scores, statistic=check, num_resamples=50) == (6.0, 6.0)


def test_vectorised_statistics_match_a_per_resample_loop():
    # Same draws through the vectorised path and through a plain callable (per-resample loop).
    x = np.random.default_rng(2).normal(size=(12, 3))
    for fast, slow in [
        (stats.iqm, lambda r: stats.iqm(r)),
        (stats.mean, lambda r: float(np.mean(r))),
        (stats.median, lambda r: float(np.median(r))),
    ]:
        np.testing.assert_allclose(
            stats.bootstrap_ci(x, fast, num_resamples=300, seed=5),
            stats.bootstrap_ci(x, slow, num_resamples=300, seed=5),
        )


def test_invalid_inputs_raise_helpful_errors():
    with pytest.raises(ValueError, match="empty"):
        stats.bootstrap_ci([])
    with pytest.raises(ValueError, match="diverged seeds"):
        stats.bootstrap_ci([1.0, float("nan"), 3.0])
    with pytest.raises(ValueError, match="diverged seeds"):
        stats.iqm([1.0, 2.0, float("nan"), 4.0])  # NaN must not be silently trimmed away
    with pytest.raises(ValueError, match="diverged seeds"):
        stats.summarize([1.0, float("inf")])
    with pytest.raises(ValueError, match="confidence"):
        stats.bootstrap_ci([1.0, 2.0], confidence=95)


def test_bootstrap_ci_pointwise_matches_columnwise_iqm():
    y = np.random.default_rng(0).normal(size=(8, 5)) + np.arange(5)
    point, low, high = stats.bootstrap_ci_pointwise(y, num_resamples=200)
    np.testing.assert_allclose(point, stats.iqm(y, axis=0))
    assert point.shape == low.shape == high.shape == (5,)
    assert np.all(low <= high)


# ----------------------------------------------------------------------------------------------------
# Profiles and probability of improvement


def test_performance_profile_hand_values():
    scores = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(stats.performance_profile(scores, [0.0, 2.0, 4.0]), [1.0, 0.5, 0.0])
    low, high = stats.performance_profile_ci(scores, [0.0, 2.0, 4.0], num_resamples=200)
    np.testing.assert_allclose(low[[0, 2]], [1.0, 0.0])
    np.testing.assert_allclose(high[[0, 2]], [1.0, 0.0])
    assert low[1] <= 0.5 <= high[1]


def test_probability_of_improvement():
    assert stats.probability_of_improvement([10.0, 11.0, 12.0], [1.0, 2.0, 3.0]) == (1.0, 1.0, 1.0)
    same = [1.0, 2.0, 3.0, 4.0]
    p, low, high = stats.probability_of_improvement(same, same)
    assert p == 0.5 and low <= 0.5 <= high
    # Ties count 1/2: pairs (1,2) 0, (1,3) 0, (2,2) 1/2, (2,3) 0 -> 0.5 / 4.
    assert stats.probability_of_improvement([1.0, 2.0], [2.0, 3.0])[0] == pytest.approx(0.125)


def test_probability_of_improvement_matches_brute_force_and_is_reproducible():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0.3, 1.0, size=(9, 2)), rng.normal(0.0, 1.0, size=(7, 2))
    ref = np.mean(
        [np.mean([[float(a > b) + 0.5 * (a == b) for b in y[:, k]] for a in x[:, k]]) for k in (0, 1)]
    )
    p, low, high = stats.probability_of_improvement(x, y, num_resamples=500, seed=1)
    assert p == pytest.approx(ref)
    assert low <= p <= high
    assert stats.probability_of_improvement(x, y, num_resamples=500, seed=1) == (p, low, high)


def test_difference_ci_by_hand():
    # Constant sets: every resample has the same means, so the interval is the point.
    assert stats.difference_ci([5.0, 5.0, 5.0], [2.0, 2.0]) == (3.0, 3.0, 3.0)
    # x = [0, 10] resamples to means 0, 5, 10 with probabilities 1/4, 1/2, 1/4; y = [1] is fixed.
    # The 95% interval's tails (2.5%) lie inside the 1/4 masses at each end: [0 - 1, 10 - 1].
    assert stats.difference_ci([0.0, 10.0], [1.0], num_resamples=4000) == (4.0, -1.0, 9.0)
    d, low, high = stats.difference_ci([1.0, 2.0, 3.0, 4.0, 50.0], [1.0, 2.0], statistic=stats.median)
    assert d == 1.5 and low <= d <= high
    x, y = np.random.default_rng(0).normal(1.0, 1.0, (2, 40))
    assert stats.difference_ci(x, y, seed=4) == stats.difference_ci(x, y, seed=4)  # reproducible
    with pytest.raises(ValueError, match="non-finite"):
        stats.difference_ci([1.0, np.nan], [1.0])


# ----------------------------------------------------------------------------------------------------
# Summaries


def test_summarize_is_json_ready():
    summary = stats.summarize(np.array([1, 2, 3, 4, 5, 6, 7, 8], dtype=np.float32), num_resamples=200)
    assert set(summary) == {"iqm", "ci_low", "ci_high", "mean", "median", "std", "num_seeds", "per_seed"}
    for key in ("iqm", "ci_low", "ci_high", "mean", "median", "std"):
        assert type(summary[key]) is float
    assert summary["iqm"] == 4.5 and summary["num_seeds"] == 8
    assert summary["std"] == pytest.approx(np.std(np.arange(1, 9), ddof=1))
    assert all(type(v) is float for v in summary["per_seed"])
    assert json.loads(json.dumps(summary)) == summary
    assert stats.summarize([2.0])["std"] == 0.0


def test_format_ci():
    summary = {"iqm": 487.31, "ci_low": 471.2, "ci_high": 494.96}
    assert stats.format_ci(summary) == "487.3 [471.2, 495.0]"
    assert stats.format_ci(summary, digits=0) == "487 [471, 495]"


# ----------------------------------------------------------------------------------------------------
# io


def test_write_json_round_trips_numpy_values(tmp_path):
    path = tmp_path / "a" / "b" / "out.json"
    obj = {"b": np.float32(1.5), "a": np.arange(3), "n": np.int64(7), 3: np.bool_(True), "nan": math.nan}
    io.write_json(path, obj)
    back = io.read_json(path)
    assert back["a"] == [0, 1, 2] and back["b"] == 1.5 and back["n"] == 7 and back["3"] is True
    assert math.isnan(back["nan"])
    text = path.read_text()
    assert text.endswith("\n") and text.index('"3"') < text.index('"a"')  # sorted keys
    assert [p.name for p in path.parent.iterdir()] == ["out.json"]


def test_atomic_path_failure_leaves_nothing_behind(tmp_path):
    target = tmp_path / "sub" / "result.json"
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text('{"half": ')
        raise RuntimeError("interrupted")
    assert list(target.parent.iterdir()) == []

    # A failing overwrite keeps the previous complete file.
    io.write_json(target, {"ok": 1})
    with pytest.raises(TypeError):
        io.write_json(target, {"bad": object()})
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("garbage")
        raise RuntimeError("interrupted")
    assert io.read_json(target) == {"ok": 1}
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]


def test_save_npz_writes_exact_path(tmp_path):
    path = tmp_path / "runs" / "curves.bin"  # no .npz suffix is appended
    io.save_npz(path, returns=np.ones((2, 3), np.float32), steps=np.arange(3))
    assert [p.name for p in path.parent.iterdir()] == ["curves.bin"]
    with np.load(path) as data:
        np.testing.assert_array_equal(data["returns"], np.ones((2, 3)))
        np.testing.assert_array_equal(data["steps"], [0, 1, 2])


# ----------------------------------------------------------------------------------------------------
# plots


def test_plot_learning_curves_writes_png(tmp_path):
    x = np.arange(4) * 100
    y = np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 2.0, 3.0, 4.0], [0.0, np.nan, 1.0, 1.0]])
    path = tmp_path / "plots" / "curves.png"
    plots.plot_learning_curves(
        {"PPO": (x, y), "DQN": (x, np.full((2, 4), np.nan))}, path, title="tiny", num_resamples=50
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["curves.png"]
    with pytest.raises(ValueError, match="x \\[T\\]"):
        plots.plot_learning_curves({"bad": (x, y[:, :3])}, tmp_path / "bad.png")


def test_holm_by_hand():
    # Sorted 0.01, 0.02, 0.04 scaled by 3, 2, 1: 0.03, 0.04, 0.04 (monotone), returned in input order.
    np.testing.assert_allclose(stats.holm([0.04, 0.01, 0.02]), [0.04, 0.03, 0.04])
    np.testing.assert_allclose(stats.holm([0.5, 0.6]), [1.0, 1.0])


def test_permutation_test_by_hand_and_direction():
    # x = (1, 1), y = (0, 0): of the 6 equally likely splits of the pooled (1, 1, 0, 0) only the observed
    # one reaches a difference of 1, so p -> 1/6 as resamples grow.
    p = stats.permutation_test([1.0, 1.0], [0.0, 0.0], num_resamples=60_000)
    assert abs(p - 1 / 6) < 0.01
    # Paired sign flips of differences (1, 1, 1): only the all-plus flip reaches the mean, p -> 1/8.
    p = stats.permutation_test([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], paired=True, num_resamples=80_000)
    assert abs(p - 1 / 8) < 0.01
    rng = np.random.default_rng(0)
    high, low = rng.normal(1.0, 1.0, 32), rng.normal(0.0, 1.0, 32)
    assert stats.permutation_test(high, low) < 0.01
    assert stats.permutation_test(low, high) > 0.9
    with pytest.raises(ValueError, match="paired"):
        stats.permutation_test([1.0], [1.0, 2.0], paired=True)
