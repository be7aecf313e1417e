"""Sequence-model throughput: KV-cache sampling vs full recompute, and a teacher-forced train step.

The tiny causal transformer of `purerl.reasoning.transformer` (default config, vocab 48, max_len 72),
at 1 and 16 seeds (one parameter set per seed, `vmap` over seeds in one jitted program):

- sampling: 64 prompts x 24 tokens, 48 new tokens, temperature 1, with the KV-cache `sample` and with
  `sample_full_recompute` (every step reruns the forward over the whole 72-token buffer). Sampled
  tokens/s counts every generated position (eos is never forced: the untrained model rarely stops).
  "vs full" is the cached sampler's throughput over full recompute's: the median over alternating pairs
  of fresh processes (`--repeats`, at points of at most MAX_REPEATED_SEEDS seeds) with its range.
- SFT and GRPO updates: one real update of `purerl.reasoning.sft` (32 fresh word problems with the
  teacher's completions, one Adam step) and of `purerl.reasoning.grpo` (8 problems x 8 sampled
  completions, verified, one Adam step), in trained tokens/s (`prompt + completion` positions).

Compile time is excluded from throughput. Memory per seed is XLA's own accounting of the compiled
program (`memory_analysis()`: arguments + outputs + temporaries - aliased) over the number of seeds,
next to the analytic bytes of what a seed must hold (parameters, plus Adam's two moments or the KV
cache). Each measured program is one function (`sampling_program`, `update_program`) returning a
`Program`.

    python benchmarks/sequence_throughput.py             # full table, writes benchmarks/results/
    python benchmarks/sequence_throughput.py --quick     # tiny CPU smoke run (seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    compiled_bytes,
    machine_facts,
    matmul_flops_per_second,
    peak_rss_mib,
    run_point_in_subprocess,
)

VOCAB, MAX_LEN = 48, 72
EOS_ID, PAD_ID = 1, 0
# Sampler workload: (batch, prompt length, new tokens), default and --quick.
WORKLOADS = {"default": (64, 24, 48), "quick": (8, 8, 8)}
QUICK_MODEL = {"num_layers": 1, "d_model": 16, "num_heads": 2}
# Sampler points of more seeds run one pair: full recompute at 16 seeds is ~35 s a call on 2 CPU cores.
MAX_REPEATED_SEEDS = 1


class Program(NamedTuple):
    """One measured program.

    Attributes:
        fn: the jitted function.
        args: its arguments for the first call.
        advance: `(args, output) -> args` of the next call (a train step feeds its new state back).
        tokens_per_call: tokens one call processes, summed over seeds.
        flops_per_call: analytic model FLOPs of one call (2 per multiply-add).
        state_bytes_per_seed: analytic bytes one seed must hold.
    """

    fn: Callable
    args: tuple
    advance: Callable[[tuple, Any], tuple]
    tokens_per_call: int
    flops_per_call: float
    state_bytes_per_seed: int


def model_config(quick: bool):
    from purerl.reasoning.transformer import TransformerConfig

    return TransformerConfig(VOCAB, MAX_LEN, **(QUICK_MODEL if quick else {}))


def _seed_params(config, num_seeds: int):
    import jax

    from purerl.reasoning.transformer import init_params

    keys = jax.random.split(jax.random.key(0), num_seeds)
    return jax.jit(jax.vmap(lambda k: init_params(k, config)))(keys)


def sampling_program(config, num_seeds: int, workload: tuple[int, ...], cached: bool) -> Program:
    """`num_seeds` seeds' params, each sampling `new` tokens after the same `[batch, prompt]` prompts."""
    import jax

    from purerl.reasoning.transformer import sample, sample_full_recompute

    batch, prompt_len, new = workload
    fn = sample if cached else sample_full_recompute
    prompts = jax.random.randint(jax.random.key(1), (batch, prompt_len), 2, config.vocab_size)

    def one_seed(key, params, prompts):
        return fn(key, params, config, prompts, new, temperature=1.0, eos_id=EOS_ID, pad_id=PAD_ID)

    keys = jax.random.split(jax.random.key(2), num_seeds)
    program = jax.jit(jax.vmap(one_seed, in_axes=(0, 0, None)))
    total = prompt_len + new
    if cached:  # prefill over the prompt, then one token per step against a growing context
        forward_tokens = [(prompt_len, (prompt_len + 1) / 2)] + [(1, prompt_len + i + 1) for i in range(new)]
    else:  # every step, the whole buffer
        forward_tokens = [(total, (total + 1) / 2)] * new
    flops = num_seeds * batch * sum(n * _flops(config, ctx) for n, ctx in forward_tokens)
    params_bytes = 4 * config.num_params()
    cache_bytes = 2 * config.num_layers * batch * total * config.d_model * 4 if cached else 0
    return Program(
        fn=program,
        args=(keys, _seed_params(config, num_seeds), prompts),
        advance=lambda args, out: args,
        tokens_per_call=num_seeds * batch * new,
        flops_per_call=flops,
        state_bytes_per_seed=params_bytes + cache_bytes,
    )


