"""`purerl compare RUN RUN ...`: several complete runs (and every setting of a sweep) side by side.

Each (run, setting) is one *entry*. Its scores are the final evaluation returns of its healthy seeds; the
statistics follow Agarwal et al. (2021) through `purerl.stats`: IQM with a 95% stratified-bootstrap CI,
the mean, the fraction of all seeds at the env's target (`purerl.targets`, a diverged seed counting as
not reaching it), the probability that a seed of the entry beats a seed of the *first* entry (with its
bootstrap CI) and performance profiles (fraction of seeds above each return threshold, with bands).
With `out`, writes `compare.json`, `compare.txt`, `learning_curves.png` (IQM over seeds with its CI band
against env steps, `purerl.plots`) and `performance_profiles.png`.

Runs on different environments are refused unless `force`: their returns are not on one scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from purerl import io, reports, stats
from purerl.run_files import RunFiles, read_run_files
from purerl.tables import target_cell
from purerl.targets import resolve_target

NUM_TAUS = 51


def _check_envs(runs: list[RunFiles], force: bool) -> None:
    envs = {str(r.path): r.env for r in runs}
    if len(set(envs.values())) > 1 and not force:
        shown = ", ".join(f"{path} ({env})" for path, env in envs.items())
        raise ValueError(
            f"cannot compare runs on different envs: {shown}; pass force=True (--force) to compare anyway"
        )


def _entries(runs: list[RunFiles], target: float | None) -> list[dict[str, Any]]:
    """One entry per (run, setting): its healthy final scores and its target counts."""
    entries = []
    for run in runs:
        if target is None and "target" in run.summary:  # the run's own (maybe a train-time override)
            own = run.summary["target"]
            goal = resolve_target(run.env, float(own)) if isinstance(own, int | float) else None
        else:
            goal = resolve_target(run.env, target)
        final = np.asarray(run.metrics["eval_return"], np.float64)[..., -1]  # [H, S]
        healthy = np.asarray(run.metrics["healthy"])[..., -1].astype(bool) & np.isfinite(final)
        for h, label in enumerate(run.labels):
            entries.append(
                {
                    "run": str(run.path),
                    "setting": label,
                    "name": f"{run.path.name} [{label}]" if len(runs) > 1 else label,
                    "env": run.env,
                    "num_seeds": int(final.shape[1]),
                    **stats.final_scores(final[h], healthy[h], None if goal is None else goal.value),
                    "target": None if goal is None else goal.value,
                    "_scores": final[h][healthy[h]],
                    "_curves": (run.env_steps, np.asarray(run.metrics["eval_return"])[h]),
                }
            )
    names = [e["name"] for e in entries]
    for i, e in enumerate(entries):  # two runs with one directory name: fall back to the full path
        if names.count(e["name"]) > 1:
            e["name"] = f"{e['run']} [{e['setting']}]"
        e["index"] = i
    return entries


def _improvement(entries: list[dict[str, Any]]) -> None:
    """`probability_of_improvement` of every entry over the first, `P(X > first)` with its 95% CI."""
    base = entries[0]["_scores"]
    for e in entries:
        e["probability_of_improvement"] = None
        if e["index"] == 0 or not base.size or not e["_scores"].size:
            continue
        p, low, high = stats.probability_of_improvement(e["_scores"], base)
        e["probability_of_improvement"] = {"over": entries[0]["name"], "p": p, "ci_low": low, "ci_high": high}


def _profiles(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Performance profiles on one grid of `NUM_TAUS` thresholds spanning every entry's scores."""
    scored = [e for e in entries if e["_scores"].size]
    if not scored:
        return {"taus": [], "profiles": {}}
    pooled = np.concatenate([e["_scores"] for e in scored])
    low, high = float(pooled.min()), float(pooled.max())
    # A margin either side, so every profile visibly starts at 1 and ends at 0 (even if all scores tie).
    pad = 0.05 * (high - low) if high > low else max(1.0, 0.05 * abs(high))
    taus = np.linspace(low - pad, high + pad, NUM_TAUS)
    profiles = {}
    for e in scored:
        low, high = stats.performance_profile_ci(e["_scores"], taus)
        profiles[e["name"]] = {
            "fraction": stats.performance_profile(e["_scores"], taus).tolist(),
            "ci_low": low.tolist(),
            "ci_high": high.tolist(),
        }
    return {"taus": taus.tolist(), "profiles": profiles}


