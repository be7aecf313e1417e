"""Learning results for every algorithm: final evaluation return IQM [95% CI] over many seeds.

Each entry runs through the same runner as `purerl train` (the algorithm's presets + overrides), writes its
results directory under runs/algo_learning/ and its summary to
benchmarks/results/algo_learning/<algo>_<env>.json (one file per entry, so entries can run in parallel or
be re-run alone); benchmarks/results/algo_learning.md (the README table) is regenerated from all of them.

    python benchmarks/algo_learning.py                      # every entry
    python benchmarks/algo_learning.py --only dqn:CartPole-v1 sac:Pendulum-v1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np

RESULTS = Path("benchmarks/results/algo_learning")
TABLE = Path("benchmarks/results/algo_learning.md")

# (algo, env, seeds, total_timesteps or None for the preset's value, target[, --set overrides])
ENTRIES = [
    ("ppo", "CartPole-v1", 64, 500_000, ">= 475"),
    ("reinforce", "CartPole-v1", 32, None, ">= 475"),
    ("a2c", "CartPole-v1", 32, None, ">= 475"),
    ("dqn", "CartPole-v1", 32, None, ">= 475"),
    ("pqn", "CartPole-v1", 32, None, ">= 475"),
    ("ppo", "Pendulum-v1", 32, 500_000, ">= -250"),
    ("sac", "Pendulum-v1", 32, None, ">= -250"),
    ("td3", "Pendulum-v1", 32, None, ">= -250"),
    # MinAtar at a CPU budget (the MinAtar presets hold the full 1e7-step setting for accelerators).
    # PPO: a flattened-observation MLP and 16 envs, so a 32-seed run fits a 2-core CPU in minutes.
    (
        "ppo",
        "Breakout-MinAtar",
        32,
        1_000_000,
        "above random",
        ["network=mlp", "hidden_sizes=64,64", "num_envs=16", "num_minibatches=8", "eval_episodes=8"],
    ),
    # DQN and PQN: the MinAtar CNN with their MinAtar presets, at a CPU budget of steps.
    ("dqn", "Breakout-MinAtar", 32, 100_000, "above random", ["eval_episodes=8"]),
    ("pqn", "Breakout-MinAtar", 32, 250_000, "above random", ["eval_episodes=8"]),
]


def random_policy_return(env_name: str, num_episodes: int = 256) -> dict:
    """IQM [CI] of a uniformly random policy's episode return (the 'above random' baseline)."""
    from purerl import rollout, stats
    from purerl.envs import make

    env, params = make(env_name)
    space = env.spec.action_space

    def act(key, obs):
        return jax.vmap(space.sample)(jax.random.split(key, obs.shape[0])), {}

    keys = jax.random.split(jax.random.key(123), num_episodes)

    def one(key):
        return rollout.evaluate(key, env, params, act, 1, env.spec.max_episode_steps)["eval_return"]

    returns = np.asarray(jax.jit(jax.vmap(one))(keys))
    return stats.summarize(returns)


def run_entry(
    algo: str, env: str, seeds: int, timesteps: int | None, sets: list[str], out_dir: Path | None = None
) -> dict:
    """Runs one entry as `purerl train` would and returns its summary, with wall time and command added.

    `out_dir` is its results directory (default `runs/algo_learning/<algo>_<env>`)."""
    from purerl.cli import build_config_and_hparams
    from purerl.runner import run

    _, config, hparams = build_config_and_hparams(algo, env, sets, timesteps)
    out_dir = out_dir or Path("runs/algo_learning") / f"{algo}_{env}"
    start = time.perf_counter()
    result = run(config, hparams, seeds, out_dir=out_dir, progress=True)
    summary = dict(result.summary)
    summary["wall_seconds"] = time.perf_counter() - start
    summary["command"] = (
        f"purerl train {algo} --env {env} --seeds {seeds}"
        + (f" --total-timesteps {timesteps}" if timesteps else "")
        + "".join(f" --set {s}" for s in sets)
    )
    return summary


