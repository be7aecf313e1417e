"""Tests for `purerl.returns`: hand-checked cases, a plain-NumPy reference, batching and identities."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.returns import (
    batch_time_major,
    discounted_returns,
    gae,
    lambda_returns,
    n_step_returns,
)

RTOL = ATOL = 1e-5


@functools.cache  # one jitted object per function, so tests share compiled programs
def _transform(fn: Callable[..., Any], use_jit: bool) -> Callable[..., Any]:
    if not use_jit:
        return fn
    static = ("n",) if "n" in inspect.signature(fn).parameters else ()
    return jax.jit(fn, static_argnames=static)


def _close(actual: Any, expected: Any) -> None:
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------------------------------------
# Plain-NumPy reference: Python loops straight from the formulas in the docstrings.
# --------------------------------------------------------------------------------------------------------


def _cut(ends: np.ndarray, t: int) -> bool:
    return bool(ends[t]) or t == len(ends) - 1


def ref_gae(rewards, discounts, lambdas, values, next_values, ends) -> np.ndarray:
    num_steps = len(rewards)
    lambdas = np.broadcast_to(np.asarray(lambdas, np.float64), (num_steps,))
    advantages = np.zeros(num_steps)
    next_advantage = 0.0
    for t in reversed(range(num_steps)):
        delta = rewards[t] + discounts[t] * next_values[t] - values[t]
        trace = 0.0 if _cut(ends, t) else lambdas[t]
        advantages[t] = delta + discounts[t] * trace * next_advantage
        next_advantage = advantages[t]
    return advantages


def ref_lambda_returns(rewards, discounts, lambdas, next_values, ends) -> np.ndarray:
    num_steps = len(rewards)
    lambdas = np.broadcast_to(np.asarray(lambdas, np.float64), (num_steps,))
    returns = np.zeros(num_steps)
    for t in reversed(range(num_steps)):
        trace = 0.0 if _cut(ends, t) else lambdas[t]
        later = returns[t + 1] if trace > 0 else 0.0
        returns[t] = rewards[t] + discounts[t] * ((1 - trace) * next_values[t] + trace * later)
    return returns


def ref_n_step_returns(rewards, discounts, next_values, ends, n) -> np.ndarray:
    num_steps = len(rewards)
    returns = np.zeros(num_steps)
    for t in range(num_steps):
        # m: number of steps taken, capped by n, the episode's end step and the segment's end.
        m = 1
        while m < n and not _cut(ends, t + m - 1):
            m += 1
        total, scale = 0.0, 1.0
        for k in range(m):
            total += scale * rewards[t + k]
            scale *= discounts[t + k]
        returns[t] = total + scale * next_values[t + m - 1]
    return returns


def ref_discounted_returns(rewards, discounts, ends, bootstrap=None) -> np.ndarray:
    num_steps = len(rewards)
    bootstrap = np.zeros(num_steps) if bootstrap is None else bootstrap
    returns = np.zeros(num_steps)
    for t in reversed(range(num_steps)):
        later = bootstrap[t] if _cut(ends, t) else returns[t + 1]
        returns[t] = rewards[t] + discounts[t] * later
    return returns


def _random_segment(rng: np.random.Generator, num_steps: int, end_prob: float = 0.3) -> dict[str, Any]:
    terminated = rng.random(num_steps) < end_prob
    truncated = ~terminated & (rng.random(num_steps) < end_prob)
    gamma = rng.uniform(0.5, 1.0)
    return {
        "rewards": rng.normal(size=num_steps).astype(np.float32),
        "discounts": (gamma * (1.0 - terminated)).astype(np.float32),
        "lambdas": rng.uniform(0.0, 1.0, size=num_steps).astype(np.float32),
        "values": rng.normal(size=num_steps).astype(np.float32),
        "next_values": rng.normal(size=num_steps).astype(np.float32),
        "ends": terminated | truncated,
    }


# --------------------------------------------------------------------------------------------------------
# Hand-checked cases, T = 4: gamma = 0.9, lambda = 0.5, n = 2; rewards [1, 0, 2, 1], values [0.5, 1, 2, 1].
# --------------------------------------------------------------------------------------------------------

HAND_CASES = {
    # (a) no episode end, T = 4; next_values are the values shifted by one, with V(s_4) = 3.
    #   delta = [1 + .9*1 - .5, 0 + .9*2 - 1, 2 + .9*1 - 2, 1 + .9*3 - 1] = [1.4, 0.8, 0.9, 2.7]
    #   GAE:  A3 = 2.7;  A2 = .9 + .45*2.7 = 2.115;  A1 = .8 + .45*2.115 = 1.75175;
    #         A0 = 1.4 + .45*1.75175 = 2.1882875
    #   G^l:  G3 = 1 + .9*3 = 3.7;  G2 = 2 + .9*(.5*1 + .5*3.7) = 4.115;  G1 = .9*(.5*2 + .5*4.115) = 2.75175;
    #         G0 = 1 + .9*(.5*1 + .5*2.75175) = 2.6882875   (= A + v, as it must)
    #   n=2:  G0 = 1 + .9*0 + .81*2 = 2.62;  G1 = 0 + .9*2 + .81*1 = 2.61;  G2 = 2 + .9*1 + .81*3 = 5.33;
    #         G3 = 1 + .9*3 = 3.7
    #   MC:   G3 = 1;  G2 = 2 + .9*1 = 2.9;  G1 = .9*2.9 = 2.61;  G0 = 1 + .9*2.61 = 3.349
    #   MC+bootstrap: G3 = 3.7;  G2 = 2 + .9*3.7 = 5.33;  G1 = .9*5.33 = 4.797;  G0 = 1 + .9*4.797 = 5.3173
    "a_no_end": {
        "rewards": [1.0, 0.0, 2.0, 1.0],
        "discounts": [0.9, 0.9, 0.9, 0.9],
        "values": [0.5, 1.0, 2.0, 1.0],
        "next_values": [1.0, 2.0, 1.0, 3.0],
        "ends": [False, False, False, False],
        "gae": [2.1882875, 1.75175, 2.115, 2.7],
        "lambda_returns": [2.6882875, 2.75175, 4.115, 3.7],
        "n_step": [2.62, 2.61, 5.33, 3.7],
        "mc": [3.349, 2.61, 2.9, 1.0],
        "mc_bootstrap": [5.3173, 4.797, 5.33, 3.7],
    },
    # (b) terminated at t=1 (discount 0, trace cut). next_values[1] = 7 = V(final_obs_1) must not matter;
    #     steps 2-3 are a new episode bootstrapping from V = 3 at the segment end.
    #   delta = [1 + .9*1 - .5, 0 + 0*7 - 1, 2 + .9*1 - 2, 1 + .9*3 - 1] = [1.4, -1, 0.9, 2.7]
    #   GAE:  A3 = 2.7;  A2 = .9 + .45*2.7 = 2.115;  A1 = -1 (cut);  A0 = 1.4 + .45*(-1) = 0.95
    #   G^l:  G3 = 1 + .9*3 = 3.7;  G2 = 2 + .9*(.5*1 + .5*3.7) = 4.115;  G1 = 0;
    #         G0 = 1 + .9*(.5*1 + .5*0) = 1.45
    #   n=2:  G0 = 1 + .9*0 + (.9*0)*7 = 1;  G1 = 0;  G2 = 2 + .9*1 + .81*3 = 5.33;  G3 = 3.7
    #   MC:   [1 + .9*0, 0, 2 + .9*1, 1] = [1, 0, 2.9, 1]
    #   MC+bootstrap: G3 = 3.7;  G2 = 2 + .9*3.7 = 5.33;  G1 = 0 (terminal);  G0 = 1
    "b_terminated": {
        "rewards": [1.0, 0.0, 2.0, 1.0],
        "discounts": [0.9, 0.0, 0.9, 0.9],
        "values": [0.5, 1.0, 2.0, 1.0],
        "next_values": [1.0, 7.0, 1.0, 3.0],
        "ends": [False, True, False, False],
        "gae": [0.95, -1.0, 2.115, 2.7],
        "lambda_returns": [1.45, 0.0, 4.115, 3.7],
        "n_step": [1.0, 0.0, 5.33, 3.7],
        "mc": [1.0, 0.0, 2.9, 1.0],
        "mc_bootstrap": [1.0, 0.0, 5.33, 3.7],
    },
    # (c) truncated at t=1: discount stays .9, bootstrap from next_values[1] = V(final_obs_1) = 3, trace cut.
    #     values[2] = 2 is the first state of the next episode and must not leak into t <= 1.
    #   delta = [1.4, 0 + .9*3 - 1, 0.9, 2.7] = [1.4, 1.7, 0.9, 2.7]
    #   GAE:  A3 = 2.7;  A2 = 2.115;  A1 = 1.7 (cut);  A0 = 1.4 + .45*1.7 = 2.165
    #   G^l:  G3 = 3.7;  G2 = 4.115;  G1 = .9*3 = 2.7;  G0 = 1 + .9*(.5*1 + .5*2.7) = 2.665
    #   n=2:  G0 = 1 + .9*0 + .81*3 = 3.43;  G1 = 2.7;  G2 = 5.33;  G3 = 3.7
    #   MC:   [1, 0, 2.9, 1] (no bootstrap anywhere)
    #   MC+bootstrap: G3 = 3.7;  G2 = 5.33;  G1 = .9*3 = 2.7;  G0 = 1 + .9*2.7 = 3.43
    "c_truncated": {
        "rewards": [1.0, 0.0, 2.0, 1.0],
        "discounts": [0.9, 0.9, 0.9, 0.9],
        "values": [0.5, 1.0, 2.0, 1.0],
        "next_values": [1.0, 3.0, 1.0, 3.0],
        "ends": [False, True, False, False],
        "gae": [2.165, 1.7, 2.115, 2.7],
        "lambda_returns": [2.665, 2.7, 4.115, 3.7],
        "n_step": [3.43, 2.7, 5.33, 3.7],
        "mc": [1.0, 0.0, 2.9, 1.0],
        "mc_bootstrap": [3.43, 2.7, 5.33, 3.7],
    },
    # (d) terminated at t=0 (next_values[0] = 9 unused), truncated at t=2 (bootstrap 3, while values[3] = 1
    #     belongs to the next episode), segment ends at t=3 mid-episode (bootstrap 2).
    #   delta = [1 + 0 - .5, 0 + .9*2 - 1, 2 + .9*3 - 2, 1 + .9*2 - 1] = [0.5, 0.8, 2.7, 1.8]
    #   GAE:  A3 = 1.8;  A2 = 2.7 (cut);  A1 = .8 + .45*2.7 = 2.015;  A0 = 0.5 (cut)
    #   G^l:  G3 = 1 + .9*2 = 2.8;  G2 = 2 + .9*3 = 4.7;  G1 = .9*(.5*2 + .5*4.7) = 3.015;  G0 = 1
    #   n=2:  G0 = 1;  G1 = 0 + .9*2 + .81*3 = 4.23;  G2 = 4.7;  G3 = 2.8
    #   MC:   [1, .9*2, 2, 1] = [1, 1.8, 2, 1]
    #   MC+bootstrap: G3 = 2.8;  G2 = 4.7;  G1 = .9*4.7 = 4.23;  G0 = 1
    "d_terminated_and_truncated": {
        "rewards": [1.0, 0.0, 2.0, 1.0],
        "discounts": [0.0, 0.9, 0.9, 0.9],
        "values": [0.5, 1.0, 2.0, 1.0],
        "next_values": [9.0, 2.0, 3.0, 2.0],
        "ends": [True, False, True, False],
        "gae": [0.5, 2.015, 2.7, 1.8],
        "lambda_returns": [1.0, 3.015, 4.7, 2.8],
        "n_step": [1.0, 4.23, 4.7, 2.8],
        "mc": [1.0, 1.8, 2.0, 1.0],
        "mc_bootstrap": [1.0, 4.23, 4.7, 2.8],
    },
}


def _hand_inputs(case: dict[str, Any]) -> tuple[jax.Array, ...]:
    return (
        jnp.asarray(case["rewards"]),
        jnp.asarray(case["discounts"]),
        jnp.asarray(case["values"]),
        jnp.asarray(case["next_values"]),
        jnp.asarray(case["ends"]),
    )


@pytest.mark.parametrize("use_jit", [False, True], ids=["plain", "jit"])
@pytest.mark.parametrize("name", sorted(HAND_CASES))
def test_hand_cases(name: str, use_jit: bool) -> None:
    case = HAND_CASES[name]
    rewards, discounts, values, next_values, ends = _hand_inputs(case)
    lam = 0.5
    _close(_transform(gae, use_jit)(rewards, discounts, lam, values, next_values, ends), case["gae"])
    _close(
        _transform(lambda_returns, use_jit)(rewards, discounts, lam, next_values, ends),
        case["lambda_returns"],
    )
    _close(_transform(n_step_returns, use_jit)(rewards, discounts, next_values, ends, n=2), case["n_step"])
    _close(_transform(discounted_returns, use_jit)(rewards, discounts, ends), case["mc"])
    _close(
        _transform(discounted_returns, use_jit)(rewards, discounts, ends, next_values),
        case["mc_bootstrap"],
    )


@pytest.mark.parametrize("name", sorted(HAND_CASES))
def test_hand_cases_match_reference(name: str) -> None:
    """The hand arithmetic above and the NumPy reference agree (guards the reference itself)."""
    case = HAND_CASES[name]
    r, d, v, nv, e = (np.asarray(case[k]) for k in ("rewards", "discounts", "values", "next_values", "ends"))
    _close(ref_gae(r, d, 0.5, v, nv, e), case["gae"])
    _close(ref_lambda_returns(r, d, 0.5, nv, e), case["lambda_returns"])
    _close(ref_n_step_returns(r, d, nv, e, 2), case["n_step"])
    _close(ref_discounted_returns(r, d, e), case["mc"])
    _close(ref_discounted_returns(r, d, e, nv), case["mc_bootstrap"])


@pytest.mark.parametrize("use_jit", [False, True], ids=["plain", "jit"])
def test_segment_end_without_episode_end_bootstraps(use_jit: bool) -> None:
    """(e) The segment ends mid-episode: every estimator bootstraps from next_values[T-1], whatever lambda
    or n, exactly as if the last step were truncated.

    Case (a) inputs with lambda = 1 and n = 5 > T: all equal the bootstrapped MC return
        G3 = 1 + .9*3 = 3.7;  G2 = 2 + .9*3.7 = 5.33;  G1 = 0 + .9*5.33 = 4.797;  G0 = 1 + .9*4.797 = 5.3173
    and GAE = G - v = [5.3173 - .5, 4.797 - 1, 5.33 - 2, 3.7 - 1] = [4.8173, 3.797, 3.33, 2.7].
    """
    rewards, discounts, values, next_values, ends = _hand_inputs(HAND_CASES["a_no_end"])
    expected = [5.3173, 4.797, 5.33, 3.7]
    _close(_transform(lambda_returns, use_jit)(rewards, discounts, 1.0, next_values, ends), expected)
    _close(_transform(n_step_returns, use_jit)(rewards, discounts, next_values, ends, n=5), expected)
    _close(
        _transform(gae, use_jit)(rewards, discounts, 1.0, values, next_values, ends),
        [4.8173, 3.797, 3.33, 2.7],
    )
    # Marking the last step as an end (truncation) changes nothing.
    truncated_last = ends.at[-1].set(True)
    for lam in (0.0, 0.5, 1.0):
        chex.assert_trees_all_close(
            lambda_returns(rewards, discounts, lam, next_values, ends),
            lambda_returns(rewards, discounts, lam, next_values, truncated_last),
        )
        chex.assert_trees_all_close(
            gae(rewards, discounts, lam, values, next_values, ends),
            gae(rewards, discounts, lam, values, next_values, truncated_last),
        )
    chex.assert_trees_all_close(
        n_step_returns(rewards, discounts, next_values, ends, n=3),
        n_step_returns(rewards, discounts, next_values, truncated_last, n=3),
    )


# --------------------------------------------------------------------------------------------------------
# Random inputs against the reference, plain and under jit.
# --------------------------------------------------------------------------------------------------------

NUM_RANDOM = 12
T_RANDOM = 11


@pytest.mark.parametrize("use_jit", [False, True], ids=["plain", "jit"])
def test_random_against_reference(use_jit: bool) -> None:
    rng = np.random.default_rng(0)
    gae_fn = _transform(gae, use_jit)
    lambda_fn = _transform(lambda_returns, use_jit)
    n_step_fn = _transform(n_step_returns, use_jit)
    mc_fn = _transform(discounted_returns, use_jit)
    for i in range(NUM_RANDOM):
        s = _random_segment(rng, T_RANDOM, end_prob=(0.0, 0.2, 0.5)[i % 3])
        r, d, lam, v, nv, e = (
            s[k] for k in ("rewards", "discounts", "lambdas", "values", "next_values", "ends")
        )
        scalar_lam = float(lam[0])
        _close(gae_fn(r, d, lam, v, nv, e), ref_gae(r, d, lam, v, nv, e))
        _close(gae_fn(r, d, scalar_lam, v, nv, e), ref_gae(r, d, scalar_lam, v, nv, e))
        _close(lambda_fn(r, d, lam, nv, e), ref_lambda_returns(r, d, lam, nv, e))
        _close(lambda_fn(r, d, scalar_lam, nv, e), ref_lambda_returns(r, d, scalar_lam, nv, e))
        for n in (1, 3, T_RANDOM + 2):
            _close(n_step_fn(r, d, nv, e, n=n), ref_n_step_returns(r, d, nv, e, n))
        _close(mc_fn(r, d, e), ref_discounted_returns(r, d, e))
        _close(mc_fn(r, d, e, nv), ref_discounted_returns(r, d, e, nv))


def test_random_lambda_return_equals_forward_view() -> None:
    """Constant lambda: the recursive lambda-return equals the lambda-weighted mixture of n-step returns
    (Sutton & Barto 2018, sec. 12.1, with the episode/segment cut): G^l = (1-l) sum_{n>=1} l^{n-1} G^(n),
    where G^(n) = G^(m) for n >= m because n-step returns stop at the cut."""
    rng = np.random.default_rng(1)
    for _ in range(5):
        s = _random_segment(rng, T_RANDOM)
        r, d, nv, e = s["rewards"], s["discounts"], s["next_values"], s["ends"]
        lam = float(rng.uniform())
        forward = sum(
            (1 - lam) * lam ** (n - 1) * ref_n_step_returns(r, d, nv, e, n) for n in range(1, T_RANDOM)
        )
        forward = forward + lam ** (T_RANDOM - 1) * ref_n_step_returns(r, d, nv, e, T_RANDOM)
        _close(lambda_returns(r, d, lam, nv, e), forward)


# --------------------------------------------------------------------------------------------------------
# Batching: [T, B] via batch_time_major equals per-column results.
# --------------------------------------------------------------------------------------------------------


def _random_batch(rng: np.random.Generator, num_steps: int, batch: int) -> dict[str, np.ndarray]:
    columns = [_random_segment(rng, num_steps) for _ in range(batch)]
    return {k: np.stack([c[k] for c in columns], axis=1) for k in columns[0]}


@pytest.mark.parametrize("use_jit", [False, True], ids=["plain", "jit"])
def test_batch_time_major_equals_columns(use_jit: bool) -> None:
    rng = np.random.default_rng(2)
    num_steps, batch = T_RANDOM, 3
    s = _random_batch(rng, num_steps, batch)
    r, d, lam, v, nv, e = (s[k] for k in ("rewards", "discounts", "lambdas", "values", "next_values", "ends"))

    def batched_outputs(r, d, lam, v, nv, e) -> dict[str, jax.Array]:
        return {
            "gae": batch_time_major(gae)(r, d, lam, v, nv, e),
            "gae_scalar_lambda": batch_time_major(gae)(r, d, 0.7, v, nv, e),
            "gae_shared_lambda": batch_time_major(gae)(r, d, lam[:, 0], v, nv, e),
            "lambda_returns": batch_time_major(lambda_returns)(r, d, lam, nv, e),
            "n_step": batch_time_major(n_step_returns)(r, d, nv, e, n=3),
            "mc": batch_time_major(discounted_returns)(r, d, e),
            "mc_bootstrap": batch_time_major(discounted_returns)(r, d, e, nv),
        }

    # Under jit all batched estimators share one compiled program.
    outputs = (jax.jit(batched_outputs) if use_jit else batched_outputs)(r, d, lam, v, nv, e)
    for out in outputs.values():
        chex.assert_shape(out, (num_steps, batch))
        assert out.dtype == jnp.float32
    # Per-column results from the unbatched functions (jitted, sharing programs with the tests above).
    j_gae, j_lambda, j_n_step, j_mc = (
        _transform(f, True) for f in (gae, lambda_returns, n_step_returns, discounted_returns)
    )
    for b in range(batch):
        col = {k: x[:, b] for k, x in s.items()}
        cr, cd, cl, cv, cnv, ce = (
            col[k] for k in ("rewards", "discounts", "lambdas", "values", "next_values", "ends")
        )
        expected = {
            "gae": j_gae(cr, cd, cl, cv, cnv, ce),
            "gae_scalar_lambda": j_gae(cr, cd, 0.7, cv, cnv, ce),
            "gae_shared_lambda": j_gae(cr, cd, lam[:, 0], cv, cnv, ce),
            "lambda_returns": j_lambda(cr, cd, cl, cnv, ce),
            "n_step": j_n_step(cr, cd, cnv, ce, n=3),
            "mc": j_mc(cr, cd, ce),
            "mc_bootstrap": j_mc(cr, cd, ce, cnv),
        }
        for name, value in expected.items():
            _close(outputs[name][:, b], value)
        _close(outputs["gae"][:, b], ref_gae(cr, cd, cl, cv, cnv, ce))


# --------------------------------------------------------------------------------------------------------
# Identities and special cases.
# --------------------------------------------------------------------------------------------------------


def _within_episode_next_values(rng: np.random.Generator, s: dict[str, Any]) -> np.ndarray:
    """next_values_t = values_{t+1} inside an episode; a fresh V(final_obs_t) where the episode ends and at
    the segment's end (values_{t+1} would then belong to the next episode)."""
    shifted = np.append(s["values"][1:], 0.0).astype(np.float32)
    cut = s["ends"].copy()
    cut[-1] = True
    return np.where(cut, rng.normal(size=len(cut)), shifted).astype(np.float32)


