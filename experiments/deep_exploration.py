"""Deep exploration on DeepSea: does undirected exploration get any signal at all, and does Thompson
sampling over a randomized-prior ensemble find the reward anyway?

Claims under test (bsuite, Osband et al., 2020, report DeepSea scores of about 1.0 for bootstrapped DQN
with priors and about 0 for DQN with epsilon-greedy and for actor-critic agents):

1. epsilon-greedy DQN and PPO (entropy bonus) stop seeing *any* reward beyond some small size N: the
   fraction of seeds that ever found the treasure drops to ~0 (the measured form of "a random policy
   gets no signal from a sparse reward": dithering finds it with probability 2^-N per episode);
2. bootstrapped DQN with randomized prior functions solves every size up to at least 20 with most seeds;
3. PPO with a random-network-distillation bonus: reported as measured.

For every agent and size `N`, `num_seeds` seeds run as one vmapped program, each seed with its own
action mapping (`env_params="sampled"`). Per seed we log, per episode, whether it was bad (bsuite's term:
it left the optimal path) and whether it found the treasure, and report: episodes to the first reward,
bsuite's solve episode (`purerl.bsuite.find_solution`), whether it beat dithering (solved before
`2^N + 100` episodes) and bsuite's score (fraction of sizes beaten). Runs stop early once every seed of
an (agent, N) is solved, between chunks of the compiled program (a solved run's later episodes do not
change its solve episode or score). The episode budget per size is `min(2^N + 100, max_episodes)`
rounded up to whole chunks: bsuite allows 10,000 episodes, so for sizes where `2^N + 100 > max_episodes`
our scores are lower bounds of bsuite's (a run solved after our budget counts as unsolved).

    python experiments/deep_exploration.py            # full run, writes experiments/results/
    python experiments/deep_exploration.py --quick    # under 3 minutes, writes runs/deep_exploration_quick/
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from purerl import bsuite, experiment, io, stats
from purerl.agents import get_algorithm
from purerl.loop import run_blocks, split_run_key

RESULTS = Path(__file__).parent / "results"
EPISODES_PER_BLOCK = 50
BLOCKS_PER_CHUNK = 4


@dataclasses.dataclass(frozen=True)
class Arm:
    """One agent: a registered algorithm with config and hyperparameter overrides.

    Attributes:
        label: row label.
        algo: registered algorithm name.
        config: config overrides (besides env, budget and evaluation).
        hparams: hyperparameter overrides.
        max_size: the largest size it runs at (CPU time; bsuite scores use the sizes every arm ran).
    """

    label: str
    algo: str
    config: tuple[tuple[str, Any], ...]
    hparams: tuple[tuple[str, Any], ...] = ()
    max_size: int = 1000


# The replay agents share one replay setting and network, so the arms differ in exploration only.
REPLAY = (
    ("num_envs", 1),
    ("num_steps", 1),
    ("gradient_steps", 1),
    ("batch_size", 16),
    ("buffer_size", 10_000),
    ("learning_starts", 64),
    ("random_steps", 0),
    ("hidden_sizes", (16, 16)),
    ("replay_obs_dtype", "uint8"),
)
# PPO: 4 environments, one whole episode each per update.
ON_POLICY = (("num_envs", 4), ("num_minibatches", 1), ("num_epochs", 4), ("hidden_sizes", (32, 32)))
ARMS = (
    # Its ensemble costs 10 networks per gradient step: 20 is the largest size the CPU budget allows.
    Arm("bootstrapped DQN + priors", "bootstrapped_dqn", REPLAY, max_size=20),
    Arm("DQN, epsilon-greedy", "dqn", (*REPLAY, ("dueling", False), ("layer_norm", False))),
    Arm("PPO, entropy bonus", "ppo", ON_POLICY),
    Arm("PPO + RND", "ppo", (*ON_POLICY, ("rnd", True))),
)


@dataclasses.dataclass(frozen=True)
class Budget:
    sizes: tuple[int, ...]
    num_seeds: int
    max_episodes: int


FULL = Budget(sizes=(4, 6, 8, 10, 12, 14, 17, 20, 25, 30), num_seeds=20, max_episodes=1000)
QUICK = Budget(sizes=(4, 6), num_seeds=4, max_episodes=200)


def arm_config(arm: Arm, size: int, budget: Budget):
    """The arm's config at size `N`, with blocks of ~`EPISODES_PER_BLOCK` episodes and whole chunks."""
    spec = get_algorithm(arm.algo)
    overrides = dict(arm.config)
    if arm.algo == "ppo":
        overrides["num_steps"] = size  # one episode per environment per update
    probe = spec.config_cls(env_name="DeepSea-v0", env_kwargs={"size": size}, **overrides)
    steps_per_update = probe.steps_per_update
    block_updates = max(1, round(EPISODES_PER_BLOCK * size / steps_per_update))
    episodes = min(2**size + 100, budget.max_episodes)
    chunk_steps = block_updates * BLOCKS_PER_CHUNK * steps_per_update
    num_chunks = math.ceil(episodes * size / chunk_steps)
    return spec, spec.config_cls(
        env_name="DeepSea-v0",
        env_kwargs={"size": size},
        env_params="sampled",
        total_timesteps=num_chunks * chunk_steps,
        eval_every=block_updates,
        eval_episodes=4,
        **overrides,
    )


