"""Same-budget comparisons with published figures: purerl at the budget a published number was reported at.

Each entry names one published figure (its value, source, env-step budget and how it was measured) and the
purerl run that matches that budget: the algorithm's own preset and, where the source publishes its
settings, those settings as well, so that a gap can be put on the settings or on the implementation. Per
entry: final evaluation return IQM [95% CI] over seeds, mean, fraction of seeds at or above the published
value, and a verdict generated from the CI ("above" if the whole interval is above the published value,
"below" if it is below, else "consistent"). A published figure from one run is a single draw, so the
fraction of seeds above it says more than the verdict does.

Each result is `benchmarks/results/published/<name>.json` (the runner's summary plus the entry);
`benchmarks/results/published.md` is the table generated from all of them. Entries whose cost does not fit
a 2-core CPU are listed with their measured cost and run only when named with `--only`.

    python benchmarks/published_comparison.py                           # every entry that fits a CPU
    python benchmarks/published_comparison.py --only ppo_pendulum_gymnax_settings
    python benchmarks/published_comparison.py --import-run NAME=DIR     # a `purerl train --out DIR` run
                                                                        # made with NAME's command
    python benchmarks/published_comparison.py --table                   # regenerate the table only
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

import numpy as np
from algo_learning import run_entry

RESULTS = Path("benchmarks/results/published")
TABLE = Path("benchmarks/results/published.md")

GYMNAX = "gymnax README (`ckpt (Return)` column); settings: gymnax-blines `agents/{env}/ppo.yaml`"
# gymnax-blines' PPO: separate actor and critic MLPs (ReLU), constant learning rate after a 5% warm-up,
# value clipping, per-minibatch advantage standardisation, evaluation by *sampling* the policy (mean return
# of 164 rollouts). purerl has no warm-up and initialises orthogonally; both are stated in each entry.
GYMNAX_PENDULUM = [
    "num_envs=32",
    "num_steps=16",
    "num_minibatches=4",
    "num_epochs=4",
    "anneal_lr=false",
    "learning_rate=5e-4",
    "max_grad_norm=1.0",
    "ent_coef=0.01",
    "gamma=0.99",
    "gae_lambda=0.95",
    "hidden_sizes=64,64",
    "activation=relu",
    "normalize_obs=false",
    "normalize_reward=false",
    "eval_greedy=false",
    "eval_every=85",  # 1,955 updates of 512 steps = 1,000,960 steps, the first whole block count >= 1M
]
GYMNAX_BREAKOUT = [
    "network=mlp",
    "hidden_sizes=256,256",
    "activation=relu",
    "num_envs=64",
    "num_steps=128",
    "num_minibatches=8",
    "num_epochs=4",
    "anneal_lr=false",
    "gamma=0.999",
    "learning_rate=5e-4",
    "eval_greedy=false",
    "eval_every=37",  # 1,221 updates of 8,192 steps = 10,002,432 steps, the first whole block count >= 10M
]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One published figure and the purerl run at its budget.

    Attributes:
        name: the entry's file stem.
        algo, env: what runs.
        seeds: seeds of the purerl run.
        timesteps: env steps per seed (at least the published budget).
        sets: `--set FIELD=VALUE` overrides on top of the preset.
        published: the published final return.
        source: where it is published (and where its settings are).
        budget: the published run's env steps.
        setting: what the purerl run's settings are, in words.
        cpu_cost: why the entry does not run by default on a 2-core CPU ("" where it does).
    """

    name: str
    algo: str
    env: str
    seeds: int
    timesteps: int
    sets: tuple[str, ...]
    published: float
    source: str
    budget: int
    setting: str
    cpu_cost: str = ""

    @property
    def command(self) -> str:
        sets = "".join(f" --set {shlex.quote(s)}" for s in self.sets)
        return (
            f"purerl train {self.algo} --env {self.env} --seeds {self.seeds} "
            f"--total-timesteps {self.timesteps}{sets}"
        )


