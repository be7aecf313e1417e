"""Bandit regret: does UCB1's and Thompson sampling's regret grow logarithmically, below epsilon-greedy's?

Claim under test: on Bernoulli bandits, the cumulative regret of UCB1 (Auer et al., 2002) and of Thompson
sampling with a Beta prior grows logarithmically in the number of pulls T, and at long horizons lies below
that of epsilon-greedy (fixed or decaying epsilon). Lai & Robbins (1985, "Asymptotically efficient adaptive
allocation rules", Adv. Appl. Math. 6) bound every consistent algorithm from below:

    lim inf_T  R_T / ln T  >=  sum_{a: p_a < p*} (p* - p_a) / KL(p_a || p*),

KL the Bernoulli Kullback-Leibler divergence. Two settings, each 10 arms and `horizon` pulls:

- random problems: every environment instance draws its own problem at reset (every arm's probability
  uniform in [0, 1], `Bandit-Bernoulli-v0` with `problem="random"`), `random_envs` instances per seed.
  The Lai-Robbins constant of a problem grows like 1 / (gap to the best arm) for small gaps, and under
  this distribution the smallest gap has a positive density at 0, so the bound averaged over problems is
  infinite: no bound is drawn for this setting, which carries the claim's tests.
- the fixed default problem (probabilities 0.1, 0.189, ..., 0.9), where the bound is a number and is
  drawn as `C ln T`.

Every agent runs as one compiled program per setting (`make_train`, vmapped over seeds); the seeds of a
setting are the same keys for every agent, so the agents meet the same problems and the same reward noise
(common random numbers) and the comparisons are paired. The metric is the pseudo-regret `sum_t (p* -
p_{a_t})` (`info["regret"]` of the env), averaged over a seed's instances.

    python experiments/bandit_regret.py            # full run, writes experiments/results/
    python experiments/bandit_regret.py --quick    # under 3 minutes, writes runs/bandit_regret_quick/
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from matplotlib.figure import Figure

from purerl import experiment, io, stats
from purerl.agents import get_algorithm
from purerl.envs import bandits

RESULTS = Path(__file__).parent / "results"
ENV = "Bandit-Bernoulli-v0"
NUM_ARMS = 10
# "Near-optimal at the end": mean pseudo-regret per pull over the last tenth of the horizon at most this.
NEAR_OPTIMAL = 0.01
# Logarithmic growth: the slope of R_T against ln T over the last decade is at most this multiple of
# the slope over the decade before (exactly logarithmic growth gives 1, T^gamma gives 10^gamma: linear
# regret 10, sqrt(T) 3.2); judged by the upper end of its 95% bootstrap CI.
LOG_GROWTH_MAX_RATIO = 2.0
# A slope ratio within this fraction of LOG_GROWTH_MAX_RATIO is reported as borderline.
BORDERLINE = 0.15
ALPHA = 0.05


@dataclasses.dataclass(frozen=True)
class Arm:
    """One agent of the comparison.

    Attributes:
        label: row label.
        algo: registered algorithm.
        config: its static options beyond the shared ones.
        hparams: its hyperparameters (the rest at their defaults).
    """

    label: str
    algo: str
    config: tuple[tuple[str, Any], ...] = ()
    hparams: tuple[tuple[str, Any], ...] = ()


# Settings fixed before the first run and not tuned: epsilon 0.1 and the gradient bandit's step size 0.1
# are Sutton & Barto's (2018, Fig. 2.2 and 2.5) examples; c = 50 explores for the first 50 pulls (5 per
# arm) and then at rate 50 / t. Auer et al.'s own choice c = 5 K / d^2 with d the smallest gap (0.089 on
# the fixed problem) would explore uniformly for the first ~6,300 pulls.
ARMS = (
    Arm("epsilon-greedy 0.1", "bandit_epsilon_greedy", (("schedule", "fixed"),), (("epsilon", 0.1),)),
    Arm("epsilon-greedy 50/t", "bandit_epsilon_greedy", (("schedule", "decay"),), (("c", 50.0),)),
    Arm("UCB1", "ucb1", (), (("c", 2.0),)),
    Arm("Thompson (Beta)", "thompson", (("posterior", "beta"),), (("alpha0", 1.0), ("beta0", 1.0))),
    Arm("gradient bandit", "gradient_bandit", (("baseline", True),), (("step_size", 0.1),)),
)
CLAIMED = ("UCB1", "Thompson (Beta)")
EPSILON_GREEDY = ("epsilon-greedy 0.1", "epsilon-greedy 50/t")


@dataclasses.dataclass(frozen=True)
class Setting:
    """One problem distribution.

    Attributes:
        label: panel and table title.
        problem: the env's `problem` option.
        num_envs: environment instances per seed.
    """

    label: str
    problem: str
    num_envs: int


@dataclasses.dataclass(frozen=True)
class Budget:
    """Sizes of a run (`--quick` shrinks them).

    Attributes:
        num_seeds: seeds per agent and setting (the same keys for every agent).
        horizon: pulls per instance; the report's checkpoints are horizon / 100, / 10 and horizon.
        random_envs: instances (each its own random problem) per seed.
        fixed_envs: instances of the fixed problem per seed.
        curve_points: log-spaced points of the plotted curves.
    """

    num_seeds: int
    horizon: int
    random_envs: int
    fixed_envs: int
    curve_points: int = 60

    @property
    def checkpoints(self) -> tuple[int, int, int]:
        return self.horizon // 100, self.horizon // 10, self.horizon

    def settings(self) -> tuple[Setting, Setting]:
        return (
            Setting("random problems (arms ~ U[0, 1])", "random", self.random_envs),
            Setting("fixed problem (0.1 ... 0.9)", "fixed", self.fixed_envs),
        )


FULL = Budget(num_seeds=1024, horizon=10_000, random_envs=3, fixed_envs=1)
QUICK = Budget(num_seeds=32, horizon=1_000, random_envs=2, fixed_envs=1, curve_points=30)


def bernoulli_kl(p: np.ndarray, q: float) -> np.ndarray:
    """KL(Bernoulli(p) || Bernoulli(q)), elementwise, for p and q in (0, 1)."""
    return p * np.log(p / q) + (1.0 - p) * np.log((1.0 - p) / (1.0 - q))


def lai_robbins_constant(probs: np.ndarray) -> float:
    """`sum_{a: p_a < p*} (p* - p_a) / KL(p_a || p*)` of one Bernoulli problem (Lai & Robbins, 1985)."""
    best = float(probs.max())
    worse = probs[probs < best]
    return float(np.sum((best - worse) / bernoulli_kl(worse, best)))


def run_arm(arm: Arm, setting: Setting, budget: Budget, keys: jax.Array) -> dict[str, Any]:
    """Train `arm` on `setting` for every seed; returns per-seed cumulative regret `[S, T]` and timings."""
    spec = get_algorithm(arm.algo)
    horizon, num_envs = budget.horizon, setting.num_envs
    config = spec.config_cls(
        env_name=ENV,
        env_kwargs={"num_arms": NUM_ARMS, "horizon": horizon, "problem": setting.problem},
        num_envs=num_envs,
        total_timesteps=num_envs * horizon,
        # One block: the loop's evaluation (greedy arm of the pooled statistics) says nothing about
        # regret, so it is kept to one step.
        eval_every=horizon,
        eval_episodes=1,
        eval_max_steps=1,
        **dict(arm.config),
    )
    hparams = spec.hparams_cls(**dict(arm.hparams))
    spec.validate_hparams(hparams)
    train = jax.jit(jax.vmap(spec.make_train(config), in_axes=(0, None)))
    t0 = time.perf_counter()
    compiled = train.lower(keys, hparams).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = compiled(keys, hparams)
    per_pull = np.asarray(out.metrics["regret"], np.float64).reshape(len(keys), horizon)
    run_s = time.perf_counter() - t0
    if not np.asarray(out.metrics["healthy"]).all():
        raise RuntimeError(f"{arm.label} on {setting.label}: a seed stopped being finite")
    return {
        "cumulative": np.cumsum(per_pull, axis=1),
        "final_rate": per_pull[:, -(horizon // 10) :].mean(axis=1),
        "compile_s": compile_s,
        "run_s": run_s,
        "pulls": len(keys) * num_envs * horizon,
    }


def curve_grid(budget: Budget) -> np.ndarray:
    """Log-spaced pull counts `1 .. horizon` (unique integers, the checkpoints included)."""
    grid = np.geomspace(1, budget.horizon, budget.curve_points).round().astype(int)
    return np.unique(np.concatenate([grid, budget.checkpoints]))


def slope(cumulative: np.ndarray, t_from: int, t_to: int) -> np.ndarray:
    """Per-seed slope of `R_T` against `ln T` between two pull counts: `(R_to - R_from) / ln(to / from)`."""
    return (cumulative[:, t_to - 1] - cumulative[:, t_from - 1]) / math.log(t_to / t_from)


def growth(cumulative: np.ndarray, budget: Budget) -> dict[str, Any]:
    """The slopes over the last two decades, their ratio (IQM of the last over IQM of the one before,
    with a paired percentile-bootstrap CI over seeds) and the local power-law exponent of the IQM."""
    t0, t1, t2 = budget.checkpoints
    previous, last = slope(cumulative, t0, t1), slope(cumulative, t1, t2)

    def ratio(rows: np.ndarray) -> float:
        # The bootstrap resamples seed indices, so a seed's two slopes stay together.
        rows = rows.astype(int)
        return float(stats.iqm(last[rows]) / max(stats.iqm(previous[rows]), 1e-12))

    low, high = stats.bootstrap_ci(np.arange(len(last), dtype=np.float64), statistic=ratio)
    regret_t1, regret_t2 = stats.iqm(cumulative[:, t1 - 1]), stats.iqm(cumulative[:, t2 - 1])
    return {
        "slope_previous": stats.summarize(previous),
        "slope_last": stats.summarize(last),
        "ratio": ratio(np.arange(len(last))),
        "ratio_ci": (low, high),
        "exponent": math.log(max(regret_t2, 1e-12) / max(regret_t1, 1e-12)) / math.log(t2 / t1),
    }


def summarize_setting(runs: dict[str, dict[str, Any]], budget: Budget) -> dict[str, Any]:
    """Per-agent summaries at the checkpoints, growth, near-optimal fractions, and the leader per T."""
    table = {}
    for label, run in runs.items():
        cumulative = run["cumulative"]
        table[label] = {
            "regret": {t: stats.summarize(cumulative[:, t - 1]) for t in budget.checkpoints},
            "growth": growth(cumulative, budget),
            "near_optimal": float(np.mean(run["final_rate"] <= NEAR_OPTIMAL)),
        }
    leaders = {}
    for t in budget.checkpoints:
        ranked = sorted(table, key=lambda label: table[label]["regret"][t]["iqm"])
        best, second = table[ranked[0]]["regret"][t], table[ranked[1]]["regret"][t]
        leaders[t] = {
            "best": ranked[0],
            "runner_up": ranked[1],
            "separated": best["ci_high"] < second["ci_low"],
        }
    return {"table": table, "leaders": leaders}


def claim_tests(runs: dict[str, dict[str, Any]], summary: dict[str, Any], budget: Budget) -> dict[str, Any]:
    """Both parts of the claim on one setting: logarithmic growth of UCB1 and Thompson sampling, and
    regret at the horizon below each epsilon-greedy's (one-sided paired permutation tests, Holm)."""
    horizon = budget.horizon
    logarithmic = {
        label: summary["table"][label]["growth"]["ratio_ci"][1] <= LOG_GROWTH_MAX_RATIO for label in CLAIMED
    }
    pairs = [(claimed, eps) for claimed in CLAIMED for eps in EPSILON_GREEDY]
    raw = [
        stats.permutation_test(
            runs[eps]["cumulative"][:, horizon - 1], runs[claimed]["cumulative"][:, horizon - 1], paired=True
        )
        for claimed, eps in pairs
    ]
    adjusted = stats.holm(raw)
    below = {
        f"{claimed} < {eps}": {"p": p, "p_holm": float(q), "held": bool(q <= ALPHA)}
        for (claimed, eps), p, q in zip(pairs, raw, adjusted, strict=True)
    }
    return {
        "logarithmic": logarithmic,
        "below": below,
        "held": all(logarithmic.values()) and all(b["held"] for b in below.values()),
    }


