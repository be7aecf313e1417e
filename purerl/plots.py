"""Learning curves with bootstrap confidence bands.

Figures are built with ``matplotlib.figure.Figure`` directly rather than ``pyplot``: no global backend
switch, no figure registry to leak, and it works headless (PNG output uses the Agg renderer).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from purerl import io, stats


def _split_finite(y: np.ndarray) -> tuple[np.ndarray, int]:
    """Drops seeds (rows) with any non-finite value; returns the kept rows and how many were dropped."""
    keep = np.isfinite(y).all(axis=1)
    return y[keep], int((~keep).sum())


def plot_learning_curves(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    path: io.PathLike,
    xlabel: str = "env steps",
    ylabel: str = "return",
    title: str | None = None,
    num_resamples: int = 500,
    confidence: float = 0.95,
    seed: int = 0,
) -> Path:
    """Plots the IQM across seeds of each curve with a stratified-bootstrap band and saves a PNG.

    At every x the seeds are one task: the line is their interquartile mean and the shaded band its
    percentile-bootstrap interval (:func:`purerl.stats.bootstrap_ci_pointwise`, vectorised over x).
    Seeds with any non-finite value are dropped and the legend says how many, e.g. ``"PPO (2 diverged)"``.

    Args:
        curves: label -> ``(x [T], y [num_seeds, T])``; a ``[T]`` ``y`` is a single seed.
        path: PNG destination, written atomically (parent directories are created).
        xlabel: x-axis label.
        ylabel: y-axis label.
        title: optional title.
        num_resamples: bootstrap resamples per band (a few hundred suffice for a plot).
        confidence: coverage of the band.
        seed: bootstrap seed, so the figure is reproducible.

    Returns:
        The destination as a ``Path``.

    Raises:
        ValueError: if ``x`` and ``y`` shapes disagree.
    """
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    _draw_curves(fig.subplots(), curves, xlabel, ylabel, title, num_resamples, confidence, seed)
    final = Path(path)
    with io.atomic_path(final) as tmp, open(tmp, "wb") as f:
        fig.savefig(f, format="png", dpi=150)
    return final


def _draw_curves(
    ax,
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    xlabel: str,
    ylabel: str,
    title: str | None,
    num_resamples: int,
    confidence: float,
    seed: int,
) -> None:
    """Draws IQM lines with bootstrap bands on one matplotlib ``Axes`` (see :func:`plot_learning_curves`)."""
    for label, (x_raw, y_raw) in curves.items():
        x = np.asarray(x_raw, dtype=np.float64)
        y = np.asarray(y_raw, dtype=np.float64)
        if y.ndim == 1:
            y = y[None, :]
        if x.ndim != 1 or y.ndim != 2 or y.shape[1] != x.shape[0]:
            raise ValueError(
                f"curve {label!r}: need x [T] and y [num_seeds, T], got {x.shape} and {y.shape}."
            )
        kept, dropped = _split_finite(y)
        if kept.shape[0] == 0:
            # Keep a legend entry so an all-diverged method is visible rather than silently missing.
            ax.plot([], [], label=f"{label} (all {dropped} diverged)")
            continue
        point, low, high = stats.bootstrap_ci_pointwise(
            kept, stats.iqm, num_resamples=num_resamples, confidence=confidence, seed=seed
        )
        (line,) = ax.plot(x, point, label=f"{label} ({dropped} diverged)" if dropped else label)
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(title=f"IQM across seeds, {confidence:.0%} CI", fontsize="small")


def plot_learning_curve_panels(
    panels: Mapping[str, Mapping[str, tuple[ArrayLike, ArrayLike]]],
    path: io.PathLike,
    xlabel: str = "env steps",
    ylabel: str = "return",
    num_columns: int = 3,
    num_resamples: int = 500,
    confidence: float = 0.95,
    seed: int = 0,
    axis_labels: Mapping[str, tuple[str, str]] | None = None,
) -> Path:
    """Like :func:`plot_learning_curves`, with one panel (axes) per entry of ``panels``, in a grid.

    Args:
        panels: panel title -> curves (label -> ``(x [T], y [num_seeds, T])``), e.g. one panel per env.
        path: PNG destination, written atomically.
        xlabel: x-axis label of every panel.
        ylabel: y-axis label of every panel.
        axis_labels: panel title -> ``(xlabel, ylabel)`` for panels whose axes differ from the rest.
        num_columns: panels per row.
        num_resamples: bootstrap resamples per band.
        confidence: coverage of the bands.
        seed: bootstrap seed.

    Returns:
        The destination as a ``Path``.
    """
    num_columns = max(1, min(num_columns, len(panels)))
    num_rows = -(-len(panels) // num_columns)
    fig = Figure(figsize=(4.2 * num_columns, 3.4 * num_rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(num_rows, num_columns, squeeze=False)).reshape(-1)
    for ax, (title, curves) in zip(axes, panels.items(), strict=False):
        x_label, y_label = (axis_labels or {}).get(title, (xlabel, ylabel))
        _draw_curves(ax, curves, x_label, y_label, title, num_resamples, confidence, seed)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    final = Path(path)
    with io.atomic_path(final) as tmp, open(tmp, "wb") as f:
        fig.savefig(f, format="png", dpi=120)
    return final
