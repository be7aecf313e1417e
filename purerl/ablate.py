"""Ablations as one program: the full method and each leave-one-out variant, on the same seeds.

An algorithm declares what can be switched off (`AlgoSpec.components`, `agents.registry.Component`). A
*traced* component is switched off by hyperparameter values (a 0/1 gate at 0, a coefficient at 0,
`gae_lambda = 1`), so the full method and every traced leave-one-out variant are the settings of one
stacked `HParams`: one compiled, vmapped program (`runner.run` with a sweep). A *static* component is a
config switch the program is built around (observation normalisation); each such variant is a program
of its own, run after the first with the same `seed`. Seed `s` starts from `split(key(seed), seeds)[s]`
in every variant, so variants differ only by the component switched off.

Results follow DESIGN.md ("Reporting results"): per variant the final-return IQM [95% stratified-bootstrap
CI], the mean, the fraction of all seeds at the env's target (`purerl.targets`) and the probability that
a seed of the variant beats a seed of the full method (`stats.probability_of_improvement`, 95% CI). With
`out`: `ablation.json`, `ablation.txt`, `learning_curves.png` (IQM and CI band per variant), and each
program's own results directory (`program/` for the traced one, `static-<name>/` for the others).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from purerl import reports, stats
from purerl.agents.registry import AlgoSpec, Component
from purerl.config import unknown_name_message
from purerl.tables import target_cell
from purerl.targets import resolve_target

__all__ = ["Component", "ablate", "format_ablation_table", "select_components"]

FULL = "full"


def select_components(spec: AlgoSpec, names: Sequence[str] | None) -> list[Component]:
    """The named components of `spec` in the order given (None: all, in declaration order).

    Raises:
        ValueError: the algorithm declares none, a name is unknown (listing the valid ones) or repeated.
    """
    if not spec.components:
        raise ValueError(f"{spec.name} declares no ablation components")
    if names is None:
        return list(spec.components.values())
    if not names:
        raise ValueError("give at least one component to ablate")
    chosen = []
    for name in names:
        if name not in spec.components:
            raise ValueError(unknown_name_message(f"{spec.name} component", name, tuple(spec.components)))
        if name in [c.name for c in chosen]:
            raise ValueError(f"component {name!r} is given twice")
        chosen.append(spec.components[name])
    return chosen


def _already_off(part: Component, config: Any, hparams: Any) -> str | None:
    """Why switching `part` off would change nothing in this run (None if it acts)."""
    for field, needed in part.requires.items():
        if getattr(config, field) != needed:
            return f"it acts only with {field}={needed} (this run has {getattr(config, field)})"
    source = config if part.static else hparams
    current = {f: getattr(source, f) for f in part.off}
    same = (
        current == dict(part.off)
        if part.static
        else all(np.float32(v) == np.float32(part.off[f]) for f, v in current.items())
    )
    if same:
        shown = ", ".join(f"{f}={v}" for f, v in current.items())
        return f"it is already off in the full method ({shown})"
    return None


def _stack(spec: AlgoSpec, hparams: Any, traced: list[Component]) -> tuple[Any, list[dict]]:
    """`[1 + len(traced)]` stacked hparams (the full method first) and one settings dict per row."""
    rows = [hparams] + [hparams._replace(**part.off) for part in traced]
    fields = sorted({f for part in traced for f in part.off})
    settings = [{f: float(getattr(row, f)) for f in fields} for row in rows]
    columns = {f: np.asarray([getattr(r, f) for r in rows], np.float32) for f in spec.hparams_cls._fields}
    return spec.hparams_cls(**columns), settings


def _final(result: Any, row: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(final returns [S], healthy [S], curves [S, blocks])` of one setting (`row`) or a plain run."""
    curves = np.asarray(result.metrics["eval_return"], np.float64)
    healthy = np.asarray(result.healthy, bool)
    if row is not None:
        curves, healthy = curves[row], healthy[row]
    final = curves[:, -1]
    return final, healthy & np.isfinite(final), curves


