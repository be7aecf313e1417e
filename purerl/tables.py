"""The CLI's results tables: `purerl train`'s end-of-run summary and `purerl eval`'s fresh evaluation."""

from __future__ import annotations

from typing import Any


def _seeds_cell(entry: dict[str, Any], num_seeds: int) -> str:
    return f"{entry['num_healthy']}/{num_seeds}"


def format_table(summary: dict[str, Any]) -> str:
    """The end-of-run table: one row per setting; statistics are over the healthy (not diverged) seeds."""
    from purerl.stats import format_ci

    header = f"{'setting':<36} {'final return IQM [95% CI]':>30} {'mean':>9} {'seeds ok':>9}"
    rows = []
    num_seeds = summary["num_seeds"]
    settings = summary.get("sweep") or [{"hparams": {}, **summary}]
    for s in settings:
        label = ", ".join(f"{k}={v:g}" for k, v in s["hparams"].items()) or "default"
        fr = s["final_return"]
        if fr is None:
            rows.append(f"{label:<36} {'all seeds diverged':>30} {'-':>9} {_seeds_cell(s, num_seeds):>9}")
        else:
            rows.append(f"{label:<36} {format_ci(fr):>30} {fr['mean']:>9.1f} {_seeds_cell(s, num_seeds):>9}")
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
    lines.append(
        f"{summary['algo']} on {summary['env']}: {summary['total_timesteps']:,} env steps per seed, "
        + (f"{speed:,.0f} env steps/s, " if speed else "")
        + f"compile {summary['compile_seconds']:.1f} s, run {summary['run_seconds']:.1f} s"
        + (
            f" (resumed at block {summary['resumed_from_block']})"
            if summary.get("resumed_from_block")
            else ""
        )
    )
    if not summary.get("complete", True):
        lines.append(
            f"stopped after block {summary['blocks_done']} of {summary['num_blocks']}: continue with --resume"
        )
    return "\n".join(lines)


def format_eval_table(run: Any, evaluation: dict[str, Any]) -> str:
    """The `purerl eval` table: the fresh evaluation per setting beside the run's own final evaluation."""
    from purerl.stats import format_ci

    header = (
        f"{'setting':<36} {'eval return IQM [95% CI]':>30} {'mean':>9} {'seeds':>6} {'at training end':>30}"
    )
    settings = run.record.get("sweep") or [{}]
    saved = (run.summary or {}).get("sweep") or [run.summary or {}]
    rows = []
    for i, (setting, fresh) in enumerate(zip(settings, evaluation["summary"], strict=True)):
        label = ", ".join(f"{k}={v:g}" for k, v in setting.items()) or "default"
        before = saved[i].get("final_return") if i < len(saved) else None
        end = format_ci(before) if before else "-"
        cells = f"{format_ci(fresh):>30} {fresh['mean']:>9.1f} {len(evaluation['seeds']):>6}"
        rows.append(f"{label:<36} {cells} {end:>30}")
    footer = (
        f"{evaluation['episodes']} fresh episodes per seed; the last column is the run's final evaluation"
    )
    return "\n".join([header, "-" * len(header), *rows, footer])