def run_arm(arm: Arm, size: int, budget: Budget, seed: int) -> dict[str, Any]:
    """Train `num_seeds` seeds of `arm` at size `size` chunk by chunk; stop once all are solved."""
    spec, config = arm_config(arm, size, budget)
    hparams = spec.hparams_cls(**dict(arm.hparams))
    agent = spec.make_agent(config)
    keys = jax.random.split(jax.random.key(seed), budget.num_seeds)

    def start(key):
        init_key, loop_key = split_run_key(key)
        return (agent.init(init_key, hparams), jax.numpy.asarray(True)), loop_key

    def chunk(carry, loop_key, indices):
        return run_blocks(agent, carry, hparams, loop_key, indices)

    carry, loop_keys = jax.jit(jax.vmap(start))(keys)
    run_chunk = jax.jit(jax.vmap(chunk, in_axes=(0, 0, None)))
    logs: dict[str, list[np.ndarray]] = {"episodes": [], "event_treasure": [], "event_bad_episode": []}
    started = time.time()
    for first in range(0, agent.num_blocks, BLOCKS_PER_CHUNK):
        indices = jax.numpy.arange(first, first + BLOCKS_PER_CHUNK, dtype=jax.numpy.int32)
        carry, metrics = run_chunk(carry, loop_keys, indices)
        for name in logs:
            logs[name].append(np.asarray(metrics[name]).reshape(budget.num_seeds, -1))
        bad = bsuite.episode_flags(
            *(np.concatenate(logs[n], 1) for n in ("episodes", "event_bad_episode")), flagged_first=True
        )
        if bsuite.find_solution(np.nan_to_num(bad, nan=1.0)).solved.all():
            break
    seconds = time.time() - started
    episodes = np.concatenate(logs["episodes"], 1)
    treasure = np.concatenate(logs["event_treasure"], 1)
    bad = bsuite.episode_flags(episodes, np.concatenate(logs["event_bad_episode"], 1), flagged_first=True)
    bad = np.nan_to_num(bad, nan=1.0)
    found = bsuite.episode_flags(episodes, treasure, flagged_first=False)
    found = np.nan_to_num(found, nan=0.0)
    ever = found.any(axis=1)
    first_reward = np.where(ever, np.argmax(found > 0, axis=1) + 1, np.nan)
    solution = bsuite.find_solution(bad)
    return {
        "size": size,
        "episodes_run": int(episodes.sum(axis=1).max()),
        "seconds": seconds,
        "ever_rewarded": ever.tolist(),
        "first_reward_episode": first_reward.tolist(),
        "solved": solution.solved.tolist(),
        "solve_episode": np.where(solution.solved, solution.episode, np.nan).tolist(),
        "beats_dithering": bsuite.beats_dithering(solution, size).tolist(),
        "treasures": treasure.sum(axis=1).tolist(),
    }


def fraction_ci(flags: list[bool]) -> dict[str, float]:
    """Fraction of seeds with a property and its 95% bootstrap CI."""
    a = np.asarray(flags, np.float64)
    low, high = stats.bootstrap_ci(a, np.mean, seed=0)
    return {"fraction": float(a.mean()), "ci_low": low, "ci_high": high}