def compare_runs(
    run_dirs: Sequence[str | Path],
    out: str | Path | None = None,
    *,
    force: bool = False,
    target: float | None = None,
) -> dict[str, Any]:
    """Compare complete runs and every setting of each.

    Args:
        run_dirs: results directories (`purerl train --out`); the first entry is the baseline of the
            probability of improvement.
        out: directory for `compare.json`, `compare.txt` and the two PNG plots (created); None writes
            nothing.
        force: compare runs on different envs anyway.
        target: the return a seed must reach; None uses each run's own (its env's conventional one).

    Returns:
        JSON-ready `{"runs", "entries", "performance_profiles", "table", "files"}`; each entry has
        `run, setting, name, env, num_seeds, num_healthy, final_return (stats.summarize of the healthy
        seeds' final returns, or None), target, num_at_target, fraction_at_target,
        probability_of_improvement ({"over", "p", "ci_low", "ci_high"} or None)`.

    Raises:
        ValueError: no runs, a directory without a complete run, or runs on different envs without
            `force` (naming the directories).
    """
    if not run_dirs:
        raise ValueError("compare needs at least one run directory")
    runs = [read_run_files(d) for d in run_dirs]
    _check_envs(runs, force)
    entries = _entries(runs, target)
    _improvement(entries)
    result = {
        "runs": [str(r.path) for r in runs],
        "entries": [{k: v for k, v in e.items() if not k.startswith("_")} for e in entries],
        "performance_profiles": _profiles(entries),
        "files": {},
    }
    result["table"] = format_compare_table(result)
    if out is not None:
        result["files"] = _write(Path(out), result, entries)
    return result


def format_compare_table(result: dict[str, Any]) -> str:
    """One row per entry: IQM [95% CI], mean, fraction at target, P(entry > first) [95% CI], seeds ok."""
    entries = result["entries"]
    width = max([len("run [setting]"), *(len(e["name"]) for e in entries)])
    header = (
        f"{'run [setting]':<{width}} {'final return IQM [95% CI]':>30} {'mean':>9} {'at target':>16} "
        f"{'P(> first) [95% CI]':>22} {'seeds ok':>9}"
    )
    rows = []
    for e in entries:
        fr = e["final_return"]
        iqm = stats.format_ci(fr) if fr else "all seeds diverged"
        mean = f"{fr['mean']:.1f}" if fr else "-"
        poi = e["probability_of_improvement"]
        poi_cell = "baseline" if e["index"] == 0 else "-"
        if poi:
            poi_cell = f"{poi['p']:.2f} [{poi['ci_low']:.2f}, {poi['ci_high']:.2f}]"
        at = target_cell(e["num_at_target"], e["num_seeds"])
        ok = f"{e['num_healthy']}/{e['num_seeds']}"
        rows.append(f"{e['name']:<{width}} {iqm:>30} {mean:>9} {at:>16} {poi_cell:>22} {ok:>9}")
    targets = sorted({(e["env"], e["target"]) for e in entries}, key=str)
    goal = "; ".join(f"{env}: {t:g}" if t is not None else f"{env}: none known (-)" for env, t in targets)
    return "\n".join([header, "-" * len(header), *rows, f"target ({goal}); final return over healthy seeds"])


def _write(out: Path, result: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, str]:
    curves = {e["name"]: e["_curves"] for e in entries}
    profiles = {"performance_profiles": lambda path: _plot_profiles(result["performance_profiles"], path)}
    return reports.write_report(out, "compare", result, curves, extra_plots=profiles)


def _plot_profiles(profiles: dict[str, Any], path: Path) -> None:
    """Performance profiles (fraction of seeds with final return > tau) with their bootstrap bands."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    taus = np.asarray(profiles["taus"])
    for name, p in profiles["profiles"].items():
        (line,) = ax.plot(taus, p["fraction"], label=name)
        ax.fill_between(taus, p["ci_low"], p["ci_high"], color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("final return threshold tau")
    ax.set_ylabel("fraction of seeds > tau")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    if profiles["profiles"]:
        ax.legend(title="performance profile, 95% CI", fontsize="small")
    with io.atomic_path(path) as tmp, open(tmp, "wb") as f:
        fig.savefig(f, format="png", dpi=150)