def _flops(config, context: float) -> float:
    """Forward FLOPs per token at a possibly fractional (average) context."""
    low = config.flops_per_token(1)
    return low + (config.flops_per_token(2) - low) * (context - 1)


def update_program(kind: str, num_seeds: int, quick: bool) -> Program:
    """One real `sft` or `grpo` update per seed (the experiment's settings: SFT 32 prompts of fresh
    teacher demonstrations; GRPO 8 prompts x 8 sampled completions, verified, one gradient step), on the
    word-problem task. Tokens per call count the trained `prompt + completion` positions."""
    import jax

    from purerl.reasoning import grpo, sft

    model = QUICK_MODEL if quick else {}
    if kind == "sft":
        config = sft.SFTConfig(batch_size=8 if quick else 32, **model)
        algo, hparams, sequences = sft.build(config), sft.SFTHParams(), config.batch_size
    else:
        config = grpo.GRPOConfig(batch_size=2 if quick else 8, group_size=4 if quick else 8, **model)
        algo, hparams = grpo.build(config), grpo.GRPOHParams()
        sequences = config.batch_size * config.group_size
    keys = jax.random.split(jax.random.key(0), num_seeds)
    state = jax.jit(jax.vmap(lambda k: algo.init(k, hparams)))(keys)
    program = jax.jit(jax.vmap(lambda k, s: algo.update(k, s, hparams)[0]), donate_argnums=1)
    task = config.verifiable_task
    context = task.prompt_length + task.completion_length
    tokens = num_seeds * sequences * context
    # Forward + backward ~ 3 forwards; GRPO also samples every completion (one more forward).
    flops = (3 if kind == "sft" else 4) * tokens * _flops(config.model, (context + 1) / 2)
    copies = 3 if kind == "sft" else 4  # params + Adam's two moments (+ GRPO's reference policy)
    return Program(
        fn=program,
        args=(keys, state),
        advance=lambda args, out: (args[0], out),
        tokens_per_call=tokens,
        flops_per_call=flops,
        state_bytes_per_seed=copies * 4 * config.model.num_params(),
    )


def run_point(kind: str, num_seeds: int, quick: bool, min_seconds: float) -> dict:
    """Compile, one warm-up call, then timed calls until `min_seconds` have passed (at least one)."""
    import jax

    config = model_config(quick)
    workload = WORKLOADS["quick" if quick else "default"]
    if kind in ("sft", "grpo"):
        program = update_program(kind, num_seeds, quick)
    else:
        program = sampling_program(config, num_seeds, workload, cached=kind == "kv_cache")
    start = time.perf_counter()
    compiled = program.fn.lower(*program.args).compile()
    compile_seconds = time.perf_counter() - start
    xla_bytes = compiled_bytes(compiled)
    # The first call is a warm-up, unless it alone lasts `min_seconds` (full recompute at 16 seeds takes
    # ~35 s a call on 2 cores): then it is the measurement, as executing a compiled program the first
    # time costs nothing extra on CPU worth a second call.
    args, start = program.args, time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    seconds, calls = time.perf_counter() - start, 1
    args = program.advance(args, out)
    if seconds < min_seconds:
        calls, start = 0, time.perf_counter()
        while calls == 0 or time.perf_counter() - start < min_seconds:
            out = jax.block_until_ready(compiled(*args))
            args = program.advance(args, out)
            calls += 1
        seconds = time.perf_counter() - start
    return {
        "kind": kind,
        "num_seeds": num_seeds,
        "calls": calls,
        "seconds_per_call": seconds / calls,
        "compile_seconds": compile_seconds,
        "tokens_per_second": calls * program.tokens_per_call / seconds,
        "model_flops_per_second": calls * program.flops_per_call / seconds,
        "xla_bytes_per_seed": None if xla_bytes is None else xla_bytes / num_seeds,
        "state_bytes_per_seed": program.state_bytes_per_seed,
        "peak_rss_mib": peak_rss_mib(),
    }


def measure(kind: str, seeds: int, quick: bool, min_seconds: float) -> dict:
    """One point in a fresh process (clean peak memory); `--quick` runs it in this one (seconds)."""
    if quick:
        return run_point(kind, seeds, quick, min_seconds)
    return run_point_in_subprocess(
        __file__,
        ["--point", kind, "--seeds", str(seeds), "--min-seconds", str(min_seconds)]
        + (["--quick"] if quick else []),
    )