def verdicts(result: dict[str, Any]) -> list[str]:
    """Verdicts on the claims, generated from the measured fractions."""
    lines = []
    sizes = result["budget"]["sizes"]
    for label in ("DQN, epsilon-greedy", "PPO, entropy bonus"):
        runs = result["arms"][label]
        sizes = [n for n in result["budget"]["sizes"] if str(n) in runs]
        fractions = [fraction_ci(runs[str(n)]["ever_rewarded"])["fraction"] for n in sizes]
        dark = [n for i, n in enumerate(sizes) if all(f <= 0.05 for f in fractions[i:])]
        by_size = ", ".join(f"{n}: {f:.2f}" for n, f in zip(sizes, fractions, strict=True))
        if dark:
            lines.append(
                f"**Holds** for {label}: from N = {dark[0]} on, at most 5% of seeds ever saw a reward "
                f"(fractions by N: {by_size})."
            )
        else:
            lines.append(
                f"**Does not hold** for {label}: more than 5% of seeds found the reward at N = {sizes[-1]}, "
                f"the largest size run (fractions by N: {by_size})."
            )
    boot = result["arms"]["bootstrapped DQN + priors"]
    up_to = [n for n in result["budget"]["sizes"] if n <= 20 and str(n) in boot]
    solved = {n: float(np.mean(boot[str(n)]["solved"])) for n in up_to}
    failing = [n for n, f in solved.items() if f <= 0.5]
    claim = "**Holds**" if not failing else "**Does not hold**"
    detail = ", ".join(f"{n}: {f:.2f}" for n, f in solved.items())
    lines.append(
        f"{claim}: bootstrapped DQN with priors solves most seeds at every N <= 20 (fraction solved within "
        f"the budget by N: {detail})" + (f"; at or below half at N = {failing}." if failing else ".")
    )
    rnd = result["arms"]["PPO + RND"]
    sizes = [n for n in result["budget"]["sizes"] if str(n) in rnd]
    rnd_solved = ", ".join(f"{n}: {np.mean(rnd[str(n)]['solved']):.2f}" for n in sizes)
    rnd_seen = ", ".join(f"{n}: {np.mean(rnd[str(n)]['ever_rewarded']):.2f}" for n in sizes)
    lines.append(f"PPO + RND (measured): fraction solved by N: {rnd_solved}; ever rewarded: {rnd_seen}.")
    return lines


def common_sizes(result: dict[str, Any]) -> list[int]:
    """The sizes every arm ran at."""
    return [n for n in result["budget"]["sizes"] if all(str(n) in runs for runs in result["arms"].values())]


