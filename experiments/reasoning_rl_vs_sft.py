"""Does RL from a verifiable reward beat supervised fine-tuning on human-style chains of thought?

Claims under test (the word-problem version of RLVR beating SFT, e.g. Tulu 3, DeepSeek-R1): SFT on a
fallible "human" teacher's chains of thought gets a pass rate near the teacher's; GRPO from a random policy
gets (almost) no reward signal; GRPO from the SFT policy with the exact verifier beats the teacher and
beats SFT given the same extra compute, in and out of distribution; GRPO against a learned reward model
raises the model's (proxy) reward while its true pass rate stays below the verifier arm's.

Arms, per seed (everything one compiled program per stage, vmapped over seeds and over the tuning grid):

- teacher:          the teacher's accuracy on the same test problems;
- SFT:              `sft` on fresh teacher demonstrations;
- SFT + more SFT:   SFT continued for the FLOPs the GRPO arm spends after SFT;
- SFT -> GRPO:      `grpo` from that seed's SFT policy, rewarded by the verifier;
- GRPO (scratch):   `grpo` from a random policy (the zero-signal arm; fewer updates, see the report);
- SFT -> GRPO (RM): `grpo` from the SFT policy, rewarded by a reward model trained on a small labelled
                    set of SFT samples.

Every trained arm gets the same tuning budget: each learning rate of its grid is run on `tune_seeds` seeds
that are not reported, and the one with the best IQM of the final greedy pass rate on the *validation*
split is then run on the reported seeds; only those are evaluated on the test split and the
out-of-distribution split (one more step than training).

    python experiments/reasoning_rl_vs_sft.py            # full run, writes experiments/results/
    python experiments/reasoning_rl_vs_sft.py --quick    # the whole pipeline small (CI smoke run)
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from purerl import experiment, io, plots, stats
from purerl.reasoning import grpo, reward_model, sequence, sft

RESULTS = Path(__file__).parent / "results"
PASS_KS = (1, 2, 4, 8, 16, 32, 64)
ARMS = ("teacher", "SFT", "SFT + more SFT", "SFT -> GRPO", "GRPO (scratch)", "SFT -> GRPO (RM)")


@dataclasses.dataclass(frozen=True)
class Budget:
    """Sizes of one run of the experiment (`--quick` shrinks them).

    Attributes:
        num_seeds: seeds per arm.
        sft_updates: SFT updates (batch `sft_batch` prompts) before the branches.
        rl_updates: GRPO updates after SFT (verifier and reward-model arms).
        scratch_updates: GRPO updates from a random policy.
        sft_batch: prompts per SFT update.
        grpo_prompts, group_size: prompts per GRPO update and completions per prompt.
        label_pairs: labelled (problem, completion) pairs the reward model is trained on.
        rm_steps: reward-model training steps (minibatches of 64).
        eval_problems: validation problems per evaluation during training.
        test_problems: test (and OOD) problems for the final greedy pass@1.
        pass_k_problems, pass_k_samples: problems and samples per problem for pass@k.
        tune_seeds: seeds (apart from the reported ones) each grid point is tuned on.
        learning_rates: the tuning grid of each trained arm (same size for every arm; one value skips
            tuning).
    """

    num_seeds: int
    sft_updates: int
    rl_updates: int
    scratch_updates: int
    sft_batch: int
    grpo_prompts: int
    group_size: int
    label_pairs: int
    rm_steps: int
    eval_problems: int
    test_problems: int
    pass_k_problems: int
    pass_k_samples: int
    tune_seeds: int
    learning_rates: dict[str, tuple[float, ...]]


# Two learning rates per trained arm, bracketing the best of wider pilots on other seeds (validation
# split): SFT at batch 32 tried 2e-3 .. 8e-3; continued SFT and GRPO from a 2-seed SFT run tried
# (1e-3, 3e-3, 5e-3) and (3e-4, 1e-3, 3e-3) (GRPO collapsed at 3e-3).
GRID = {
    "SFT": (3e-3, 5e-3),
    "SFT + more SFT": (1e-3, 3e-3),
    "SFT -> GRPO": (3e-4, 1e-3),
    "GRPO (scratch)": (3e-4, 1e-3),
    "SFT -> GRPO (RM)": (3e-4, 1e-3),
}
FULL = Budget(16, 2000, 150, 50, 32, 8, 8, 1024, 400, 96, 256, 24, 64, 2, GRID)
QUICK = Budget(2, 40, 8, 8, 16, 4, 4, 64, 20, 32, 32, 8, 8, 2, {arm: grid[:1] for arm, grid in GRID.items()})
TASK = ()  # task_kwargs: the word-problem defaults (WordProblemSpec, TeacherSlips)


def pass_ks(budget: Budget) -> tuple[int, ...]:
    """The k of pass@k the budget's samples per problem allow."""
    return tuple(k for k in PASS_KS if k <= budget.pass_k_samples)