ENTRIES = (
    Comparison(
        "ppo_pendulum_preset",
        "ppo",
        "Pendulum-v1",
        32,
        1_024_000,
        ("eval_every=10",),
        -130.0,
        GYMNAX.format(env="Pendulum-v1"),
        1_000_000,
        "purerl's Pendulum preset (16 envs x 256 steps, 10 epochs x 32 minibatches, observation and reward "
        "normalisation, lr 1e-3, greedy evaluation, 16 episodes)",
    ),
    Comparison(
        "ppo_pendulum_gymnax_settings",
        "ppo",
        "Pendulum-v1",
        32,
        1_000_960,
        tuple(GYMNAX_PENDULUM),
        -130.0,
        GYMNAX.format(env="Pendulum-v1"),
        1_000_000,
        "gymnax-blines' settings (32 envs x 16 steps, 4 epochs x 4 minibatches, 64-64 ReLU MLPs, lr 5e-4 "
        "constant, no normalisation, sampled evaluation, 16 episodes)",
    ),
    Comparison(
        "ppo_breakout_gymnax_settings",
        "ppo",
        "Breakout-MinAtar",
        8,
        10_002_432,
        tuple(GYMNAX_BREAKOUT),
        28.0,
        GYMNAX.format(env="Breakout-MinAtar"),
        10_000_000,
        "gymnax-blines' settings (64 envs x 128 steps, 4 epochs x 8 minibatches, 256-256 ReLU MLPs on the "
        "flattened observation, gamma 0.999, lr 5e-4 constant, sampled evaluation, 16 episodes)",
        cpu_cost="11.1k env steps/s with 8 seeds on 2 cores (measured): 8 x 10M steps took 2.0 h",
    ),
    Comparison(
        "ppo_breakout_minatar_preset",
        "ppo",
        "Breakout-MinAtar",
        8,
        10_002_432,
        ("eval_every=37",),
        28.0,
        GYMNAX.format(env="Breakout-MinAtar"),
        10_000_000,
        "purerl's MinAtar preset (MinAtar CNN, 64 envs x 128 steps, lr 5e-4 decayed, greedy evaluation)",
        cpu_cost="15.4k env steps/s with 8 seeds on 2 cores (measured): 8 x 10M steps took 1.5 h",
    ),
    # No PQN figure for Breakout-MinAtar is published as a number (the PQN paper and purejaxql show MinAtar
    # curves only), so PQN is set against the same PPO figure: an across-algorithm reference, not a match.
    Comparison(
        "pqn_breakout_minatar_preset",
        "pqn",
        "Breakout-MinAtar",
        8,
        10_000_384,
        ("eval_every=257",),  # 9,766 updates of 1,024 steps: 38 whole blocks, the first count >= 10M
        28.0,
        GYMNAX.format(env="Breakout-MinAtar") + " (a PPO figure: no PQN number is published)",
        10_000_000,
        "purerl's PQN MinAtar preset (MinAtar CNN with layer norm, 32 envs x 32 steps, 2 epochs x 2 "
        "minibatches, Q(lambda = 0.65), lr 1e-3 decayed, epsilon 1 -> 0.05 over 20%, greedy evaluation)",
        cpu_cost="47.4k env steps/s with 8 seeds on 2 cores (measured): 8 x 10M steps took 28 min",
    ),
)


def verdict(summary: dict, published: float) -> str:
    """ "above" / "below" the published value when the IQM's whole CI is on one side, else "consistent"."""
    if summary["ci_low"] > published:
        return "above"
    if summary["ci_high"] < published:
        return "below"
    return "consistent"


def learning_curve(run_dir: Path) -> dict | None:
    """`{"env_steps", "iqm", "low", "high"}` (each `[B]`) of a run's eval returns; None without metrics."""
    from purerl.stats import bootstrap_ci_pointwise

    if not (run_dir / "metrics.npz").is_file():
        return None
    with np.load(run_dir / "metrics.npz") as metrics:
        returns, steps = metrics["eval_return"], metrics["env_steps"]  # [S, B], [B]
    point, low, high = bootstrap_ci_pointwise(returns, num_resamples=500)
    return {"env_steps": steps.tolist(), "iqm": point.tolist(), "low": low.tolist(), "high": high.tolist()}


def record(entry: Comparison, summary: dict, run_dir: Path | None = None) -> dict:
    """The JSON of one finished entry: the runner's summary, the entry, the comparison and, given the run's
    directory, its learning curve."""
    final = summary["final_return"]
    per_seed = np.asarray(final["per_seed"], np.float64)
    at_or_above = int(np.sum(per_seed >= entry.published))
    return {
        **summary,
        "entry": dataclasses.asdict(entry),
        "command": entry.command,
        "seeds_at_or_above_published": at_or_above,
        "fraction_at_or_above_published": at_or_above / int(summary["num_seeds"]),
        "verdict": verdict(final, entry.published),
        "curve": learning_curve(run_dir) if run_dir is not None else None,
    }