def run(budget: Budget, seed: int) -> dict[str, Any]:
    """Every agent on every setting; returns the per-seed curves, summaries and tests."""
    results = {}
    setting_keys = jax.random.split(jax.random.key(seed), 2)
    for setting, key in zip(budget.settings(), setting_keys, strict=True):
        keys = jax.random.split(key, budget.num_seeds)
        runs = {}
        for arm in ARMS:
            runs[arm.label] = run_arm(arm, setting, budget, keys)
            done = runs[arm.label]
            final = done["cumulative"][:, -1]
            print(
                f"{setting.problem:>6} | {arm.label:<20} R_T IQM {stats.iqm(final):8.1f}  "
                f"(compile {done['compile_s']:.0f} s, run {done['run_s']:.0f} s, "
                f"{done['pulls'] / done['run_s'] / 1e6:.2f}M pulls/s)",
                flush=True,
            )
        summary = summarize_setting(runs, budget)
        results[setting.problem] = {
            "setting": setting,
            "runs": runs,
            "summary": summary,
            "tests": claim_tests(runs, summary, budget),
        }
    fixed_probs = np.asarray(bandits.default_params(NUM_ARMS).probs, np.float64)
    results["lai_robbins"] = lai_robbins_constant(fixed_probs)
    return results


def fmt(summary: dict[str, Any], digits: int = 1) -> str:
    return f"{stats.format_ci(summary, digits)} ({summary['mean']:.{digits}f})"


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