def seed_runs(train: Any, keys: jax.Array, hparams: Any, *init_args: Any, sweep: bool = False) -> Any:
    """`train` vmapped over seeds (`keys [S]`, per-seed `init_args [S, ...]`) and, with `sweep`, over
    stacked hparams `[H]`: outputs `[S, ...]` or `[H, S, ...]`."""
    per_seed = jax.vmap(train, in_axes=(0, None) + (0,) * len(init_args))
    if sweep:
        per_seed = jax.vmap(per_seed, in_axes=(None, 0) + (None,) * len(init_args))
    return jax.jit(per_seed)(keys, hparams, *init_args)


def final_valid_iqm(out: Any) -> np.ndarray:
    """`[H]` IQM over seeds of the last validation pass@1 of a sweep's output `[H, S, ...]`."""
    return np.array([stats.iqm(row) for row in np.asarray(out.metrics["eval_return"])[:, :, -1]])


def stack(hparams_cls: type, learning_rates: tuple[float, ...]) -> Any:
    """The class's default hyperparameters with `learning_rate` over the grid: every field `[H]`."""
    grid = hparams_cls(learning_rate=jnp.asarray(learning_rates, jnp.float32))
    size = len(learning_rates)
    return jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x, jnp.float32), (size,)), grid)


def flops_per_update(config: sequence.SequenceConfig, kind: str) -> float:
    """Forward + backward FLOPs of one update: 3x the forward FLOPs of every trained token, plus the
    forward FLOPs of sampling (and of scoring by a reward model, same size as the policy)."""
    task = config.verifiable_task
    context = task.prompt_length + task.completion_length
    per_token = config.model.flops_per_token(context)
    if kind == "sft":
        return 3.0 * per_token * config.batch_size * (context - 1)
    completions = config.batch_size * config.group_size
    train = 3.0 * per_token * completions * (context - 1) * config.num_epochs
    scoring = per_token * completions * context if config.reward == "model" else 0.0
    return train + per_token * completions * context + scoring


def make_configs(budget: Budget) -> dict[str, Any]:
    common = dict(task_kwargs=TASK, eval_problems=budget.eval_problems)
    grpo_common = dict(common, batch_size=budget.grpo_prompts, group_size=budget.group_size)
    sft_cfg = sft.SFTConfig(num_updates=budget.sft_updates, batch_size=budget.sft_batch, **common)
    rl_cfg = grpo.GRPOConfig(num_updates=budget.rl_updates, **grpo_common)
    rm_cfg = grpo.GRPOConfig(num_updates=budget.rl_updates, reward="model", **grpo_common)
    grpo_flops = flops_per_update(rl_cfg, "grpo")
    sft_flops = flops_per_update(sft_cfg, "sft")
    more_sft = max(1, round(budget.rl_updates * grpo_flops / sft_flops))
    return {
        "SFT": sft_cfg,
        "SFT + more SFT": dataclasses.replace(sft_cfg, num_updates=more_sft),
        "SFT -> GRPO": rl_cfg,
        "GRPO (scratch)": dataclasses.replace(rl_cfg, num_updates=budget.scratch_updates),
        "SFT -> GRPO (RM)": rm_cfg,
    }


