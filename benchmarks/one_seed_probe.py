"""Where one-seed PPO time goes on a small CPU, and two levers that do not make it robustly faster.

`ppo_throughput.py` finds purerl at about the reference's speed at one seed, never clearly above it. This
probe measures the two effects behind that (see docs/performance.md):

1. Random numbers. JAX lowers its Threefry hash on CPU as a five-iteration loop (about 80 kernel launches
   per hash); a rollout step draws a few. "rollout" times `rollout.collect` alone (PPO's CartPole policy,
   4 envs x 128 steps, fixed parameters) with JAX's lowering and with a straight-line lowering of the
   same hash (`threefry2x32` below; identical bits), each in a fresh process.
2. XLA's thread pool. "ppo" times the whole one-seed PPO program (`classic_config`, purerl) and the
   reference on every core and pinned to one core (the pool is sized from the affinity when JAX starts),
   with each threefry lowering.

    python benchmarks/one_seed_probe.py                  # writes benchmarks/results/one_seed_probe_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from statistics import median

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_facts, run_point_in_subprocess

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry2x32(key1, key2, count1, count2):
    """Threefry-2x32, 20 rounds (Salmon et al., 2011), as straight-line uint32 arithmetic."""
    import jax.numpy as jnp

    key1, key2, x1, x2 = jnp.broadcast_arrays(key1, key2, count1, count2)
    schedule = (key1, key2, key1 ^ key2 ^ np.uint32(0x1BD11BDA))
    x1, x2 = x1 + schedule[0], x2 + schedule[1]
    for group in range(5):
        for bits in _ROTATIONS[group % 2]:
            x1 = x1 + x2
            x2 = ((x2 << np.uint32(bits)) | (x2 >> np.uint32(32 - bits))) ^ x1
        x1 = x1 + schedule[(group + 1) % 3]
        x2 = x2 + schedule[(group + 2) % 3] + np.uint32(group + 1)
    return x1, x2


# Known-answer vectors of Threefry-2x32-20 from Random123 (Salmon et al., 2011): (key, counter) -> output.
_KNOWN_ANSWERS = (
    ((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
)


def use_straight_line_threefry() -> None:
    """Lower `jax.random`'s hash with `threefry2x32` on CPU in this process, after checking its bits."""
    for key, count, expected in _KNOWN_ANSWERS:
        words = [np.uint32(w) for w in (*key, *count)]
        if tuple(int(w) for w in threefry2x32(*words)) != expected:
            raise AssertionError(f"threefry2x32{key + count} differs from the known answer {expected}")
    from jax.extend.core.primitives import threefry2x32_p
    from jax.interpreters import mlir

    rule = mlir.lower_fun(threefry2x32, multiple_results=True)
    mlir.register_lowering(threefry2x32_p, rule, platform="cpu")


def _best_seconds(fn, args, repeats: int = 3) -> float:
    import jax

    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def rollout_point(updates: int = 300) -> dict:
    """Env steps/s of `rollout.collect` alone (1 seed, 4 envs x 128 steps per call, fixed params)."""
    import jax

    from purerl import rollout
    from purerl.agents.actor_critic import make_actor_critic, make_training_env
    from purerl.agents.ppo import PPOConfig
    from purerl.loop import make_env

    config = PPOConfig(env_name="CartPole-v1", network="mlp", hidden_sizes=(64, 64), activation="tanh")
    env, env_params = make_env(config, "ppo", ("discrete",))
    train_env = make_training_env(env)
    network = make_actor_critic(env.spec, config)

    def run(key):
        envs = rollout.reset_batch(key, train_env, env_params, 4)
        params = network.init(key, envs.obs)

        def policy(key, obs):
            pi, value = network.apply(params, obs)
            action = pi.sample(key)
            return action, {"log_prob": pi.log_prob(action), "value": value}

        def collect(envs, key):
            envs, traj, info = rollout.collect(key, train_env, env_params, policy, envs, 128)
            return envs, traj.reward.sum() + traj.extras["value"].sum() + info["episode_return"].sum()

        return jax.lax.scan(collect, envs, jax.random.split(key, updates))[1]

    keys = jax.random.split(jax.random.key(0), 1)
    seconds = _best_seconds(jax.jit(jax.vmap(run)).lower(keys).compile(), (keys,))
    return {"env_steps_per_second": updates * 128 * 4 / seconds}


def ppo_point(implementation: str, total_timesteps: int) -> dict:
    from ppo_throughput import jitted_program

    train, args, env_steps = jitted_program(1, total_timesteps, implementation)
    return {"env_steps_per_second": env_steps / _best_seconds(train.lower(*args).compile(), args)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--total-timesteps", type=int, default=131_072)
    parser.add_argument("--repeats", type=int, default=2, help="fresh processes per variant, alternating")
    parser.add_argument("--out", default="benchmarks/results/one_seed_probe_cpu.json")
    parser.add_argument("--point", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--straight-line", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one-core", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point is not None:
        if args.one_core:  # before JAX starts: XLA sizes its CPU thread pool from the affinity
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        if args.straight_line:
            use_straight_line_threefry()
        point = rollout_point() if args.point == "rollout" else ppo_point(args.point, args.total_timesteps)
        print(json.dumps(point))
        return

    variants = [
        (what, cores, lowering)
        for what in ("rollout", "purerl", "reference")
        for cores in (("all",) if what == "rollout" else ("all", "one"))
        for lowering in ("loop", "straight")
    ]
    samples: dict[tuple, list[float]] = {v: [] for v in variants}
    for _ in range(args.repeats):
        for what, cores, lowering in variants:
            flags = ["--point", what, "--total-timesteps", str(args.total_timesteps)]
            flags += ["--one-core"] if cores == "one" else []
            flags += ["--straight-line"] if lowering == "straight" else []
            samples[(what, cores, lowering)].append(
                run_point_in_subprocess(__file__, flags)["env_steps_per_second"]
            )

    rows = [
        {
            "program": what,
            "cores": cores,
            "threefry": lowering,
            "env_steps_per_second": median(values),
            "samples": values,
        }
        for (what, cores, lowering), values in samples.items()
    ]
    print(f"{'program':>10} {'cores':>6} {'threefry':>9} {'env steps/s (median)':>21}  samples")
    for r in rows:
        shown = ", ".join(f"{v:,.0f}" for v in r["samples"])
        sps = r["env_steps_per_second"]
        print(f"{r['program']:>10} {r['cores']:>6} {r['threefry']:>9} {sps:>21,.0f}  {shown}")
    from purerl import io

    io.write_json(
        args.out,
        {
            "benchmark": "one_seed_probe",
            "config": "CartPole-v1, 1 seed; rollout: 4 envs x 128 steps per call; ppo: classic config "
            f"(ppo_throughput.classic_config), {args.total_timesteps} env steps, best of 3 calls per process",
            "machine": machine_facts(),
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