def test_gae_plus_values_equals_lambda_returns() -> None:
    rng = np.random.default_rng(3)
    for _ in range(6):
        s = _random_segment(rng, T_RANDOM)
        r, d, lam, v, e = s["rewards"], s["discounts"], s["lambdas"], s["values"], s["ends"]
        nv = _within_episode_next_values(rng, s)
        _close(gae(r, d, lam, v, nv, e) + v, lambda_returns(r, d, lam, nv, e))


def test_lambda_zero_is_one_step_td() -> None:
    rng = np.random.default_rng(4)
    s = _random_segment(rng, T_RANDOM)
    r, d, v, nv, e = s["rewards"], s["discounts"], s["values"], s["next_values"], s["ends"]
    td_target = r + d * nv
    _close(lambda_returns(r, d, 0.0, nv, e), td_target)
    _close(gae(r, d, 0.0, v, nv, e), td_target - v)
    _close(n_step_returns(r, d, nv, e, n=1), td_target)


def test_lambda_one_is_monte_carlo() -> None:
    rng = np.random.default_rng(5)
    for _ in range(4):
        s = _random_segment(rng, T_RANDOM)
        r, d, nv, e = s["rewards"], s["discounts"], s["next_values"], s["ends"]
        zeros = np.zeros_like(nv)
        # next_values = 0: plain in-episode Monte-Carlo return.
        _close(lambda_returns(r, d, 1.0, zeros, e), ref_discounted_returns(r, d, e))
        _close(lambda_returns(r, d, 1.0, zeros, e), discounted_returns(r, d, e))
        # With next_values, lambda = 1 is MC bootstrapped only at cuts, and n-step with n >= T is the same.
        _close(lambda_returns(r, d, 1.0, nv, e), discounted_returns(r, d, e, nv))
        _close(n_step_returns(r, d, nv, e, n=T_RANDOM), discounted_returns(r, d, e, nv))