def regret_table(result: dict[str, Any], budget: Budget) -> list[str]:
    table = result["summary"]["table"]
    head = " | ".join(f"R at T = {t:,}" for t in budget.checkpoints)
    lines = [
        f"| agent | {head} | near-optimal at the end | slope per ln T, last decade | slope ratio | "
        "local exponent |",
        "|---|" + "---|" * len(budget.checkpoints) + "---:|---|---|---:|",
    ]
    for label, row in table.items():
        g = row["growth"]
        cells = " | ".join(fmt(row["regret"][t]) for t in budget.checkpoints)
        lines.append(
            f"| {label} | {cells} | {row['near_optimal']:.2f} | {fmt(g['slope_last'])} | "
            f"{g['ratio']:.2f} [{g['ratio_ci'][0]:.2f}, {g['ratio_ci'][1]:.2f}] | {g['exponent']:.2f} |"
        )
    return lines


def readings(results: dict[str, Any], budget: Budget) -> list[str]:
    """The verdict bullets, generated from the tests."""
    lines = []
    for problem in ("random", "fixed"):
        result = results[problem]
        table, tests = result["summary"]["table"], result["tests"]
        label = result["setting"].label
        for t, leader in result["summary"]["leaders"].items():
            best = table[leader["best"]]["regret"][t]
            second = table[leader["runner_up"]]["regret"][t]
            margin = "clearly (CIs disjoint)" if leader["separated"] else "but its CI overlaps the next one's"
            lines.append(
                f"- {label}, T = {t:,}: lowest regret **{leader['best']}** {stats.format_ci(best)}, "
                f"{margin}: {leader['runner_up']} {stats.format_ci(second)}."
            )
        failed = []
        for claimed in CLAIMED:
            g = table[claimed]["growth"]
            grows = "logarithmically" if tests["logarithmic"][claimed] else "**faster than logarithmically**"
            if not tests["logarithmic"][claimed]:
                failed.append(f"{claimed}'s logarithmic growth")
            # A ratio this close to the criterion means the verdict rests on the chosen threshold.
            close = abs(g["ratio"] / LOG_GROWTH_MAX_RATIO - 1.0) <= BORDERLINE
            note = f"; borderline, within {BORDERLINE:.0%} of the criterion" if close else ""
            lines.append(
                f"- {label}: {claimed}'s regret grows {grows} at this horizon: slope ratio "
                f"{g['ratio']:.2f} [{g['ratio_ci'][0]:.2f}, {g['ratio_ci'][1]:.2f}] "
                f"(criterion: upper CI <= {LOG_GROWTH_MAX_RATIO:g}{note})."
            )
        for name, test in tests["below"].items():
            verdict = "holds" if test["held"] else "**does not hold**"
            if not test["held"]:
                failed.append(name)
            lines.append(
                f"- {label}: {name} at T = {budget.horizon:,} {verdict} (one-sided paired permutation "
                f"p = {test['p']:.4f}, Holm {test['p_holm']:.4f})."
            )
        if tests["held"]:
            lines.append(f"- {label}: **the claim held** (every part, for UCB1 and Thompson sampling).")
        else:
            lines.append(f"- {label}: **the claim did not hold**; failed: {'; '.join(failed)}.")
    return lines


