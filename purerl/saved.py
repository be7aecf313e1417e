"""Saved runs as read-only data: load a results directory, act with its policies, evaluate them again.

`load_run("runs/x")` reads what `purerl train` / `runner.run` wrote (config.json, summary.json,
metrics.npz, the last checkpoint) and never writes to the directory. It gives the config, the metrics,
the final state of every seed and a jitted `act(key, obs)` per seed (the algorithm's evaluation policy,
observation normalisation included). `evaluate_run` plays fresh episodes with the saved policies;
`purerl eval runs/x` prints the usual IQM/CI table and writes `eval.json` beside the run's files.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from purerl import io, runner, stats
from purerl.labels import entry_label
from purerl.results import CHECKPOINT_DIR, is_metric_key

EVAL_FILE = "eval.json"


def eval_file(policy: str | None = None) -> str:
    """The file `purerl eval` writes in a run directory: `eval.json` with the run's own evaluation policy,
    `eval_<policy>.json` with one chosen by `--policy` (so both can stand beside each other)."""
    return EVAL_FILE if policy is None else f"eval_{policy}.json"


class SavedRun(NamedTuple):
    """A results directory, loaded.

    Attributes:
        path: the directory.
        spec: the algorithm (`AlgoSpec`).
        config: its config, rebuilt (and validated) from config.json.
        hparams: its hyperparameters; leaves `[H]` for a sweep.
        record: config.json as saved.
        summary: summary.json (`None` if the run did not complete).
        metrics: every metric, `[(H,) S, blocks, ...]`.
        states: the final training state of every run, leading `[(H,) S]` axes (host arrays), or
            `None` when the run saved no checkpoint (`--checkpoint-every 0`).
        completed_blocks: blocks the states (and metrics) cover.
    """

    path: Path
    spec: Any
    config: Any
    hparams: Any
    record: dict
    summary: dict | None
    metrics: dict[str, np.ndarray]
    states: Any
    completed_blocks: int

    @property
    def swept(self) -> bool:
        return self.record.get("sweep") is not None

    @property
    def labels(self) -> list[str]:
        """`[H]` setting labels (`[1]` for a plain run), as the tables show them."""
        entries = (self.summary or {}).get("sweep") or [self.summary or {"hparams": {}}]
        if self.summary is None and self.swept:
            entries = [{"hparams": h} for h in self.record["sweep"]]
        return [entry_label(e) for e in entries]

    def state(self, seed: int, setting: int = 0) -> Any:
        """The final state of one run."""
        if self.states is None:
            raise ValueError(
                f"{self.path} saved no checkpoint (run with --checkpoint-every >= 1 to keep states)"
            )
        num_seeds = self.record["num_seeds"]
        if not 0 <= seed < num_seeds:
            raise ValueError(f"seed must be in [0, {num_seeds}), got {seed}")
        index = (setting, seed) if self.swept else (seed,)
        return jax.tree.map(lambda x: x[index], self.states)

    def act(self, seed: int, setting: int = 0) -> Callable[[jax.Array, jax.Array], jax.Array]:
        """Jitted `act(key, obs [B, ...]) -> action [B, ...]`: the evaluation policy of one seed."""
        agent = self.spec.make_agent(self.config)
        state = self.state(seed, setting)
        return jax.jit(lambda key, obs: agent.act(key, state, obs))


def load_run(path: str | Path) -> SavedRun:
    """Load a results directory read-only (`ValueError` naming what is missing or unreadable)."""
    from purerl.agents import get_algorithm

    out = Path(path)
    config_path = out / "config.json"
    if not config_path.is_file():
        raise ValueError(f"{out} is not a purerl run directory (no config.json)")
    try:
        record = io.read_json(config_path)
    except (OSError, ValueError) as err:
        raise ValueError(f"{config_path} is unreadable ({err})") from None
    spec = get_algorithm(record["algo"])
    config = spec.config_cls(**record["config"])
    hparams = spec.hparams_cls(**{k: np.asarray(v, np.float32) for k, v in record["hparams"].items()})
    summary = io.read_json(out / "summary.json") if (out / "summary.json").is_file() else None
    states, blocks, metrics = _final_states(out, spec, config, hparams, record)
    if (out / "metrics.npz").is_file():
        with np.load(out / "metrics.npz", allow_pickle=False) as data:
            metrics = {name: data[name] for name in data.files if is_metric_key(name)}
    return SavedRun(out, spec, config, hparams, record, summary, metrics, states, blocks)


def _final_states(out: Path, spec: Any, config: Any, hparams: Any, record: dict):
    """`(states [(H,) S, ...] or None, completed blocks, checkpoint metrics)` from the last checkpoint."""
    from purerl.checkpoints import Checkpoints

    if not (out / CHECKPOINT_DIR).is_dir():
        return None, 0, {}
    if record.get("init_args_sha256"):
        raise ValueError(
            f"{out} was trained from per-seed init_args (e.g. a dataset), which are not saved with the run; "
            "its states cannot be rebuilt by load_run"
        )
    # orbax warns about every read-only manager; reading a run read-only is the point here.
    absl = logging.getLogger("absl")
    quiet = logging.Filter()
    quiet.filter = lambda r: "read only" not in r.getMessage() and "read_only" not in r.getMessage()
    absl.addFilter(quiet)
    try:
        checkpoints = Checkpoints(out, keep=1_000_000, read_only=True)
        return _restore_final(out, spec, config, hparams, record, checkpoints)
    finally:
        absl.removeFilter(quiet)


def _restore_final(out: Path, spec: Any, config: Any, hparams: Any, record: dict, checkpoints: Any):
    steps = checkpoints.steps()
    if not steps:
        return None, 0, {}
    step = steps[-1]
    meta = checkpoints.read_meta(step)
    num_runs = int(meta["num_runs"])
    agent = spec.make_agent(config)
    num_settings = len(record["sweep"]) if record.get("sweep") is not None else 1
    key_aval = jax.eval_shape(
        lambda k: jax.random.split(jax.random.wrap_key_data(k), num_runs), _key_data_aval()
    )
    hparams_aval = jax.tree.map(lambda _: jax.ShapeDtypeStruct((num_runs,), np.float32), hparams)
    state_aval = jax.eval_shape(jax.vmap(agent.init), key_aval, hparams_aval)
    healthy_aval = jax.ShapeDtypeStruct((num_runs,), np.bool_)
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ("runs",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("runs"))
    state, _, _ = checkpoints.restore(step, sharding, state_aval, healthy_aval)
    # The runner's own mapping from the padded run axis to [(H,) S].
    layout = runner.plan_runs(num_settings, record["num_seeds"], 1, num_runs)
    swept = record.get("sweep") is not None
    to_result = lambda x: runner.to_result_layout(x, layout, swept)
    metrics = {k: to_result(v) for k, v in checkpoints.read_metrics(step, num_runs).items()}
    return jax.tree.map(to_result, jax.device_get(state)), step, metrics


def _key_data_aval() -> jax.ShapeDtypeStruct:
    """Abstract raw data of one key (no key is made: keys enter purerl only as arguments)."""
    from purerl.checkpoints import _key_data_shape

    return jax.ShapeDtypeStruct(_key_data_shape(), np.uint32)


def evaluate_run(
    run: SavedRun,
    key: jax.Array,
    num_episodes: int,
    seeds: Sequence[int] | None = None,
    greedy: bool | None = None,
) -> dict[str, Any]:
    """Play `num_episodes` fresh episodes with each selected seed's saved policy.

    Args:
        run: from `load_run`.
        key: PRNG key of the episodes.
        num_episodes: fresh episodes per seed.
        seeds: seed indices (default: all).
        greedy: act with the policy's mode (True) or sample it (False; value-based agents act
            epsilon-greedily with their `eval_epsilon`); None: as the run evaluated (`eval_greedy`).

    Returns:
        `{"seeds", "episodes", "policy": "greedy" | "sampled", "eval_return": [(H,) len(seeds)] mean return
        per run, "summary": IQM/CI of each setting}` (JSON-ready).
    """
    if run.states is None:
        raise ValueError(f"{run.path} saved no checkpoint, so there is no policy to evaluate")
    num_seeds = run.record["num_seeds"]
    seeds = list(range(num_seeds)) if seeds is None else list(seeds)
    bad = [s for s in seeds if not 0 <= s < num_seeds]
    if bad or not seeds:
        raise ValueError(f"--seeds must be indices in [0, {num_seeds}), got {seeds}")
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"--episodes must be a positive integer, got {num_episodes!r}")
    greedy = run.config.eval_greedy if greedy is None else bool(greedy)
    config = dataclasses.replace(run.config, eval_episodes=num_episodes, eval_greedy=greedy)
    agent = run.spec.make_agent(config)
    index = np.asarray(seeds)
    states = jax.tree.map(lambda x: x[:, index] if run.swept else x[index], run.states)
    hparams = run.hparams
    num_settings = len(run.record["sweep"]) if run.swept else 1
    flat = (num_settings * len(seeds),)
    flat_states = jax.tree.map(lambda x: x.reshape((*flat, *x.shape[2 if run.swept else 1 :])), states)
    flat_hparams = jax.tree.map(
        lambda v: (
            np.repeat(np.asarray(v, np.float32).reshape(-1), len(seeds))
            if run.swept
            else np.full(flat, np.float32(v))
        ),
        hparams,
    )
    keys = jax.random.split(key, flat[0])
    returns = jax.jit(jax.vmap(agent.evaluate))(keys, flat_states, flat_hparams)["eval_return"]
    returns = np.asarray(returns).reshape((num_settings, len(seeds)) if run.swept else (len(seeds),))
    rows = returns if run.swept else returns[None]
    return {
        "seeds": seeds,
        "episodes": num_episodes,
        "policy": "greedy" if greedy else "sampled",
        "eval_return": returns.tolist(),
        "summary": [stats.summarize(row[np.isfinite(row)]) for row in rows],
    }
