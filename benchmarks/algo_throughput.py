"""Env steps/s and memory of every algorithm at 1 and 64 seeds (compile excluded), fresh process per point.

Discrete-action algorithms run CartPole-v1, continuous-only ones Pendulum-v1, each with its preset
settings and a short run (`TIMESTEPS[algo]` env steps per seed, or `--timesteps`; SAC and TD3 take one
gradient step per env step, so they get fewer, past their 1,000-step warm-up). Per-seed memory is the
slope of peak RSS between the two seed counts; the largest seed count that fits in 24 GiB is extrapolated
from it. The replay memory of DQN/SAC/TD3 at their default buffer size is counted exactly from the state.

    python benchmarks/algo_throughput.py
    python benchmarks/algo_throughput.py --algos dqn sac --seeds 1 16
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_facts, peak_rss_mib, run_point_in_subprocess

MEMORY_LIMIT_GIB = 24.0
# Env steps per seed per point: enough for a steady state, small enough for 64 seeds on 2 cores.
TIMESTEPS = {"sac": 6_000, "td3": 6_000, "dqn": 25_000}
DEFAULT_TIMESTEPS = 50_000


def default_env(algo: str) -> str:
    from purerl.agents import get_algorithm

    return "CartPole-v1" if "discrete" in get_algorithm(algo).action_spaces else "Pendulum-v1"


def tree_bytes(tree) -> int:
    import jax

    return int(sum(getattr(leaf, "nbytes", 0) for leaf in jax.tree.leaves(tree)))


def run_point(algo: str, num_seeds: int, timesteps: int) -> dict:
    import jax

    from purerl.cli import build_config_and_hparams
    from purerl.loop import make_train_fn

    env = default_env(algo)
    spec, config, hparams = build_config_and_hparams(algo, env, [], timesteps)
    agent = spec.make_agent(config)
    train = jax.jit(jax.vmap(make_train_fn(agent), in_axes=(0, None)))
    keys = jax.random.split(jax.random.key(0), num_seeds)
    start = time.perf_counter()
    compiled = train.lower(keys, hparams).compile()
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    out = compiled(keys, hparams)
    jax.block_until_ready(out)
    run_seconds = time.perf_counter() - start
    state = out.state
    buffer = getattr(state, "buffer", None)
    return {
        "algo": algo,
        "env": env,
        "num_seeds": num_seeds,
        "env_steps": num_seeds * agent.total_env_steps,
        "compile_seconds": compile_seconds,
        "run_seconds": run_seconds,
        "env_steps_per_second": num_seeds * agent.total_env_steps / run_seconds,
        "peak_rss_mib": peak_rss_mib(),
        "state_bytes_per_seed": tree_bytes(state) // num_seeds,
        "replay_bytes_per_seed": tree_bytes(buffer) // num_seeds if buffer is not None else 0,
    }


def main() -> None:
    from purerl import io
    from purerl.agents import algorithms

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--algos", nargs="+", default=None)
    parser.add_argument("--seeds", type=int, nargs=2, default=[1, 64])
    parser.add_argument("--timesteps", type=int, default=None, help="env steps per seed per point")
    parser.add_argument("--out", default="benchmarks/results/algo_throughput_cpu.json")
    parser.add_argument("--point", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point is not None:
        print(json.dumps(run_point(args.point[0], int(args.point[1]), int(args.timesteps))))
        return

    rows = []
    for algo in args.algos or list(algorithms()):
        if algo == "bc":  # supervised on a dataset: no env steps to measure
            continue
        timesteps = args.timesteps or TIMESTEPS.get(algo, DEFAULT_TIMESTEPS)
        points = [
            run_point_in_subprocess(__file__, ["--point", algo, str(s), "--timesteps", str(timesteps)])
            for s in args.seeds
        ]
        low, high = points
        per_seed_mib = max(
            (high["peak_rss_mib"] - low["peak_rss_mib"]) / (high["num_seeds"] - low["num_seeds"]), 1e-6
        )
        base_mib = low["peak_rss_mib"] - per_seed_mib * low["num_seeds"]
        rows.append(
            {
                "algo": algo,
                "env": low["env"],
                "timesteps_per_seed": timesteps,
                "points": points,
                "rss_mib_per_seed": per_seed_mib,
                "max_seeds_in_24_gib": int((MEMORY_LIMIT_GIB * 1024 - base_mib) / per_seed_mib),
                "replay_mib_per_seed": low["replay_bytes_per_seed"] / 2**20,
            }
        )
        print(f"{algo}: done", flush=True)

    header = (
        f"{'algo':<10} {'env':<12} "
        + " ".join(f"{f'sps@{s}':>11}" for s in args.seeds)
        + f" {'MiB/seed':>9} {'replay MiB':>10} {'max seeds 24GiB':>16}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        sps = " ".join(f"{p['env_steps_per_second']:>11,.0f}" for p in r["points"])
        print(
            f"{r['algo']:<10} {r['env']:<12} {sps} {r['rss_mib_per_seed']:>9.2f} "
            f"{r['replay_mib_per_seed']:>10.2f} "
            f"{r['max_seeds_in_24_gib']:>16,}"
        )
    io.write_json(
        args.out,
        {
            "benchmark": "algo_throughput",
            "timesteps_per_seed": "per row (rows[i].timesteps_per_seed)",
            "machine": machine_facts(),
            "note": "compile excluded; peak RSS per fresh process; max seeds extrapolated linearly from "
            "the RSS slope between the two seed counts",
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