def label_set(key: jax.Array, params: Any, config: sequence.SequenceConfig, num: int, split: str):
    """`num` problems of `split`, one temperature-1 completion of the policy `params` each, labelled by the
    verifier: the reward model's training (or held-out) data."""
    task = config.verifiable_task
    problem_key, sample_key = jax.random.split(key)
    problems = task.sample(problem_key, num, split)
    prompts = task.prompts(problems)
    completions = sequence.sample(sample_key, params, config, prompts).tokens
    return reward_model.Labelled(prompts, completions, task.verify(problems, completions))


def evaluate(key: jax.Array, params: Any, config: sequence.SequenceConfig, budget: Budget) -> dict:
    """Per-seed test and OOD greedy pass@1 (teacher alongside, same problems) and test pass@k."""
    test_key, ood_key, k_key = jax.random.split(key, 3)
    test, teacher = sequence.greedy_pass_rate(test_key, params, config, "test", budget.test_problems)
    ood, teacher_ood = sequence.greedy_pass_rate(ood_key, params, config, "ood", budget.test_problems)
    curve = sequence.pass_at_k_curve(
        k_key, params, config, "test", budget.pass_k_problems, budget.pass_k_samples, pass_ks(budget)
    )
    return {"test": test, "ood": ood, "teacher": teacher, "teacher_ood": teacher_ood, "pass_at_k": curve}