def plot(records: list[tuple[Comparison, dict]], path: Path) -> None:
    """One panel per entry: eval-return IQM and 95% band against env steps; the published value dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from purerl import io

    drawn = [(e, r) for e, r in records if r.get("curve")]
    if not drawn:
        return
    fig, axes = plt.subplots(1, len(drawn), figsize=(4.2 * len(drawn), 3.4), squeeze=False)
    for ax, (entry, r) in zip(axes[0], drawn, strict=True):
        curve = r["curve"]
        ax.plot(curve["env_steps"], curve["iqm"], color="tab:blue", label=f"purerl ({r['num_seeds']} seeds)")
        ax.fill_between(curve["env_steps"], curve["low"], curve["high"], color="tab:blue", alpha=0.25)
        ax.axhline(entry.published, color="black", ls="--", lw=1, label=f"published ({entry.budget:,} steps)")
        ax.set_title(entry.name, fontsize=9)
        ax.set_xlabel("env steps per seed")
        ax.set_ylabel("eval return (IQM, 95% CI)")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def write_table() -> None:
    from purerl import io
    from purerl.stats import format_ci

    lines = [
        "# Same-budget comparisons with published figures",
        "",
        "Generated by `python benchmarks/published_comparison.py` from `published/*.json`. Verdict: the "
        "IQM's 95% CI wholly above / below the published value, else consistent. The published figures "
        "are single runs (no seed count or interval is given), so the fraction of purerl seeds at or above "
        "them is the fairer reading.",
        "",
        "| entry | env | purerl setting | seeds | env steps / seed | final return IQM [95% CI] | mean "
        "| published (budget) | seeds >= published | verdict | env steps/s |",
        "|---|---|---|---:|---:|---|---:|---|---:|---|---:|",
    ]
    notes, records = [], []
    for entry in ENTRIES:
        path = RESULTS / f"{entry.name}.json"
        published = f"{entry.published:g} ({entry.budget:,})"
        if not path.exists():
            reason = entry.cpu_cost or "no result file yet"
            lines.append(
                f"| {entry.name} | {entry.env} | {entry.setting} | - | - | not run ({reason}) | - "
                f"| {published} | - | - | - |"
            )
            continue
        r = io.read_json(path)
        records.append((entry, r))
        final = r["final_return"]
        lines.append(
            f"| {entry.name} | {entry.env} | {entry.setting} | {r['num_seeds']} "
            f"| {r['total_timesteps_actual']:,} | {format_ci(final)} | {final['mean']:.1f} | {published} "
            f"| {r['fraction_at_or_above_published']:.2f} ({r['seeds_at_or_above_published']}"
            f"/{r['num_seeds']}) | {r['verdict']} | {r['env_steps_per_second']:,.0f} |"
        )
        notes.append(f"- `{entry.name}`: `{r['command']}`; source: {entry.source}.")
    lines += ["", "Commands and sources:", "", *notes, ""]
    plot(records, TABLE.with_suffix(".png"))
    if any(r.get("curve") for _, r in records):
        lines += [f"![learning curves]({TABLE.with_suffix('.png').name})", ""]
    with io.atomic_path(TABLE) as tmp:
        tmp.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    from purerl import io

    names = [entry.name for entry in ENTRIES]
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", choices=names, help="run these entries (any cost)")
    parser.add_argument(
        "--import-run",
        nargs="+",
        default=[],
        metavar="NAME=DIR",
        help="record a finished `purerl train --out DIR` run made with NAME's command",
    )
    parser.add_argument("--table", action="store_true", help="only regenerate the table")
    args = parser.parse_args(argv)
    by_name = {entry.name: entry for entry in ENTRIES}
    imports = [item.partition("=")[::2] for item in args.import_run]
    for (name, run_dir), item in zip(imports, args.import_run, strict=True):
        if name not in by_name or not run_dir:
            parser.error(f"--import-run: expected NAME=DIR with NAME one of {', '.join(names)}; got {item!r}")
        if not (Path(run_dir) / "summary.json").is_file():
            parser.error(f"--import-run: {run_dir} holds no finished run (no summary.json)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name, run_dir in imports:
        summary = io.read_json(Path(run_dir) / "summary.json")
        summary["wall_seconds"] = summary["compile_seconds"] + summary["run_seconds"]
        io.write_json(RESULTS / f"{name}.json", record(by_name[name], summary, Path(run_dir)))
    if args.only:
        todo = [by_name[n] for n in args.only]
    elif args.table or args.import_run:
        todo = []
    else:
        todo = [e for e in ENTRIES if not e.cpu_cost]
    for entry in todo:
        run_dir = Path("runs/published") / entry.name
        summary = run_entry(entry.algo, entry.env, entry.seeds, entry.timesteps, list(entry.sets), run_dir)
        io.write_json(RESULTS / f"{entry.name}.json", record(entry, summary, run_dir))
        iqm = summary["final_return"]["iqm"]
        print(f"{entry.name}: IQM {iqm:.1f}, published {entry.published:g}", flush=True)
    write_table()
    print(TABLE.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
