"""AlphaZero self-play throughput: moves/s and search simulations/s at 1 and 16 seeds, memory per seed.

Points (each in a fresh process, compile time excluded, one jitted program vmapped over seeds):

- `update`: one real `alphazero` update (Gumbel self-play of `num_games` games x `num_steps` moves at
  `num_simulations`, then `gradient_steps` minibatch steps from the replay);
- `self_play`: the self-play part alone (`games.training.self_play` with the same network).

Workloads: tic-tac-toe with the MLP (the experiment's setting), connect four with the MLP (the CPU
experiment's) and with the residual CNN (the accelerator preset). Moves/s counts every self-play move of
every seed; simulations/s is that times `num_simulations`. Memory per seed is XLA's accounting of the
compiled program (arguments + outputs + temporaries - aliased) over the seeds, next to the bytes of one
seed's training state (parameters, Adam moments, replay). There is no reference implementation to
measure against in the same run, so no ratio is reported.

    python benchmarks/selfplay_throughput.py            # full table, writes benchmarks/results/
    python benchmarks/selfplay_throughput.py --quick    # seconds: a smoke run, no JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import compiled_bytes, machine_facts, peak_rss_mib, run_point_in_subprocess

WORKLOADS = {
    "tictactoe_mlp": ("TicTacToe", {"num_games": 64, "num_simulations": 16}),
    "connect_four_mlp": (
        "ConnectFour",
        {"network": "mlp", "hidden_sizes": (256, 256), "num_games": 32, "num_simulations": 16},
    ),
    "connect_four_resnet": ("ConnectFour", {"num_games": 32, "num_simulations": 16}),
}
QUICK = {"num_games": 4, "num_simulations": 2, "gradient_steps": 1, "batch_size": 8, "buffer_size": 512}


def run_point(workload: str, kind: str, num_seeds: int, quick: bool, min_seconds: float) -> dict:
    import jax

    from purerl.agents import alphazero
    from purerl.games.search import network_evaluator
    from purerl.games.training import self_play

    game_name, overrides = WORKLOADS[workload]
    config, hparams = alphazero.SPEC.preset(game_name, **{**overrides, **(QUICK if quick else {})})
    algo = alphazero.build(config, config.game)
    keys = jax.random.split(jax.random.key(0), num_seeds)
    states = jax.jit(jax.vmap(algo.init, in_axes=(0, None)))(keys, hparams)
    if kind == "update":
        fn = jax.jit(jax.vmap(lambda k, s: algo.update(k, s, hparams)[0]))
    else:
        net = alphazero.make_network(config, config.game)

        def play(key, state):
            evaluator = network_evaluator(lambda obs: net.apply(state.params, obs))
            records = self_play(
                key, config.game, evaluator, config.num_games, config.moves_per_update, config.num_simulations
            )
            return records.policy.sum()

        fn = jax.jit(jax.vmap(play))
    start = time.perf_counter()
    compiled = fn.lower(keys, states).compile()
    compile_seconds = time.perf_counter() - start
    xla_bytes = compiled_bytes(compiled)
    jax.block_until_ready(compiled(keys, states))  # warm-up
    calls, start = 0, time.perf_counter()
    while calls == 0 or time.perf_counter() - start < min_seconds:
        keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
        jax.block_until_ready(compiled(keys, states))
        calls += 1
    seconds = (time.perf_counter() - start) / calls
    moves = num_seeds * config.steps_per_update
    state_bytes = sum(x.nbytes for x in jax.tree.leaves(jax.tree.map(lambda x: x[0], states)))
    return {
        "workload": workload,
        "kind": kind,
        "num_seeds": num_seeds,
        "config": {k: v for k, v in {**overrides, **(QUICK if quick else {})}.items()},
        "seconds_per_call": seconds,
        "compile_seconds": compile_seconds,
        "moves_per_second": moves / seconds,
        "simulations_per_second": moves * config.num_simulations / seconds,
        "xla_bytes_per_seed": None if xla_bytes is None else xla_bytes / num_seeds,
        "state_bytes_per_seed": state_bytes,
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--min-seconds", type=float, default=3.0, help="timed seconds per point")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, in this process: a smoke run")
    parser.add_argument(
        "--out", default=None, help="JSON path (default benchmarks/results/...; --quick: none)"
    )
    parser.add_argument("--point", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point is not None:
        print(json.dumps(run_point(*args.point, args.seeds[0], args.quick, args.min_seconds)))
        return
    import jax

    from purerl import io

    out_path = args.out
    if out_path is None and not args.quick:
        out_path = f"benchmarks/results/selfplay_throughput_{jax.default_backend()}.json"
    rows = []
    header = ("workload", "kind", "seeds", "moves/s", "sims/s", "MiB/seed", "compile s")
    print("{:<22} {:<10} {:>5} {:>10} {:>11} {:>9} {:>9}".format(*header))
    for workload in args.workloads:
        for kind in ("update", "self_play"):
            for seeds in args.seeds:
                if args.quick:
                    row = run_point(workload, kind, seeds, True, min(args.min_seconds, 0.2))
                else:
                    point = [
                        "--point",
                        workload,
                        kind,
                        "--seeds",
                        str(seeds),
                        "--min-seconds",
                        str(args.min_seconds),
                    ]
                    row = run_point_in_subprocess(__file__, point)
                rows.append(row)
                mib = "-" if row["xla_bytes_per_seed"] is None else f"{row['xla_bytes_per_seed'] / 2**20:.1f}"
                print(
                    f"{workload:<22} {kind:<10} {seeds:>5} {row['moves_per_second']:>10.0f} "
                    f"{row['simulations_per_second']:>11.0f} {mib:>9} {row['compile_seconds']:>9.1f}",
                    flush=True,
                )
                if out_path is not None:
                    io.write_json(
                        out_path,
                        {"benchmark": "selfplay_throughput", "machine": machine_facts(), "rows": rows},
                    )
    if out_path is not None:
        print(f"written to {out_path}")


if __name__ == "__main__":
    main()