def test_next_episode_does_not_leak_back() -> None:
    """Changing anything after a truncation leaves every output up to the truncation unchanged."""
    rng = np.random.default_rng(6)
    s = _random_segment(rng, T_RANDOM, end_prob=0.0)
    s["ends"][4] = True  # truncated at t = 4: discounts stay gamma.
    r, d, lam, v, nv, e = (s[k] for k in ("rewards", "discounts", "lambdas", "values", "next_values", "ends"))
    r2, v2, nv2 = r.copy(), v.copy(), nv.copy()
    r2[5:] += 10.0
    v2[5:] -= 3.0
    nv2[5:] += 7.0

    def all_outputs(r, v, nv):
        return (
            gae(r, d, lam, v, nv, e),
            lambda_returns(r, d, lam, nv, e),
            n_step_returns(r, d, nv, e, n=4),
            discounted_returns(r, d, e, nv),
        )

    for before, after in zip(all_outputs(r, v, nv), all_outputs(r2, v2, nv2), strict=True):
        _close(before[:5], after[:5])
        assert not np.allclose(before[5:], after[5:])


def test_dtypes_and_input_kinds() -> None:
    """Integer rewards and 0/1 integer ends still compute in float32; scalar and [T] lambdas agree."""
    rewards = jnp.array([1, 0, 2, 1], dtype=jnp.int32)
    discounts = jnp.array([0.9, 0.0, 0.9, 0.9])
    values = jnp.array([0.5, 1.0, 2.0, 1.0])
    next_values = jnp.array([1.0, 7.0, 1.0, 3.0])
    ends = jnp.array([0, 1, 0, 0])
    case = HAND_CASES["b_terminated"]
    out = gae(rewards, discounts, 0.5, values, next_values, ends)
    assert out.dtype == jnp.float32
    _close(out, case["gae"])
    _close(gae(rewards, discounts, jnp.full((4,), 0.5), values, next_values, ends), case["gae"])
    for out in (
        lambda_returns(rewards, discounts, 0.5, next_values, ends),
        n_step_returns(rewards, discounts, next_values, ends, n=2),
        discounted_returns(rewards, discounts, ends),
    ):
        assert out.dtype == jnp.float32


@pytest.mark.parametrize("bad_n", [0, -1, 2.0, True])
def test_n_step_rejects_bad_n(bad_n: Any) -> None:
    x = jnp.zeros(3)
    with pytest.raises(ValueError, match="n must be"):
        n_step_returns(x, x, x, x.astype(bool), n=bad_n)


def test_shape_mismatch_raises() -> None:
    with pytest.raises(AssertionError):
        lambda_returns(jnp.zeros(3), jnp.zeros(4), 0.5, jnp.zeros(3), jnp.zeros(3, bool))