def _entry(name: str, part: Component | None, result: Any, row: int | None, goal: Any) -> dict[str, Any]:
    final, healthy, curves = _final(result, row)
    return {
        "name": name,
        "kind": FULL if part is None else ("static" if part.static else "traced"),
        "description": "the full method" if part is None else part.description,
        "off": {} if part is None else dict(part.off),
        "num_seeds": int(final.size),
        **stats.final_scores(final, healthy, None if goal is None else goal.value),
        "probability_of_improvement": None,
        "_scores": final[healthy],
        "_curves": (np.asarray(result.env_steps), curves),
    }


def _subdir(out: Path | None, name: str) -> Path | None:
    return None if out is None else out / name


def ablate(
    algo: str,
    env: str,
    components: Sequence[str] | None = None,
    seeds: int = 16,
    *,
    seed: int = 0,
    out: str | Path | None = None,
    target: float | None = None,
    devices: Sequence[Any] | None = None,
    run_options: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Run `algo` on `env` with every component on, and once with each of `components` off.

    Args:
        algo: a registered algorithm that declares components (`AlgoSpec.components`).
        env: a registered environment.
        components: names to leave out one at a time; None takes every component that acts in this run
            (those already off are listed under "skipped"). A named one that is already off is an error.
        seeds: seeds per variant; seed `s` is the same key in every variant.
        seed: base seed.
        out: directory for the ablation files and each program's results directory; None writes nothing.
        target: the return a seed must reach; None takes the env's (`purerl.targets`).
        devices: as `purerl.train`'s (default: this host's, at most one CPU device per two runs).
        run_options: further `runner.run` options (`num_chunks`, `progress`, `compiler_options`, ...).
        **overrides: config or hyperparameter fields of the full method, on top of the preset.

    Returns:
        `{"algo", "env", "num_seeds", "seed", "target", "entries", "skipped", "table", "files", "runs"}`:
        entries (the full method first) are `{name, kind ("full" | "traced" | "static"), description,
        off, num_seeds, num_healthy, final_return (stats.summarize or None), num_at_target,
        fraction_at_target, probability_of_improvement ({"p", "ci_low", "ci_high"} over the full method,
        or None)}`; `skipped` lists `{name, reason}`; `runs` maps "program" and "static-<name>" to their
        `runner.RunResult` (not written to JSON).

    Raises:
        ValueError: an unknown algorithm, env, field or component, a named component that is already
            off, or invalid values, all before anything is compiled.
    """
    from purerl import runner
    from purerl.agents import get_algorithm
    from purerl.cli import local_devices_for

    spec = get_algorithm(algo)
    chosen = select_components(spec, components)
    config, hparams = spec.preset(env, **overrides)
    acting, skipped = [], []
    for part in chosen:
        reason = _already_off(part, config, hparams)
        if reason is None:
            acting.append(part)
        elif components is not None:
            raise ValueError(f"component {part.name!r} cannot be ablated here: {reason}")
        else:
            skipped.append({"name": part.name, "reason": reason})
    traced = [p for p in acting if not p.static]
    static = [(p, dataclasses.replace(config, **p.off)) for p in acting if p.static]  # validated here
    stacked, settings = _stack(spec, hparams, traced)
    spec.validate_hparams(stacked)
    goal = resolve_target(getattr(config, "env_name", None), target)
    out_path = None if out is None else Path(out)
    options = {"target": target, **(run_options or {})}

    def run(cfg: Any, hp: Any, sweep: list[dict] | None, name: str) -> Any:
        num_runs = seeds * (len(sweep) if sweep else 1)
        use = list(devices) if devices is not None else local_devices_for(num_runs)
        out_dir = _subdir(out_path, name)
        return runner.run(
            cfg, hp, seeds, seed=seed, sweep_settings=sweep, out_dir=out_dir, devices=use, **options
        )

    # Without traced variants the full method is a plain run (a one-setting sweep would be unlabelled).
    runs = {
        "program": run(config, stacked, settings, "program")
        if traced
        else run(config, hparams, None, "program")
    }
    entries = [_entry(FULL, None, runs["program"], 0 if traced else None, goal)]
    entries += [_entry(p.name, p, runs["program"], i + 1, goal) for i, p in enumerate(traced)]
    for part, cfg in static:
        runs[f"static-{part.name}"] = run(cfg, hparams, None, f"static-{part.name}")
        entries.append(_entry(part.name, part, runs[f"static-{part.name}"], None, goal))
    base = entries[0]["_scores"]
    for e in entries[1:]:
        if base.size and e["_scores"].size:
            p, low, high = stats.probability_of_improvement(e["_scores"], base)
            e["probability_of_improvement"] = {"p": p, "ci_low": low, "ci_high": high}
    result = {
        "algo": spec.name,
        "env": getattr(config, "env_name", env),
        "num_seeds": seeds,
        "seed": seed,
        "target": None if goal is None else goal.value,
        "entries": [{k: v for k, v in e.items() if not k.startswith("_")} for e in entries],
        "skipped": skipped,
        "files": {},
    }
    result["table"] = format_ablation_table(result)
    if out_path is not None:
        result["files"] = _write(out_path, result, entries)
    result["runs"] = runs
    return result


def _value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def format_ablation_table(result: Mapping[str, Any]) -> str:
    """One row per variant: what is off, IQM [95% CI], mean, fraction at target, P(variant > full)
    [95% CI], healthy seeds and the program it ran in ("traced": the shared one, "static": its own)."""
    entries = result["entries"]
    offs = [", ".join(f"{k}={_value(v)}" for k, v in e["off"].items()) or "-" for e in entries]
    name_w = max(len("variant"), *(len(e["name"]) for e in entries))
    off_w = max(len("off"), *(len(o) for o in offs))
    header = (
        f"{'variant':<{name_w}} {'off':<{off_w}} {'final return IQM [95% CI]':>30} {'mean':>9} "
        f"{'at target':>16} {'P(> full) [95% CI]':>22} {'seeds ok':>9} {'program':>8}"
    )
    rows = []
    for e, off in zip(entries, offs, strict=True):
        fr = e["final_return"]
        iqm = stats.format_ci(fr) if fr else "all seeds diverged"
        mean = f"{fr['mean']:.1f}" if fr else "-"
        poi = e["probability_of_improvement"]
        poi_cell = "baseline" if e["kind"] == FULL else "-"
        if poi:
            poi_cell = f"{poi['p']:.2f} [{poi['ci_low']:.2f}, {poi['ci_high']:.2f}]"
        at = target_cell(e["num_at_target"], e["num_seeds"])
        ok = f"{e['num_healthy']}/{e['num_seeds']}"
        program = "static" if e["kind"] == "static" else "traced"
        rows.append(
            f"{e['name']:<{name_w}} {off:<{off_w}} {iqm:>30} {mean:>9} {at:>16} {poi_cell:>22} {ok:>9} "
            f"{program:>8}"
        )
    goal = f"{result['target']:g}" if result["target"] is not None else "none known (-)"
    lines = [header, "-" * len(header), *rows]
    lines.append(
        f"{result['algo']} on {result['env']}, {result['num_seeds']} seeds (seed={result['seed']}) per "
        f"variant, the same in each; target {goal}; final return over healthy seeds"
    )
    lines += [f"skipped {s['name']}: {s['reason']}" for s in result["skipped"]]
    return "\n".join(lines)


def _write(out: Path, result: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, str]:
    curves = {e["name"]: e["_curves"] for e in entries}
    title = f"{result['algo']} on {result['env']}: leave-one-out ablation"
    return reports.write_report(out, "ablation", result, curves, title=title)
