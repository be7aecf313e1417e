"""Leave-one-out ablations of PPO (and DQN): which component matters where, measured on many seeds.

For each study (an algorithm on an environment) `purerl.ablate` runs the full method and each variant
with one component switched off, on the same 32 seeds: traced components (gates and coefficients) as
settings of one vmapped program, static ones (observation and reward normalisation, double DQN, dueling)
as programs of their own. Per variant: final-return IQM [95% CI], mean, fraction of seeds at the env's
target and the probability that a seed without the component beats a seed of the full method,
`P(variant > full)` with a 95% bootstrap CI (Agarwal et al., 2021).

A verdict per component is generated from that interval: "removing it hurts" if the whole interval is
below 1/2, "removing it helps" if above, otherwise "no detectable effect". Each is set beside what the
literature reports for the same component: Andrychowicz et al. (2021, "What Matters in On-Policy
Reinforcement Learning? A Large-Scale Empirical Study", ICLR; five MuJoCo tasks, about 250,000 agents)
for PPO's, Engstrom et al. (2020, "Implementation Matters in Deep Policy Gradients", ICLR) for reward
scaling, and the papers that introduced DQN's. Those studies ran other environments at larger budgets,
so "disagrees" means "not reproduced at this budget on this env", not that either result is wrong.

    python experiments/ppo_ablations.py           # full run: experiments/results/ppo_ablations.{md,png,json}
    python experiments/ppo_ablations.py --quick   # smoke run: runs/ppo_ablations_quick/
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from purerl import experiment, io
from purerl.ablate import ablate

RESULTS = Path(__file__).parent / "results"
HURTS, HELPS, NONE = "removing it hurts", "removing it helps", "no detectable effect"


@dataclasses.dataclass(frozen=True)
class Study:
    """One leave-one-out ablation.

    Attributes:
        algo: registered algorithm.
        env: registered environment (its preset is the full method).
        steps: env steps per seed.
        components: names to switch off (None: every one that acts in the preset).
    """

    algo: str
    env: str
    steps: int
    components: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return f"{self.algo}_{self.env}"


# CPU budgets. CartPole's are early-learning ones (the full method has not converged), so their verdicts
# say which components speed early learning up; Pendulum's full method has reached its plateau (median
# eval return about -160 from 160k steps on; 32 seeds x 1M steps, benchmarks/results/published.md).
FULL = (
    Study("ppo", "CartPole-v1", 100_000),
    Study("dqn", "CartPole-v1", 50_000),
    Study("ppo", "Pendulum-v1", 163_840),
    # All eight variants at once (256 runs) need 43 GB here; two components keep it to 96 runs, which still
    # ran over 25 minutes on 2 cores with the MinAtar CNN (stopped unfinished; run it with --only).
    Study("ppo", "Breakout-MinAtar", 100_000, ("gae", "clip_vloss")),
)
QUICK = (
    Study("ppo", "CartPole-v1", 8_192, ("norm_adv", "gae")),
    Study("dqn", "CartPole-v1", 4_096, ("target_network",)),
)

# What the literature found when the component is removed: (the expected verdicts, source and finding).
LITERATURE: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("ppo", "normalize_obs"): ((HURTS,), "Andrychowicz et al. 2021: always use observation normalisation"),
    ("ppo", "normalize_reward"): ((HURTS,), "Engstrom et al. 2020: reward scaling matters for PPO's returns"),
    ("ppo", "clip_vloss"): ((HELPS, NONE), "Andrychowicz et al. 2021: do not use PPO-style value clipping"),
    ("ppo", "gae"): ((HURTS,), "Andrychowicz et al. 2021: use GAE with lambda = 0.9 (lambda = 1 is worse)"),
    ("ppo", "norm_adv"): (
        (NONE,),
        "Andrychowicz et al. 2021: per-minibatch advantage normalisation matters little",
    ),
    ("ppo", "clip_grad"): ((NONE, HURTS), "Andrychowicz et al. 2021: gradient clipping may help slightly"),
    ("ppo", "lr_decay"): ((NONE, HURTS), "Andrychowicz et al. 2021: learning-rate decay may help slightly"),
    ("ppo", "entropy"): ((NONE, HELPS), "Andrychowicz et al. 2021: no regulariser helped significantly"),
    ("ppo", "clip_ratio"): (
        (HURTS,),
        "Andrychowicz et al. 2021: the PPO (clipped) loss beat the plain policy gradient",
    ),
    ("dqn", "target_network"): (
        (HURTS,),
        "Mnih et al. 2015 (Nature, Atari): removing the target network cut scores",
    ),
    ("dqn", "double_dqn"): ((HURTS,), "van Hasselt et al. 2016 (Atari): double Q-learning improves on DQN"),
    ("dqn", "dueling"): ((HURTS,), "Wang et al. 2016 (Atari): the dueling head improves on DQN"),
}


def verdict(poi: dict[str, float] | None) -> str:
    """The generated verdict for `P(variant > full)` with its CI (None: no healthy seeds to compare)."""
    if poi is None:
        return "not comparable (no healthy seeds)"
    if poi["ci_high"] < 0.5:
        return HURTS
    if poi["ci_low"] > 0.5:
        return HELPS
    return NONE


def run_study(study: Study, seeds: int, work: Path, out: Path) -> dict[str, Any]:
    """Runs one ablation under `work` and copies its table, JSON and plot to `out/<study>/`."""
    started = time.time()
    result = ablate(
        study.algo,
        study.env,
        list(study.components) if study.components else None,
        seeds,
        seed=0,
        out=work / study.name,
        total_timesteps=study.steps,
        run_options={"progress": False},
    )
    result.pop("runs")
    kept = out / "ablations" / study.name
    kept.mkdir(parents=True, exist_ok=True)
    for path in result["files"].values():
        shutil.copyfile(path, kept / Path(path).name)
    result["files"] = {k: str(kept / Path(v).name) for k, v in result["files"].items()}
    result["steps"] = study.steps
    result["seconds"] = time.time() - started
    for entry in result["entries"][1:]:
        expected, source = LITERATURE.get((study.algo, entry["name"]), ((), "not studied there"))
        entry["verdict"] = verdict(entry["probability_of_improvement"])
        entry["literature"] = source
        entry["agrees"] = None if not expected else entry["verdict"] in expected
    print(result["table"], f"\n{result['seconds']:.0f} s\n", flush=True)
    return result


def plot(studies: list[dict[str, Any]], path: Path) -> None:
    """One panel per study: P(variant > full) with its 95% CI for each component (1/2: no effect)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(studies), figsize=(4.2 * len(studies), 3.6), squeeze=False)
    for ax, study in zip(axes[0], studies, strict=True):
        entries = [e for e in study["entries"][1:] if e["probability_of_improvement"]]
        ys = np.arange(len(entries))
        for y, e in zip(ys, entries, strict=True):
            poi = e["probability_of_improvement"]
            color = {HURTS: "tab:red", HELPS: "tab:green"}.get(e["verdict"], "tab:gray")
            ax.errorbar(
                poi["p"],
                y,
                xerr=[[poi["p"] - poi["ci_low"]], [poi["ci_high"] - poi["p"]]],
                fmt="o",
                color=color,
            )
        ax.axvline(0.5, color="black", lw=0.8, ls="--")
        ax.set_yticks(ys, [e["name"] for e in entries])
        ax.set_xlim(0, 1)
        ax.set_xlabel("P(without > full)")
        ax.set_title(
            f"{study['algo']} {study['env']}\n{study['num_seeds']} seeds, {study['steps']:,} steps",
            fontsize=9,
        )
    fig.suptitle("Leave-one-out ablations (red: removing hurts, green: removing helps)", fontsize=10)
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def write_report(result: dict[str, Any], out: Path) -> None:
    lines = [
        "# Leave-one-out ablations: PPO and DQN",
        "",
        f"Generated by `python experiments/ppo_ablations.py{' --quick' if result['quick'] else ''}` in "
        f"{result['wall_seconds'] / 60:.1f} min on {result['machine']} (jax {jax.__version__}); "
        f"load averages at start {result['load_average']}.",
        "",
        "Each study runs the algorithm's preset for the env (the full method) and each variant with one "
        "component off, on the same seeds (`purerl ablate`). Final return is the last evaluation. Verdicts "
        "are generated from the 95% CI of `P(variant > full)`: wholly below 1/2, removing the component "
        "hurts; wholly above, it helps; otherwise no detectable effect at this budget.",
        "",
        "## Verdicts against the literature",
        "",
        "| study | component | P(without > full) [95% CI] | verdict here | literature | agrees |",
        "|---|---|---|---|---|---|",
    ]
    for study in result["studies"]:
        for e in study["entries"][1:]:
            poi = e["probability_of_improvement"]
            cell = f"{poi['p']:.2f} [{poi['ci_low']:.2f}, {poi['ci_high']:.2f}]" if poi else "-"
            agrees = {True: "yes", False: "**no**", None: "-"}[e["agrees"]]
            lines.append(
                f"| {study['algo']} {study['env']} | {e['name']} | {cell} | {e['verdict']} "
                f"| {e['literature']} | {agrees} |"
            )
    compared = [e["agrees"] for s in result["studies"] for e in s["entries"][1:] if e["agrees"] is not None]
    lines += [
        "",
        f"Agreement: {sum(compared)} of {len(compared)} component verdicts match the published finding. The "
        "published studies used other environments (MuJoCo, Atari) and budgets of millions of steps; these "
        "runs are CPU budgets (below), so a disagreement says the effect was not reproduced here. With 32 "
        'seeds per variant the interval\'s half-width is about 0.14, so "no detectable effect" rules out '
        "only large effects: it is weak support for a finding that a component matters little.",
        "",
    ]
    for study in result["studies"]:
        lines += [
            f"## {study['algo']} on {study['env']}: {study['num_seeds']} seeds x {study['steps']:,} env "
            f"steps ({study['seconds'] / 60:.1f} min)",
            "",
            "```",
            study["table"],
            "```",
            "",
            f"Learning curves: [ablations/{study['algo']}_{study['env']}/learning_curves.png]"
            f"(ablations/{study['algo']}_{study['env']}/learning_curves.png)",
            "",
        ]
    for study in result.get("not_run", []):
        components = ", ".join(study["components"]) if study["components"] else "every component"
        lines += [
            f"## {study['algo']} on {study['env']}: not run in this report",
            "",
            f"{components} at {study['steps']:,} env steps; `python experiments/ppo_ablations.py --resume "
            f"--only {study['name']}` runs it and keeps the studies above.",
            "",
        ]
    lines += ["![ablations](ppo_ablations.png)", ""]
    with io.atomic_path(out / "ppo_ablations.md") as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--seeds", type=int, default=None, help="seeds per variant (default 32, quick 4)")
        parser.add_argument(
            "--resume",
            action="store_true",
            help="keep the studies already in the output's JSON, run the rest",
        )
        parser.add_argument(
            "--only",
            nargs="+",
            metavar="STUDY",
            choices=sorted({s.name for s in FULL + QUICK}),
            help=f"run only these studies (of {', '.join(s.name for s in FULL)}); the others are kept "
            "with --resume, else listed as not run",
        )

    args, out = experiment.parse_args(
        "ppo_ablations", __doc__, argv, RESULTS, "4 seeds and tiny budgets (CI)", add_arguments
    )
    studies = QUICK if args.quick else FULL
    seeds = args.seeds or (4 if args.quick else 32)
    # Scratch: each program's run directory (checkpoints included); the kept files are copied to `out`.
    work = args.out / "work" if args.out else Path("runs/ppo_ablations_work" + "_quick" * args.quick)
    if work.exists():
        shutil.rmtree(work, ignore_errors=True)
    started = time.time()
    result: dict[str, Any] = {
        "quick": args.quick,
        "machine": experiment.machine(),
        "load_average": experiment.load_average(),
        "studies": [],
    }
    done = {}
    if args.resume and (out / "ppo_ablations.json").exists():
        previous = io.read_json(out / "ppo_ablations.json")
        done = {(s["algo"], s["env"], s["steps"], s["num_seeds"]): s for s in previous["studies"]}
        started -= previous["wall_seconds"]
    result["not_run"] = []
    for study in studies:  # the report is rewritten after each study, so a long run keeps what it has
        kept = done.get((study.algo, study.env, study.steps, seeds))
        if kept and study.components and {e["name"] for e in kept["entries"][1:]} != set(study.components):
            kept = None  # the study now ablates other components: run it again
        if kept is None and args.only and study.name not in args.only:
            result["not_run"].append({"name": study.name, **dataclasses.asdict(study)})
        else:
            result["studies"].append(kept or run_study(study, seeds, work, out))
        result["wall_seconds"] = time.time() - started
        io.write_json(out / "ppo_ablations.json", result)
        plot(result["studies"], out / "ppo_ablations.png")
        write_report(result, out)
    return result


if __name__ == "__main__":
    main()