def score_summaries(result: dict[str, Any]) -> dict[str, Any]:
    """bsuite's score per seed (fraction of the common sizes beaten), summarised per arm."""
    out = {}
    for label, runs in result["arms"].items():
        wins = [np.asarray(runs[str(n)]["beats_dithering"], np.float64) for n in common_sizes(result)]
        out[label] = stats.summarize(np.stack(wins).mean(axis=0))
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for label, runs in result["arms"].items():
        sizes = np.asarray([n for n in result["budget"]["sizes"] if str(n) in runs])
        seen = [fraction_ci(runs[str(n)]["ever_rewarded"]) for n in sizes]
        frac = np.array([s["fraction"] for s in seen])
        axes[0].plot(sizes, frac, "o-", label=label)
        axes[0].fill_between(sizes, [s["ci_low"] for s in seen], [s["ci_high"] for s in seen], alpha=0.2)
        for ax, key in ((axes[1], "first_reward_episode"), (axes[2], "solve_episode")):
            med = [
                np.nanmedian(runs[str(n)][key]) if np.isfinite(runs[str(n)][key]).any() else np.nan
                for n in sizes
            ]
            lo = [
                np.nanpercentile(runs[str(n)][key], 25) if np.isfinite(runs[str(n)][key]).any() else np.nan
                for n in sizes
            ]
            hi = [
                np.nanpercentile(runs[str(n)][key], 75) if np.isfinite(runs[str(n)][key]).any() else np.nan
                for n in sizes
            ]
            ax.errorbar(
                sizes,
                med,
                yerr=[np.subtract(med, lo), np.subtract(hi, med)],
                fmt="o-",
                capsize=3,
                label=label,
            )
    sizes = np.asarray(result["budget"]["sizes"])
    for ax in axes[1:]:
        ax.plot(sizes, 2.0**sizes, "k--", alpha=0.5, label="2^N (dithering)")
        ax.axhline(result["budget"]["max_episodes"], color="grey", lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_ylim(1, 3 * result["budget"]["max_episodes"])
        ax.set_xlabel("DeepSea size N")
    axes[0].set_ylabel("fraction of seeds that ever found the reward")
    axes[0].set_xlabel("DeepSea size N")
    axes[1].set_ylabel("episodes to first reward (median, IQR; solved seeds)")
    axes[2].set_ylabel("bsuite solve episode (median, IQR; solved seeds)")
    axes[0].legend(fontsize=8)
    axes[2].legend(fontsize=8)
    fig.suptitle(
        f"DeepSea, {result['budget']['num_seeds']} seeds per agent and size (each its own action mapping)"
    )
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def write_report(result: dict[str, Any], out_dir: Path) -> None:
    budget = result["budget"]
    sizes = budget["sizes"]
    scores = result["scores"]
    lines = [
        "# Deep exploration on DeepSea",
        "",
        f"Generated by `python experiments/deep_exploration.py{' --quick' if result['quick'] else ''}` in "
        f"{result['wall_seconds'] / 60:.1f} min on {result['machine']} (jax {jax.__version__}).",
        "",
        f"{budget['num_seeds']} seeds per agent and size, each with its own random action mapping; sizes "
        f"{', '.join(map(str, sizes))}; episode budget per size `min(2^N + 100, {budget['max_episodes']})` "
        "rounded up to whole chunks (bsuite: 10,000), stopping early once every seed is solved.",
        "",
        "## Verdicts",
        "",
        *[f"- {line}" for line in result["verdicts"]],
        "",
        f"## bsuite-style score (fraction of the sizes {', '.join(map(str, common_sizes(result)))} solved "
        "before 2^N + 100 episodes)",
        "",
        "| agent | IQM [95% CI] | mean | seeds scoring 1.0 | bsuite's published score |",
        "|---|---|---|---|---|",
    ]
    published = {
        "bootstrapped DQN + priors": "~1.0 (boot_dqn)",
        "DQN, epsilon-greedy": "~0 (dqn)",
        "PPO, entropy bonus": "~0 (actor_critic)",
        "PPO + RND": "none in bsuite",
    }
    for label, summary in scores.items():
        at_one = np.mean(np.asarray(summary["per_seed"]) >= 1.0 - 1e-9)
        ci = stats.format_ci(summary, 2)
        lines.append(f"| {label} | {ci} | {summary['mean']:.2f} | {at_one:.2f} | {published[label]} |")
    lines += [
        "",
        'bsuite\'s figures: Osband et al., 2020, "Behaviour Suite for Reinforcement Learning" (ICLR), '
        "baseline agents run for 10,000 episodes per size on sizes 5-50; ours are CPU budgets (above), so "
        "for sizes with `2^N + 100 > budget` a score here is a lower bound of bsuite's.",
        "",
        "## Per size: fraction of seeds that ever found the reward [95% CI] / fraction solved / median "
        "solve episode",
        "",
        "| N | " + " | ".join(result["arms"]) + " |",
        "|---|" + "---|" * len(result["arms"]),
    ]
    for n in sizes:
        cells = []
        for runs in result["arms"].values():
            if str(n) not in runs:
                cells.append("not run")
                continue
            run = runs[str(n)]
            seen = fraction_ci(run["ever_rewarded"])
            solve = np.asarray(run["solve_episode"], np.float64)
            med = f"{np.nanmedian(solve):.0f}" if np.isfinite(solve).any() else "-"
            cells.append(
                f"{seen['fraction']:.2f} [{seen['ci_low']:.2f}, {seen['ci_high']:.2f}] / "
                f"{np.mean(run['solved']):.2f} / {med}"
            )
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Settings: the replay agents share one environment, one gradient step per step (replay ratio 1, as "
        "bsuite), batch 16, a (16, 16) MLP and a 10k buffer; bootstrapped DQN has 10 heads, prior scale 5, "
        "mask probability 1 and runs to N = 20 (bsuite's boot_dqn: 20 heads, (50, 50) MLP, batch 128: "
        "smaller here for CPU time); DQN uses its default epsilon schedule (1 -> 0.01 over 20% of the run). "
        "PPO collects one episode in each of 4 environments per update, 4 epochs, a (32, 32) MLP and entropy "
        "coefficient 0.01; PPO + RND adds the novelty bonus with weight 1.",
        "",
        f"![DeepSea]({'deep_exploration.png'})",
        "",
    ]
    with io.atomic_path(out_dir / "deep_exploration.md") as tmp:
        tmp.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args, out_dir = experiment.parse_args(
        "deep_exploration", __doc__, argv, RESULTS, "small sizes and few seeds (CI)"
    )
    budget = QUICK if args.quick else FULL
    started = time.time()
    arms: dict[str, dict[str, Any]] = {}
    for i, arm in enumerate(ARMS):
        arms[arm.label] = {}
        for size in (n for n in budget.sizes if n <= arm.max_size):
            run = run_arm(arm, size, budget, seed=1000 * i + size)
            arms[arm.label][str(size)] = run
            print(
                f"{arm.label:28s} N={size:3d}  ever rewarded {np.mean(run['ever_rewarded']):.2f}  "
                f"solved {np.mean(run['solved']):.2f}  episodes {run['episodes_run']:6d}  "
                f"{run['seconds']:6.1f} s",
                flush=True,
            )
    result: dict[str, Any] = {
        "quick": args.quick,
        "budget": dataclasses.asdict(budget),
        "arms": arms,
        "machine": experiment.machine(),
    }
    result["wall_seconds"] = time.time() - started
    result["scores"] = score_summaries(result)
    result["verdicts"] = verdicts(result)
    io.write_json(out_dir / "deep_exploration.json", result)
    plot(result, out_dir / "deep_exploration.png")
    write_report(result, out_dir)
    print("\n".join(result["verdicts"]))
    return result


if __name__ == "__main__":
    main()
