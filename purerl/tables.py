"""The CLI's results tables: `purerl train`'s end-of-run summary and `purerl eval`'s fresh evaluation.

Every row gives the IQM [95% CI], the mean and the fraction of seeds reaching the target (`purerl.targets`;
"-" when the env has none), so an IQM of 500 [500, 500] cannot hide 4 of 32 seeds below 475. Settings are
named by `purerl.labels` ("preset", or the hyperparameters that differ from it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from purerl.labels import entry_label

LABEL_WIDTH = 36


def _seeds_cell(entry: dict[str, Any], num_seeds: int) -> str:
    return f"{entry['num_healthy']}/{num_seeds}"


def target_cell(num_at_target: int | None, num_seeds: int) -> str:
    """`"0.88 (28/32)"`: the fraction of seeds at target and the counts; `"-"` without a target."""
    if num_at_target is None:
        return "-"
    return f"{num_at_target / num_seeds:.2f} ({num_at_target}/{num_seeds})"


def target_header(target: float | None) -> str:
    return "at target" if target is None else f"at target >= {target:g}"


def _target_of(summary: dict[str, Any]) -> tuple[float | None, str | None]:
    """The run's target; for runs saved before targets were recorded, the env's conventional one."""
    if "target" in summary:
        value = summary["target"]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value), summary.get("target_source")
        return None, None  # none, or a note such as benchmarks' "above random": no count to show
    from purerl.targets import resolve_target

    found = resolve_target(summary.get("env"))
    return (found.value, found.source) if found else (None, None)


def _at_target(entry: dict[str, Any], target: float | None) -> int | None:
    if "num_at_target" in entry:
        return entry["num_at_target"]
    if target is None or entry.get("final_return") is None:  # an old run: count its healthy seeds
        return None if target is None else 0
    return int(sum(v >= target for v in entry["final_return"]["per_seed"]))


def format_table(summary: dict[str, Any]) -> str:
    """The end-of-run table: one row per setting; IQM and mean are over the healthy (not diverged) seeds,
    the fraction at target over all seeds (a diverged seed has not reached it)."""
    from purerl.stats import format_ci

    target, source = _target_of(summary)
    head = target_header(target)
    width = max(16, len(head))
    header = (
        f"{'setting':<{LABEL_WIDTH}} {'final return IQM [95% CI]':>30} {'mean':>9} {head:>{width}} "
        f"{'seeds ok':>9}"
    )
    rows = []
    num_seeds = summary["num_seeds"]
    settings = summary.get("sweep") or [{"hparams": {}, **summary}]
    for s in settings:
        label = entry_label(s)
        fr = s["final_return"]
        at = target_cell(_at_target(s, target), num_seeds)
        ok = _seeds_cell(s, num_seeds)
        if fr is None:
            rows.append(f"{label:<{LABEL_WIDTH}} {'all seeds diverged':>30} {'-':>9} {at:>{width}} {ok:>9}")
        else:
            cells = f"{format_ci(fr):>30} {fr['mean']:>9.1f} {at:>{width}} {ok:>9}"
            rows.append(f"{label:<{LABEL_WIDTH}} {cells}")
    lines = [header, "-" * len(header), *rows]
    num_diverged = summary.get("num_diverged", 0)
    if num_diverged:
        total = num_seeds * len(settings)
        shown = ", ".join(str(d) for d in summary["diverged_seeds"][:10])
        more = ", ..." if num_diverged > 10 else ""
        lines.append(
            f"{num_diverged} of {total} runs diverged (NaN/inf; frozen, excluded from the statistics): "
            f"{'[setting, seed] ' if summary.get('sweep') else 'seeds '}{shown}{more}"
        )
    speed = summary.get("env_steps_per_second")
    requested = summary.get("total_timesteps_requested")
    actual = summary["total_timesteps"]
    rounded = f" (of {requested:,} requested: whole blocks)" if requested and requested != actual else ""
    lines.append(
        f"{summary['algo']} on {summary['env']}: {actual:,} env steps per seed{rounded}, "
        + (f"{speed:,.0f} env steps/s, " if speed else "")
        + f"compile {summary['compile_seconds']:.1f} s, run {summary['run_seconds']:.1f} s"
        + (
            f" (resumed at block {summary['resumed_from_block']})"
            if summary.get("resumed_from_block")
            else ""
        )
    )
    lines.append(
        f"target: {target:g} ({source})" if target is not None else "target: none known for this env (-)"
    )
    if not summary.get("complete", True):
        lines.append(
            f"stopped after block {summary['blocks_done']} of {summary['num_blocks']}: continue with --resume"
        )
    return "\n".join(lines)


def format_eval_table(run: Any, evaluation: dict[str, Any]) -> str:
    """The `purerl eval` table: the fresh evaluation per setting beside the run's own final evaluation."""
    from purerl.stats import format_ci

    target, source = _target_of(run.summary or {"env": getattr(run.config, "env_name", None)})
    head = target_header(target)
    width = max(16, len(head))
    header = (
        f"{'setting':<{LABEL_WIDTH}} {'eval return IQM [95% CI]':>30} {'mean':>9} {head:>{width}} "
        f"{'seeds':>6} {'at training end':>30}"
    )
    saved = (run.summary or {}).get("sweep") or [run.summary or {}]
    returns = np.asarray(evaluation["eval_return"], np.float64).reshape(len(run.labels), -1)  # [H, seeds]
    num_seeds = returns.shape[1]
    rows = []
    for i, (label, fresh) in enumerate(zip(run.labels, evaluation["summary"], strict=True)):
        before = saved[i].get("final_return") if i < len(saved) else None
        end = format_ci(before) if before else "-"
        reached = None if target is None else int(np.sum(returns[i] >= target))
        at = target_cell(reached, num_seeds)
        cells = f"{format_ci(fresh):>30} {fresh['mean']:>9.1f} {at:>{width}} {num_seeds:>6}"
        rows.append(f"{label:<{LABEL_WIDTH}} {cells} {end:>30}")
    footer = (
        f"{evaluation['episodes']} fresh episodes per seed ({evaluation['policy']} policy); the last column "
        "is the run's final evaluation"
    )
    goal = f"target: {target:g} ({source})" if target is not None else "target: none known for this env (-)"
    return "\n".join([header, "-" * len(header), *rows, footer, goal])
