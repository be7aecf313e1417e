"""Seed scaling: env steps/s, wall time and peak memory of PPO as the number of seeds (and devices) grows.

    python benchmarks/seed_scaling.py                                   # CPU, 1 .. 1024 seeds, 1/2/4 devices
    python benchmarks/seed_scaling.py --platform gpu --max-seeds 8192   # on a GPU machine

Every point runs in a fresh subprocess (so peak memory is that point's own, and a forced host-device
count can be set before JAX starts) through `purerl.runner.run`, the code path of `purerl train`. Each
point runs the same short PPO job twice: the first call compiles (the runner caches the program), the
second is timed, so compilation is excluded. A run is `--updates` PPO updates of a fixed small per-seed
workload (4 envs x 32 steps, one epoch of one minibatch), one update per chunk, with a one-episode,
16-step evaluation after each update: seeds, not per-seed work, are what grows.

Peak memory: the process's peak resident set (`resource.getrusage`, which includes compilation) on CPU,
and also JAX's `peak_bytes_in_use` where the device reports memory statistics (GPUs).

Prints a table, writes JSON (default `benchmarks/results/seed_scaling_<platform>.json`) and a PNG plot.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as platform_lib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
ENV_STEPS_PER_UPDATE = 4 * 32  # per seed: num_envs x num_steps below


def bench_config(env_name: str, updates: int):
    """The per-seed PPO workload of every point (small, so the seed axis dominates)."""
    from purerl.agents.ppo import PPOConfig

    network = (
        {"network": "minatar_cnn", "hidden_sizes": (128,), "activation": "relu"}
        if env_name.endswith("-MinAtar")
        else {}
    )
    return PPOConfig(
        env_name=env_name,
        total_timesteps=updates * ENV_STEPS_PER_UPDATE,
        num_envs=4,
        num_steps=32,
        num_epochs=1,
        num_minibatches=1,
        eval_every=1,
        eval_episodes=1,
        eval_max_steps=16,
        **network,
    )


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One point, in this (fresh) process: compile once, then time a second identical run."""
    import resource

    import jax

    from purerl import runner
    from purerl.agents.ppo import PPOHParams

    devices = jax.devices()[: spec["devices"]]
    if len(devices) != spec["devices"]:
        raise SystemExit(f"asked for {spec['devices']} devices, JAX sees {len(jax.devices())}")
    config = bench_config(spec["env"], spec["updates"])
    kwargs = {"num_chunks": spec["updates"], "progress": False, "devices": devices}
    t0 = time.perf_counter()
    first = runner.run(config, PPOHParams(), spec["seeds"], **kwargs)
    first_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    timed = runner.run(config, PPOHParams(), spec["seeds"], **kwargs)
    wall = time.perf_counter() - t0
    assert timed.summary["compile_cached"], "the timed run recompiled"
    state_bytes = sum(x.nbytes for x in jax.tree.leaves(timed.state))
    point = {
        **spec,
        "env_steps_per_second": timed.summary["env_steps_per_second"],
        "run_seconds": timed.summary["run_seconds"],
        "wall_seconds_timed_call": wall,
        "compile_seconds": first.summary["compile_seconds"],
        "wall_seconds_first_call": first_wall,
        "env_steps_timed": spec["updates"] * ENV_STEPS_PER_UPDATE * spec["seeds"],
        "num_runs_padded": timed.summary["num_runs_padded"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "state_mib": state_bytes / 2**20,
        "diverged": timed.summary["num_diverged"],
    }
    stats = devices[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        point["device_peak_mib"] = stats["peak_bytes_in_use"] / 2**20
    return point


def run_point(spec: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ)
    env["JAX_PLATFORMS"] = "cuda" if args.platform == "gpu" else "cpu"
    flags = [env.get("XLA_FLAGS", "")]
    if args.platform == "cpu" and spec["devices"] > 1:
        flags.append(f"--xla_force_host_platform_device_count={spec['devices']}")
    env["XLA_FLAGS"] = " ".join(f for f in flags if f)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.point_timeout)
    except subprocess.TimeoutExpired:
        return {**spec, "error": f"timed out after {args.point_timeout} s"}
    if proc.returncode != 0:
        return {**spec, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    point = json.loads(proc.stdout.strip().splitlines()[-1])
    point["xla_flags"] = env["XLA_FLAGS"]
    return point


def format_table(points: list[dict[str, Any]]) -> str:
    header = (
        f"{'env':<18} {'seeds':>6} {'dev':>4} {'env steps/s':>12} {'run s':>7} {'compile s':>9} "
        f"{'peak RSS MiB':>12}"
    )
    lines = [header, "-" * len(header)]
    for p in points:
        if "error" in p:
            lines.append(f"{p['env']:<18} {p['seeds']:>6} {p['devices']:>4}   {p['error']}")
            continue
        lines.append(
            f"{p['env']:<18} {p['seeds']:>6} {p['devices']:>4} {p['env_steps_per_second']:>12,.0f} "
            f"{p['run_seconds']:>7.2f} {p['compile_seconds']:>9.1f} {p['peak_rss_mib']:>12.0f}"
        )
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from purerl import io

    ok = [p for p in result["seed_points"] if "error" not in p]
    dev = [p for p in result["device_points"] if "error" not in p]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for env in sorted({p["env"] for p in ok}):
        pts = sorted((p for p in ok if p["env"] == env), key=lambda p: p["seeds"])
        seeds = [p["seeds"] for p in pts]
        axes[0].plot(seeds, [p["env_steps_per_second"] for p in pts], "o-", label=env)
        axes[1].plot(seeds, [p["peak_rss_mib"] for p in pts], "o-", label=f"{env} peak RSS")
        if any("device_peak_mib" in p for p in pts):
            axes[1].plot(seeds, [p.get("device_peak_mib") for p in pts], "s--", label=f"{env} device peak")
    for ax, ylabel in ((axes[0], "env steps / s"), (axes[1], "peak memory (MiB)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("seeds")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    for env in sorted({p["env"] for p in dev}):
        pts = sorted((p for p in dev if p["env"] == env), key=lambda p: p["devices"])
        axes[2].plot([p["devices"] for p in pts], [p["env_steps_per_second"] for p in pts], "o-", label=env)
    axes[2].set_xlabel(f"devices ({result['platform']}; {result['device_seeds']} seeds)")
    axes[2].set_ylabel("env steps / s")
    axes[2].grid(True, alpha=0.3)
    axes[2].legend(fontsize=8)
    fig.suptitle(f"PPO seed scaling on {result['platform']} ({result['machine']['note']})", fontsize=9)
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--platform", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--envs", default="CartPole-v1,Breakout-MinAtar")
    parser.add_argument(
        "--seeds", default="1,4,16,64,256,1024,4096,8192", help="seed counts (<= --max-seeds)"
    )
    parser.add_argument("--max-seeds", type=int, default=1024)
    parser.add_argument("--device-counts", default="1,2,4", help="device counts (forced host devices on CPU)")
    parser.add_argument("--device-seeds", type=int, default=256, help="seeds of the device-count points")
    parser.add_argument("--device-env", default="CartPole-v1")
    parser.add_argument("--updates", type=int, default=3, help="timed PPO updates per point")
    parser.add_argument("--point-timeout", type=int, default=600, help="seconds before a point is abandoned")
    parser.add_argument("--note", default="", help="what else ran on the machine (stored in the JSON)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    seeds = [int(s) for s in args.seeds.split(",") if int(s) <= args.max_seeds]
    envs = [e.strip() for e in args.envs.split(",") if e.strip()]
    out = args.out or RESULTS / f"seed_scaling_{args.platform}.json"
    plot_path = args.plot or out.with_suffix(".png")
    load_before, t0 = _load(), time.perf_counter()
    seed_points, device_points = [], []

    def build_result(complete: bool) -> dict[str, Any]:
        import jax

        cpu_count = os.cpu_count()
        note = args.note or (
            f"{cpu_count} cores; load average {load_before} before and {_load()} after (this run's own "
            "points count in it)"
        )
        return {
            "benchmark": "seed_scaling",
            "platform": args.platform,
            "command": "python benchmarks/seed_scaling.py "
            + " ".join(sys.argv[1:] if argv is None else argv),
            "jax_version": jax.__version__,
            "python": platform_lib.python_version(),
            "machine": {
                "cpu_count": cpu_count,
                "processor": platform_lib.processor() or platform_lib.machine(),
                "load_average_before": load_before,
                "load_average_after": _load(),
                "note": note,
            },
            "workload": {
                "algo": "ppo",
                "per_seed": "4 envs x 32 steps per update, 1 epoch x 1 minibatch; "
                "eval 1 episode x 16 steps/update",
                "env_steps_per_update_per_seed": ENV_STEPS_PER_UPDATE,
                "timed_updates": args.updates,
                "timing": "second of two identical runner.run calls in a fresh process (compile excluded); "
                "includes the per-chunk host sync and the evaluation",
                "memory": "peak RSS of the point's process (includes compilation); device_peak_mib on GPUs",
            },
            "device_seeds": args.device_seeds,
            "seed_points": seed_points,
            "device_points": device_points,
            "total_seconds": time.perf_counter() - t0,
            # False while points are still running: the file is rewritten after every point, so a run
            # stopped from outside (a time limit) keeps the points it finished.
            "complete": complete,
        }

    from purerl import io

    for env in envs:
        for n in seeds:
            point = run_point({"env": env, "seeds": n, "devices": 1, "updates": args.updates}, args)
            seed_points.append(point)
            print(format_table([point]).splitlines()[-1], flush=True)
            io.write_json(out, build_result(complete=False))
    device_counts = [int(d) for d in args.device_counts.split(",") if d.strip()]
    for d in device_counts:
        spec = {"env": args.device_env, "seeds": args.device_seeds, "devices": d, "updates": args.updates}
        point = run_point(spec, args)
        device_points.append(point)
        print(format_table([point]).splitlines()[-1], flush=True)
        io.write_json(out, build_result(complete=False))

    result = build_result(complete=True)
    io.write_json(out, result)
    plot(result, plot_path)
    print()
    print(format_table(seed_points + device_points))
    print(f"wrote {out} and {plot_path} ({result['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