def run(budget: Budget, seed: int) -> dict[str, Any]:
    configs = make_configs(budget)
    keys = jax.random.split(jax.random.key(seed), 8)
    seeds = lambda k: jax.random.split(k, budget.num_seeds)
    eval_keys = seeds(keys[7])  # the same test problems for every arm of a seed
    timings: dict[str, float] = {}
    outputs: dict[str, Any] = {}
    chosen: dict[str, float] = {}
    valid_scores: dict[str, list[float]] = {}

    def stage(arm: str, train: Any, hparams_cls: type, key: jax.Array, *init_args: Any) -> Any:
        """Tune the learning rate on `tune_seeds` extra seeds (validation split), then run the reported
        seeds with the chosen one. Tuning runs start from the first seeds' `init_args`."""
        t0 = time.perf_counter()
        grid = budget.learning_rates[arm]
        tune_key, main_key = jax.random.split(key)
        scores = np.full(1, np.nan)
        if len(grid) > 1:
            tune_args = jax.tree.map(lambda x: x[: budget.tune_seeds], init_args)
            tune_keys = jax.random.split(tune_key, budget.tune_seeds)
            tuned = seed_runs(train, tune_keys, stack(hparams_cls, grid), *tune_args, sweep=True)
            scores = final_valid_iqm(tuned)
        lr = grid[int(np.argmax(scores))] if len(grid) > 1 else grid[0]
        out = seed_runs(train, seeds(main_key), hparams_cls(learning_rate=lr), *init_args)
        jax.block_until_ready(out)
        timings[arm] = time.perf_counter() - t0
        chosen[arm], valid_scores[arm], outputs[arm] = lr, scores.tolist(), out
        print(f"  {arm}: lr {lr:g}, tuning IQMs {scores.round(3).tolist()}, {timings[arm]:.0f} s", flush=True)
        return out

    sft_out = stage("SFT", sft.make_train(configs["SFT"]), sft.SFTHParams, keys[0])
    sft_params = sft_out.state.params
    stage("SFT + more SFT", sft.make_train(configs["SFT + more SFT"]), sft.SFTHParams, keys[1], sft_params)
    stage("SFT -> GRPO", grpo.make_train(configs["SFT -> GRPO"]), grpo.GRPOHParams, keys[2], sft_params)
    stage("GRPO (scratch)", grpo.make_train(configs["GRPO (scratch)"]), grpo.GRPOHParams, keys[3])

    t0 = time.perf_counter()
    rm_cfg = configs["SFT -> GRPO (RM)"]
    labelled = jax.jit(jax.vmap(lambda k, p: label_set(k, p, rm_cfg, budget.label_pairs, "train")))
    held_out = jax.jit(jax.vmap(lambda k, p: label_set(k, p, rm_cfg, budget.label_pairs // 4, "valid")))
    data = labelled(seeds(keys[4]), sft_params)
    rm_train = jax.vmap(
        lambda k, d: reward_model.train(
            k, rm_cfg.model, reward_model.RewardModelHParams(), d, budget.rm_steps, 64
        )
    )
    rm_params, rm_metrics = jax.jit(rm_train)(seeds(keys[5]), data)
    accuracy = jax.jit(jax.vmap(lambda p, d: reward_model.accuracy(p, rm_cfg.model, d)))
    rm_valid = accuracy(rm_params, held_out(seeds(keys[6]), sft_params))
    timings["reward model"] = time.perf_counter() - t0
    rm_out = stage(
        "SFT -> GRPO (RM)", grpo.make_train(rm_cfg), grpo.GRPOHParams, keys[2], sft_params, rm_params
    )
    # The reward model's accuracy on what the policy it rewarded finally samples (valid problems).
    rm_on_policy = accuracy(rm_params, held_out(seeds(keys[6]), rm_out.state.params))

    t0 = time.perf_counter()
    per_seed_eval = jax.jit(jax.vmap(lambda k, p: evaluate(k, p, configs["SFT"], budget)))
    final = {arm: per_seed_eval(eval_keys, out.state.params) for arm, out in outputs.items()}
    timings["evaluation"] = time.perf_counter() - t0
    teacher = final["SFT"]
    arms = {"teacher": {"test": teacher["teacher"], "ood": teacher["teacher_ood"]}}
    arms.update({arm: {m: final[arm][m] for m in ("test", "ood", "pass_at_k")} for arm in outputs})
    arms = jax.tree.map(np.asarray, arms)
    # Teacher pass@k: deterministic teacher (no i.i.d. noise by default) -> pass@k = pass@1 for every k.
    return {
        "budget": budget,
        "configs": configs,
        "arms": arms,
        "curves": {arm: jax.tree.map(np.asarray, out.metrics) for arm, out in outputs.items()},
        "chosen_lr": chosen,
        "valid_scores": valid_scores,
        "rm": {
            "label_pairs": budget.label_pairs,
            "positive_fraction": float(np.asarray(data.labels).mean()),
            "valid_accuracy": np.asarray(rm_valid),
            "on_policy_accuracy": np.asarray(rm_on_policy),
            "final_loss": float(np.asarray(rm_metrics["loss"])[:, -20:].mean()),
        },
        "flops": {
            arm: flops_per_update(cfg, "sft" if isinstance(cfg, sft.SFTConfig) else "grpo") * cfg.updates_run
            for arm, cfg in configs.items()
        },
        "timings": timings,
    }


# ----------------------------------------------------------------------------------------------------
# Verdicts and report

NEAR = 0.10  # "SFT near the teacher": IQM pass@1 within this absolute distance of the teacher's
NO_SIGNAL = 0.05  # "no signal": upper CI of the fraction of GRPO groups with any non-zero reward
ALPHA = 0.05


def per_update(curves: dict, name: str) -> np.ndarray:
    """`[S, U]` per-update metric from `[S, num_blocks, eval_every]`."""
    x = np.asarray(curves[name])
    return x.reshape(x.shape[0], -1)


def verdicts(result: dict[str, Any]) -> dict[str, Any]:
    """Each claim judged from the data; directional claims by one-sided permutation tests (paired by seed
    where both arms share a seed's SFT policy or test problems), Holm-corrected across the family."""
    arms, curves = result["arms"], result["curves"]
    summary = {arm: {m: stats.summarize(v[m]) for m in ("test", "ood")} for arm, v in arms.items()}
    scratch_signal = per_update(curves["GRPO (scratch)"], "groups_any_reward").mean(axis=1)
    proxy = per_update(curves["SFT -> GRPO (RM)"], "reward")
    window = max(1, proxy.shape[1] // 10)
    proxy_start, proxy_end = proxy[:, :window].mean(axis=1), proxy[:, -window:].mean(axis=1)
    names = ("SFT -> GRPO", "SFT + more SFT", "teacher", "SFT -> GRPO (RM)")
    rl, more, teacher, rm = (arms[a] for a in names)
    directional = {
        "SFT -> GRPO beats the teacher (test)": (rl["test"], teacher["test"]),
        "SFT -> GRPO beats SFT + more SFT (test)": (rl["test"], more["test"]),
        "SFT -> GRPO beats the teacher (OOD)": (rl["ood"], teacher["ood"]),
        "SFT -> GRPO beats SFT + more SFT (OOD)": (rl["ood"], more["ood"]),
        "verifier arm's true pass rate above the RM arm's (test)": (rl["test"], rm["test"]),
        "RM arm's proxy reward rises during GRPO": (proxy_end, proxy_start),
    }
    raw = {name: stats.permutation_test(x, y, paired=True) for name, (x, y) in directional.items()}
    adjusted = dict(zip(raw, stats.holm(list(raw.values())).tolist(), strict=True))
    sft_iqm, teacher_iqm = summary["SFT"]["test"]["iqm"], summary["teacher"]["test"]["iqm"]
    checks = {
        "SFT pass@1 is non-zero": summary["SFT"]["test"]["ci_low"] > 0.0,
        f"SFT pass@1 within {NEAR} of the teacher's": abs(sft_iqm - teacher_iqm) <= NEAR,
        "GRPO from scratch gets (near-)zero signal": stats.summarize(scratch_signal)["ci_high"] <= NO_SIGNAL,
        **{name: p <= ALPHA for name, p in adjusted.items()},
    }
    beats_teacher = {
        arm: float(np.mean(arms[arm]["test"] > teacher["test"])) for arm in ARMS if arm != "teacher"
    }
    return {
        "summary": summary,
        "checks": checks,
        "p_raw": raw,
        "p_holm": adjusted,
        "fraction_beating_teacher": beats_teacher,
        "scratch_signal": stats.summarize(scratch_signal),
        "proxy": {"start": stats.summarize(proxy_start), "end": stats.summarize(proxy_end)},
        "claim_held": all(checks.values()),
    }


def training_flops(result: dict[str, Any]) -> dict[str, float]:
    """Training FLOPs per seed of each arm's whole pipeline (SFT included where it starts from SFT)."""
    f = result["flops"]
    return {
        "SFT": f["SFT"],
        "SFT + more SFT": f["SFT"] + f["SFT + more SFT"],
        "SFT -> GRPO": f["SFT"] + f["SFT -> GRPO"],
        "GRPO (scratch)": f["GRPO (scratch)"],
        "SFT -> GRPO (RM)": f["SFT"] + f["SFT -> GRPO (RM)"],
    }


def reading(judged: dict[str, Any]) -> list[str]:
    """One bullet per claim, generated from the checks: what held and what did not, with the numbers."""
    s, checks = judged["summary"], judged["checks"]
    cell = lambda arm, m: stats.format_ci(s[arm][m], 3)
    lines = []
    for name, held in checks.items():
        verdict = "held" if held else "**did not hold**"
        detail = ""
        if name in judged["p_holm"]:
            p_raw, p_holm = judged["p_raw"][name], judged["p_holm"][name]
            detail = f" (one-sided p = {p_raw:.4f}, Holm-adjusted {p_holm:.4f})"
        elif name.startswith("SFT pass@1"):
            detail = f" (SFT {cell('SFT', 'test')} vs teacher {cell('teacher', 'test')})"
        else:
            detail = f" (fraction of groups with any reward: {stats.format_ci(judged['scratch_signal'], 3)})"
        lines.append(f"- {name}: {verdict}{detail}.")
    lines.append(
        f"- Out of distribution: SFT -> GRPO {cell('SFT -> GRPO', 'ood')}, SFT + more SFT "
        f"{cell('SFT + more SFT', 'ood')}, teacher {cell('teacher', 'ood')}."
    )
    return lines


def write_report(result: dict[str, Any], out_dir: Path, wall_seconds: float, quick: bool) -> dict:
    judged = verdicts(result)
    budget, configs, arms = result["budget"], result["configs"], result["arms"]
    s = judged["summary"]
    flops = training_flops(result)
    sft_cfg, rl_cfg = configs["SFT"], configs["SFT -> GRPO"]
    task = sft_cfg.verifiable_task
    model = sft_cfg.model
    pass_k = {arm: stats.iqm(arms[arm]["pass_at_k"], axis=0) for arm in ARMS if arm != "teacher"}
    ks = pass_ks(budget)
    cmd = "python experiments/reasoning_rl_vs_sft.py" + (" --quick" if quick else "")
    lines = [
        "# Reasoning with verifiable rewards: RL vs SFT on human-style chains of thought",
        "",
        f"Generated by `{cmd}`.",
        "",
        "**Claim.** SFT on a fallible teacher's chains of thought reaches about the teacher's pass rate; "
        "GRPO from a random policy gets no reward signal; GRPO from the SFT policy with the exact verifier "
        "beats the teacher and SFT given the same extra compute, in and out of distribution; GRPO against a "
        "learned reward model raises its proxy reward while its true pass rate stays below the verifier "
        "arm's.",
        "",
        "**Task.** Arithmetic word problems (`purerl.reasoning.word_problems`, defaults): "
        f"prompts of {task.prompt_length} tokens, completions of up to {task.completion_length}; the teacher "
        "writes step-by-step chains of thought with systematic slips (dropped carries, forgotten borrows, "
        "overlooked small amounts on long problems). OOD = one more step than any training problem. "
        f"Policy: a {model.num_layers}-layer causal transformer, d_model {model.d_model}, "
        f"{model.num_heads} heads, rotary positions, {model.num_params():,} parameters, trained from "
        "scratch.",
        "",
        f"**Budget per seed.** SFT {sft_cfg.updates_run} updates x {sft_cfg.batch_size} prompts; GRPO "
        f"{rl_cfg.updates_run} updates x {rl_cfg.batch_size} prompts x {rl_cfg.group_size} samples "
        f"({rl_cfg.variant}, clip 0.2, no KL); more SFT {configs['SFT + more SFT'].updates_run} updates "
        f"(the FLOPs of the GRPO phase); GRPO from scratch {configs['GRPO (scratch)'].updates_run} updates "
        "(enough to see whether a random policy ever meets a reward). "
        f"Reward model: {budget.label_pairs} labelled SFT samples "
        f"({result['rm']['positive_fraction']:.0%} correct), {budget.rm_steps} steps. "
        f"{budget.num_seeds} seeds per arm. Tuning: every trained arm runs each learning rate of its grid "
        f"on {budget.tune_seeds} unreported seeds and keeps the best by the IQM of the final *validation* "
        "greedy pass@1 (grids and tuning IQMs in the JSON); the test split is used only for this report."
        + ("" if all(len(g) > 1 for g in budget.learning_rates.values()) else " (This run skipped tuning.)"),
        "",
        "**Metrics.** Greedy pass@1 on "
        f"{budget.test_problems} fresh test problems per seed (the same problems for every arm and the "
        f"teacher) and on {budget.test_problems} OOD problems; pass@k from {budget.pass_k_samples} "
        f"temperature-1 samples on {budget.pass_k_problems} test problems (unbiased estimator). Cells: IQM "
        "[95% stratified-bootstrap CI] over seeds, then the mean; 'beats teacher' = fraction of seeds whose "
        "pass@1 is above the teacher's on that seed's problems.",
        "",
        "| arm | lr (chosen on valid) | train GFLOPs / seed | test pass@1 | mean | OOD pass@1 | mean "
        "| beats teacher | pass@8 | pass@64 |",
        "|---|---|---:|---|---:|---|---:|---:|---:|---:|",
    ]
    for arm in ARMS:
        lr = f"{result['chosen_lr'][arm]:g}" if arm in result["chosen_lr"] else "(scripted)"
        gflops = f"{flops[arm] / 1e9:,.0f}" if arm in flops else "-"
        beats = f"{judged['fraction_beating_teacher'][arm]:.2f}" if arm != "teacher" else "-"
        k8, k64 = (
            (f"{pass_k[arm][ks.index(8)]:.3f}", f"{pass_k[arm][ks.index(64)]:.3f}")
            if arm in pass_k and 64 in ks
            else ("-", "-")
        )
        lines.append(
            f"| {arm} | {lr} | {gflops} | {stats.format_ci(s[arm]['test'], 3)} | "
            f"{s[arm]['test']['mean']:.3f} | {stats.format_ci(s[arm]['ood'], 3)} | "
            f"{s[arm]['ood']['mean']:.3f} | {beats} | {k8} | {k64} |"
        )
    rm = result["rm"]
    lines += [
        "",
        "The teacher makes no i.i.d. errors (its slips are deterministic in the problem), so its pass@k "
        "equals its pass@1 for every k.",
        "",
        "## Verdicts (generated from the data)",
        "",
        *reading(judged),
        "",
        f"**All claims held: {'yes' if judged['claim_held'] else 'no'}.** Directional claims: one-sided "
        "paired permutation tests on per-seed scores (10,000 sign flips), Holm-corrected across the six, "
        f"accepted at adjusted p <= {ALPHA}.",
        "",
        "## Reward over-optimisation",
        "",
        f"Proxy reward (the reward model's probability of 'correct' on GRPO's own samples) at the start vs "
        f"the end of GRPO: {stats.format_ci(judged['proxy']['start'], 3)} -> "
        f"{stats.format_ci(judged['proxy']['end'], 3)}. Reward-model accuracy on held-out SFT samples "
        f"{stats.iqm(rm['valid_accuracy']):.3f} (IQM over seeds); on samples of the final policy it "
        f"rewarded {stats.iqm(rm['on_policy_accuracy']):.3f}. True test pass@1: RM arm "
        f"{stats.format_ci(s['SFT -> GRPO (RM)']['test'], 3)} vs verifier arm "
        f"{stats.format_ci(s['SFT -> GRPO']['test'], 3)}.",
        "",
        "## pass@k (IQM over seeds, test split)",
        "",
        "| arm | " + " | ".join(f"k={k}" for k in ks) + " |",
        "|---|" + "---:|" * len(ks),
        *[f"| {arm} | " + " | ".join(f"{v:.3f}" for v in pass_k[arm]) + " |" for arm in pass_k],
        "",
        "Figures: `reasoning_rl_vs_sft.png` (validation pass@1 vs training FLOPs; test pass@k; the RM arm's "
        "proxy reward and true pass rate on its own samples; GRPO from scratch's fraction of groups with "
        "any reward).",
        "",
        "## Budget and machine",
        "",
        f"Wall time {wall_seconds / 60:.1f} min for everything (compilation included) on "
        f"{experiment.host_summary()}. Seconds per stage (compile + run, whole "
        "tuning grid): " + ", ".join(f"{k} {v:.0f}" for k, v in result["timings"].items()) + ".",
        "",
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    with io.atomic_path(out_dir / "reasoning_rl_vs_sft.md") as tmp:
        tmp.write_text("\n".join(lines))
    io.write_json(
        out_dir / "reasoning_rl_vs_sft.json",
        {
            "budget": dataclasses.asdict(budget),
            "configs": {arm: dataclasses.asdict(cfg) for arm, cfg in configs.items()},
            "per_seed": arms,
            "chosen_lr": result["chosen_lr"],
            "valid_iqm_by_lr": result["valid_scores"],
            "checks": judged["checks"],
            "p_raw": judged["p_raw"],
            "p_holm": judged["p_holm"],
            "fraction_beating_teacher": judged["fraction_beating_teacher"],
            "claim_held": judged["claim_held"],
            "reward_model": rm,
            "train_flops_per_seed": flops,
            "timings": result["timings"],
            "wall_seconds": wall_seconds,
        },
    )
    plot(result, out_dir / "reasoning_rl_vs_sft.png")
    return judged


def plot(result: dict[str, Any], path: Path) -> None:
    curves, arms, flops = result["curves"], result["arms"], result["flops"]
    teacher = arms["teacher"]["test"]
    start = {"SFT": 0.0, "GRPO (scratch)": 0.0}
    training = {}
    for arm, metrics in curves.items():
        blocks = np.asarray(metrics["eval_return"]).shape[1]
        x0 = start.get(arm, flops["SFT"])
        x = x0 + flops[arm] * np.arange(1, blocks + 1) / blocks
        training[arm] = (x / 1e12, np.asarray(metrics["eval_return"]))
    span = np.array([0.0, max(x[-1] for x, _ in training.values())])
    training["teacher (test)"] = (span, np.repeat(teacher[:, None], 2, axis=1))
    ks = np.array(pass_ks(result["budget"]), dtype=float)
    pass_k = {arm: (ks, arms[arm]["pass_at_k"]) for arm in ARMS if arm != "teacher"}
    pass_k["teacher"] = (ks, np.repeat(teacher[:, None], len(ks), axis=1))
    rm_curves, verifier = curves["SFT -> GRPO (RM)"], curves["SFT -> GRPO"]
    updates = np.arange(1, per_update(rm_curves, "reward").shape[1] + 1)
    overopt = {
        "RM arm: proxy reward": (updates, per_update(rm_curves, "reward")),
        "RM arm: true pass rate": (updates, per_update(rm_curves, "pass_rate")),
        "verifier arm: true pass rate": (updates, per_update(verifier, "pass_rate")),
    }
    scratch = per_update(curves["GRPO (scratch)"], "groups_any_reward")
    signal = {"GRPO (scratch)": (np.arange(1, scratch.shape[1] + 1), scratch)}
    titles = ("validation pass@1", "test pass@k", "reward over-optimisation", "signal from scratch")
    plots.plot_learning_curve_panels(
        dict(zip(titles, (training, pass_k, overopt, signal), strict=True)),
        path,
        num_columns=2,
        axis_labels={
            titles[0]: ("training TFLOPs per seed", "greedy pass@1"),
            titles[1]: ("k", "pass@k"),
            titles[2]: ("GRPO update", "reward on own samples"),
            titles[3]: ("GRPO update", "groups with any reward"),
        },
    )


def main(argv: list[str] | None = None) -> None:
    args, out_dir = experiment.parse_args(
        "reasoning_rl_vs_sft",
        __doc__,
        argv,
        RESULTS,
        "the whole pipeline small (CI smoke run)",
        experiment.add_seed,
    )
    budget = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    result = run(budget, args.seed)
    judged = write_report(result, out_dir, time.perf_counter() - t0, args.quick)
    for arm in ARMS:
        print(f"{arm}: test pass@1 {stats.format_ci(judged['summary'][arm]['test'], 3)}")
    print(f"claims held: {judged['claim_held']}; wrote {out_dir / 'reasoning_rl_vs_sft.md'}")


if __name__ == "__main__":
    main()