def write_report(results: dict[str, Any], budget: Budget, out_dir: Path, wall_s: float, quick: bool) -> None:
    bound = results["lai_robbins"]
    horizon = budget.horizon
    fixed_table = results["fixed"]["summary"]["table"]
    lines = [
        "# Bandit regret: UCB1 and Thompson sampling against epsilon-greedy and the Lai-Robbins bound",
        "",
        "Generated by `python experiments/bandit_regret.py" + (" --quick`" if quick else "`") + ".",
        "",
        "**Claim.** The cumulative regret of UCB1 and of Thompson sampling grows logarithmically in the "
        "number of pulls and, at long horizons, lies below epsilon-greedy's.",
        "",
        f"**Setup.** `{ENV}` with {NUM_ARMS} arms, {horizon:,} pulls per instance. Random problems: every "
        f"instance draws every arm's probability from U[0, 1] at reset, {budget.random_envs} instances per "
        f"seed; fixed problem: probabilities evenly spaced in [0.1, 0.9], {budget.fixed_envs} instance(s) "
        f"per seed. {budget.num_seeds} seeds per agent and setting, the same seeds (problems and reward "
        "noise) for every agent. Agents and their settings, fixed before the first run (not tuned): "
        + "; ".join(
            f"{a.label} (`{a.algo}`, " + ", ".join(f"{k}={v}" for k, v in a.config + a.hparams) + ")"
            for a in ARMS
        )
        + ".",
        "",
        "**Metric.** Pseudo-regret `R_T = sum_{t <= T} (p* - p_{a_t})`, averaged over a seed's instances. "
        "Cells: IQM across seeds [95% stratified bootstrap CI] (mean) (`purerl.stats`). *Near-optimal at "
        f"the end*: fraction of seeds whose regret per pull over the last tenth of the horizon is <= "
        f"{NEAR_OPTIMAL}. *Slope*: `(R_T2 - R_T1) / ln(T2 / T1)` per seed over the last decade "
        f"({budget.checkpoints[1]:,} -> {horizon:,}); *slope ratio*: IQM of that slope over the IQM of "
        f"the slope over the decade before, with a paired bootstrap CI (exactly logarithmic growth gives "
        "1, linear growth 10); *local exponent*: `ln(R_T2 / R_T1) / ln 10` of the IQMs (1 = linear).",
        "",
    ]
    for problem in ("random", "fixed"):
        result = results[problem]
        lines += [f"## {result['setting'].label}", "", *regret_table(result, budget), ""]
        if problem == "fixed":
            below_bound = [
                label
                for label, row in fixed_table.items()
                if row["regret"][horizon]["ci_high"] < bound * math.log(horizon)
            ]
            lines += [
                f"Lai-Robbins constant of this problem: C = {bound:.2f}, so a consistent algorithm's regret "
                f"is at least about C ln T = {bound * math.log(horizon):.1f} at T = {horizon:,} "
                "(asymptotically; the plot draws C ln T). Measured R_T / ln T at the horizon (IQM): "
                + ", ".join(
                    f"{label} {row['regret'][horizon]['iqm'] / math.log(horizon):.2f}"
                    for label, row in fixed_table.items()
                )
                + ". Below C ln T at the horizon: "
                + (", ".join(below_bound) if below_bound else "none")
                + ". The bound is a limit (lim inf of R_T / ln T) for consistent algorithms, so at a finite "
                "T an algorithm may sit below C ln T; Thompson sampling attains it asymptotically "
                "(Kaufmann, Korda & Munos, 2012).",
                "",
            ]
    tests = {problem: results[problem]["tests"] for problem in ("random", "fixed")}
    lines += [
        "## Verdicts (generated from the data)",
        "",
        f"Logarithmic growth: slope ratio's upper 95% CI <= {LOG_GROWTH_MAX_RATIO:g}. Below epsilon-greedy: "
        f"per-seed R_T at T = {horizon:,}, one-sided paired permutation test (sign flips, 10,000 "
        f"resamples), Holm-corrected over the {len(CLAIMED) * len(EPSILON_GREEDY)} comparisons of a "
        f"setting, at level {ALPHA}. The claim holds on a setting when every part holds.",
        "",
        *readings(results, budget),
        "",
        f"Overall: the claim {'held' if all(t['held'] for t in tests.values()) else 'did not hold'} on "
        + " and ".join(
            f"{results[p]['setting'].label} ({'held' if t['held'] else 'not held'})" for p, t in tests.items()
        )
        + f", at horizons up to {horizon:,} pulls.",
        "",
        "Caveats: one setting per agent, chosen before the first run and not tuned (UCB1's c = 2 is the "
        "published constant; a smaller c explores less, and a different c of the decaying epsilon-greedy "
        "would move it either way); 10 arms and Bernoulli rewards only; 'logarithmic at this horizon' is a "
        "statement about the last two decades up to T, judged against a chosen threshold, not about the "
        "limit.",
        "",
        "Curves: `bandit_regret.png` (IQM of the cumulative regret across seeds with 95% bootstrap bands, "
        "log-x; the fixed panel adds C ln T).",
        "",
        "## Budget",
        "",
    ]
    timing = []
    for problem in ("random", "fixed"):
        for label, run_ in results[problem]["runs"].items():
            timing.append(
                f"{problem} {label}: {run_['compile_s']:.0f} + {run_['run_s']:.0f} s "
                f"({run_['pulls'] / run_['run_s'] / 1e6:.2f}M pulls/s)"
            )
    lines += [
        f"Wall time {wall_s / 60:.1f} min for everything (compilation included) on "
        f"{experiment.host_summary()}. Seconds per program (compile + run): " + "; ".join(timing) + ".",
        "",
    ]
    with io.atomic_path(out_dir / "bandit_regret.md") as tmp:
        tmp.write_text("\n".join(lines))
    bands = curve_bands(results, budget)
    io.write_json(
        out_dir / "bandit_regret.json",
        {
            "budget": dataclasses.asdict(budget),
            "arms": [dataclasses.asdict(a) for a in ARMS],
            "lai_robbins_constant_fixed": bound,
            "curve_pulls": curve_grid(budget),
            "settings": {
                problem: {
                    "setting": dataclasses.asdict(results[problem]["setting"]),
                    "summary": without_per_seed(results[problem]["summary"]),
                    "tests": results[problem]["tests"],
                    "curves": bands[problem],
                    "per_seed_regret": {
                        label: {t: np.round(r["cumulative"][:, t - 1], 3) for t in budget.checkpoints}
                        for label, r in results[problem]["runs"].items()
                    },
                    "timings": {
                        label: {"compile_s": r["compile_s"], "run_s": r["run_s"], "pulls": r["pulls"]}
                        for label, r in results[problem]["runs"].items()
                    },
                }
                for problem in ("random", "fixed")
            },
            "wall_seconds": wall_s,
        },
    )
    plot(results, bands, budget, out_dir / "bandit_regret.png")