def load_results() -> dict:
    from purerl import io

    return {path.stem: io.read_json(path) for path in sorted(RESULTS.glob("*.json"))}


def seeds_at_target(result: dict, random_baseline: dict | None) -> str:
    """`"0.75 (24/32)"`: seeds whose final return meets the row's target (">= X", or "above random": above
    the random policy's IQM), over all seeds (a diverged seed has no final return and counts as missing)."""
    target = result.get("target", "")
    per_seed = np.asarray(result["final_return"]["per_seed"], np.float64)
    if target.startswith(">="):
        reached = per_seed >= float(target.removeprefix(">="))
    elif target == "above random" and random_baseline is not None:
        reached = per_seed > random_baseline["iqm"]
    else:
        return "-"
    count, total = int(np.sum(reached)), int(result["num_seeds"])
    return f"{count / total:.2f} ({count}/{total})"


def write_table() -> None:
    from purerl import io
    from purerl.stats import format_ci

    results = load_results()

    lines = [
        "| algorithm | env | seeds | env steps / seed | final return IQM [95% CI] | mean | target "
        "| seeds at target | env steps/s | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    baselines = {k.removeprefix("random_"): v for k, v in results.items() if k.startswith("random_")}
    for algo, env, *_ in ENTRIES:
        r = results.get(f"{algo}_{env}")
        if r is None:
            continue
        lines.append(
            f"| {algo} | {env} | {r['num_seeds']} | {r['total_timesteps']:,} "
            f"| {format_ci(r['final_return'])} | {r['final_return']['mean']:.1f} | {r.get('target', '')} | "
            f"{seeds_at_target(r, baselines.get(env))} | {r['env_steps_per_second']:,.0f} "
            f"| {r['wall_seconds']:.0f} |"
        )
    if baselines:
        lines.append("")
        lines.append(
            "Uniformly random policy (256 episodes): "
            + ", ".join(f"{env} {format_ci(s)}" for env, s in baselines.items())
        )
    with io.atomic_path(TABLE) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def main() -> None:
    from purerl import io

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", default=None, help="entries as algo:env")
    parser.add_argument("--seeds", type=int, default=None, help="override the seed count of every entry")
    parser.add_argument(
        "--import-run",
        nargs="*",
        default=[],
        metavar="ALGO:ENV=DIR",
        help="record an existing `purerl train --out DIR` run made with the entry's settings",
    )
    args = parser.parse_args()
    targets = {f"{entry[0]}:{entry[1]}": entry[4] for entry in ENTRIES}
    for item in args.import_run:
        key, run_dir = item.split("=", 1)
        summary = io.read_json(Path(run_dir) / "summary.json")
        summary["target"] = targets[key]
        summary["wall_seconds"] = summary["compile_seconds"] + summary["run_seconds"]
        summary["command"] = (
            f"purerl train {summary['algo']} --env {summary['env']} --seeds {summary['num_seeds']}"
        )
        io.write_json(RESULTS / f"{key.replace(':', '_')}.json", summary)
    if args.import_run:
        args.only = args.only or []
    for algo, env, seeds, timesteps, target, *sets in ENTRIES:
        sets = sets[0] if sets else []
        key = f"{algo}:{env}"
        if args.only is not None and key not in args.only:
            continue
        summary = run_entry(algo, env, args.seeds or seeds, timesteps, sets)
        summary["target"] = target
        io.write_json(RESULTS / f"{algo}_{env}.json", summary)
        if env.endswith("MinAtar") and not (RESULTS / f"random_{env}.json").exists():
            io.write_json(RESULTS / f"random_{env}.json", random_policy_return(env))
        print(
            f"{key}: IQM {summary['final_return']['iqm']:.1f} "
            f"[{summary['final_return']['ci_low']:.1f}, {summary['final_return']['ci_high']:.1f}]",
            flush=True,
        )
    write_table()
    print(TABLE.read_text())


if __name__ == "__main__":
    sys.exit(main())