def measure_sampling_pairs(seeds: int, repeats: int, quick: bool, min_seconds: float) -> dict:
    """KV cache and full recompute in `repeats` alternating pairs of fresh processes: medians of each,
    the median pairwise ratio and its range; compile time and memory from the first process of each."""
    pairs = [
        (measure("kv_cache", seeds, quick, min_seconds), measure("full_recompute", seeds, quick, min_seconds))
        for _ in range(repeats)
    ]
    ratios = sorted(kv["tokens_per_second"] / full["tokens_per_second"] for kv, full in pairs)
    kv, full = dict(pairs[0][0]), dict(pairs[0][1])
    for point, index in ((kv, 0), (full, 1)):
        point["tokens_per_second"] = median(p[index]["tokens_per_second"] for p in pairs)
        point["model_flops_per_second"] = median(p[index]["model_flops_per_second"] for p in pairs)
        point["samples_tokens_per_second"] = [p[index]["tokens_per_second"] for p in pairs]
    kv["ratio_to_full_recompute"] = median(ratios)
    kv["ratio_to_full_recompute_range"] = [ratios[0], ratios[-1]]
    return {"num_seeds": seeds, "kv_cache": kv, "full_recompute": full}


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=2, help="alternating sampler process pairs per point")
    parser.add_argument("--min-seconds", type=float, default=2.0, help="timed seconds per process")
    parser.add_argument("--quick", action="store_true", help="tiny model and batch: a CPU smoke run")
    parser.add_argument(
        "--out",
        default=None,
        help="JSON path (default benchmarks/results/sequence_throughput_<backend>.json; --quick: none)",
    )
    parser.add_argument("--point", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point is not None:
        print(json.dumps(run_point(args.point, args.seeds[0], args.quick, args.min_seconds)))
        return

    if args.quick:  # XLA's cheapest CPU pipeline (as tests/conftest.py): compiling dominates a smoke run
        flags = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
    import jax

    from purerl import io

    if args.quick:
        args.repeats, args.min_seconds = 1, min(args.min_seconds, 0.3)
    out_path = args.out
    if out_path is None and not args.quick:
        out_path = f"benchmarks/results/sequence_throughput_{jax.default_backend()}.json"
    config = model_config(args.quick)
    batch, prompt_len, new = WORKLOADS["quick" if args.quick else "default"]
    facts = machine_facts()
    peak = matmul_flops_per_second(256 if args.quick else 1024)
    rows: list[dict] = []

    def write(complete: bool) -> None:
        if out_path is None:
            return
        io.write_json(
            out_path,
            {
                "benchmark": "sequence_throughput",
                "model": {
                    **vars(config),
                    "num_params": config.num_params(),
                    f"flops_per_token_at_{config.max_len}": config.flops_per_token(config.max_len),
                },
                "workload": {
                    "sampling": f"{batch} prompts x {prompt_len} tokens, {new} new tokens, temperature 1",
                    "sft_update": "one sft update: 32 word problems, teacher completions, adam step",
                    "grpo_update": "one grpo update: 8 problems x 8 sampled completions, verifier, adam step",
                },
                "machine": facts,
                "matmul_peak_flops_per_second": peak,
                "method": "tokens_per_second excludes compilation; sampling points are the median over "
                "alternating kv_cache/full_recompute fresh-process pairs (samples_tokens_per_second), "
                "ratio_to_full_recompute the median pairwise ratio; xla_bytes_per_seed is the compiled "
                "program's memory_analysis (arguments + outputs + temporaries - aliased) / seeds",
                "points": rows,
                "complete": complete,
            },
        )

    for seeds in args.seeds:
        repeats = args.repeats if seeds <= MAX_REPEATED_SEEDS else 1
        point = measure_sampling_pairs(seeds, repeats, args.quick, args.min_seconds)
        point["sft_update"] = measure("sft", seeds, args.quick, args.min_seconds)
        point["grpo_update"] = measure("grpo", seeds, args.quick, args.min_seconds)
        rows.append(point)
        write(complete=False)

    print(
        f"model: {config.num_params():,} params, {config.flops_per_token(config.max_len):,} forward "
        f"FLOPs/token at context {config.max_len}; matmul peak {peak / 1e9:.1f} GFLOP/s"
    )
    header = (
        f"{'seeds':>5} {'program':<15} {'tokens/s':>11} {'vs full':>7} {'range':>11} {'GFLOP/s':>8} "
        f"{'% peak':>6} {'compile s':>9} {'MiB/seed xla':>12} {'MiB/seed state':>14}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        for name in ("kv_cache", "full_recompute", "sft_update", "grpo_update"):
            r = row[name]
            ratio, spread, flops = "-", "-", r["model_flops_per_second"]
            if "ratio_to_full_recompute" in r:
                low, high = r["ratio_to_full_recompute_range"]
                ratio, spread = f"{r['ratio_to_full_recompute']:.1f}x", f"{low:.1f}-{high:.1f}x"
            print(
                f"{row['num_seeds']:>5} {name:<15} {r['tokens_per_second']:>11,.0f} {ratio:>7} {spread:>11} "
                f"{flops / 1e9:>8.2f} {100 * flops / peak:>5.1f}% "
                f"{r['compile_seconds']:>9.1f} {_mib(r['xla_bytes_per_seed']):>12} "
                f"{_mib(r['state_bytes_per_seed']):>14}"
            )
    write(complete=True)
    if out_path is not None:
        print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