def curve_bands(results: dict[str, Any], budget: Budget) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Setting -> agent -> `{"iqm", "ci_low", "ci_high"}` of the cumulative regret at `curve_grid`."""
    grid = curve_grid(budget)
    bands = {}
    for problem in ("random", "fixed"):
        bands[problem] = {}
        for label, run_ in results[problem]["runs"].items():
            point, low, high = stats.bootstrap_ci_pointwise(
                run_["cumulative"][:, grid - 1], num_resamples=500
            )
            bands[problem][label] = {"iqm": point, "ci_low": low, "ci_high": high}
    return bands


def without_per_seed(tree: Any) -> Any:
    """`tree` with the `per_seed` lists of `stats.summarize` dropped (per-seed numbers are stored once)."""
    if isinstance(tree, dict):
        return {k: without_per_seed(v) for k, v in tree.items() if k != "per_seed"}
    return tree


def plot(results: dict[str, Any], bands: dict[str, Any], budget: Budget, path: Path) -> None:
    """One panel per setting: IQM cumulative regret with 95% bootstrap bands on a log-x axis."""
    grid = curve_grid(budget)
    fig = Figure(figsize=(11.0, 4.2), layout="constrained")
    for ax, problem in zip(fig.subplots(1, 2), ("random", "fixed"), strict=True):
        for label, band in bands[problem].items():
            (line,) = ax.plot(grid, band["iqm"], label=label)
            ax.fill_between(
                grid, band["ci_low"], band["ci_high"], color=line.get_color(), alpha=0.2, linewidth=0
            )
        if problem == "fixed":
            bound = results["lai_robbins"]
            ax.plot(grid, bound * np.log(grid), "k--", label=f"Lai-Robbins C ln T (C = {bound:.1f})")
        ax.set_xscale("log")
        ax.set_xlabel("pulls T")
        ax.set_ylabel("cumulative pseudo-regret R_T")
        ax.set_title(results[problem]["setting"].label)
        ax.grid(True, alpha=0.3)
        ax.legend(title="IQM across seeds, 95% CI", fontsize="small")
    final = Path(path)
    with io.atomic_path(final) as tmp, open(tmp, "wb") as f:
        fig.savefig(f, format="png", dpi=130)


def main(argv: list[str] | None = None) -> None:
    args, out_dir = experiment.parse_args(
        "bandit_regret",
        __doc__,
        argv,
        RESULTS,
        "tiny budget (smoke run, under 3 minutes)",
        experiment.add_seed,
    )
    budget = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    results = run(budget, args.seed)
    write_report(results, budget, out_dir, time.perf_counter() - t0, args.quick)
    print(f"wrote {out_dir / 'bandit_regret.md'} and {out_dir / 'bandit_regret.png'}")


if __name__ == "__main__":
    main()
