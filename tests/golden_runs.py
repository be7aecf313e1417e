"""Tiny fixed-seed runs of every algorithm, recorded before the algorithm-layer refactor.

`python tests/golden_runs.py --write` (re)records `tests/golden/<case>.npz`; `tests/test_golden.py`
checks that today's code reproduces them bit for bit. Each case is two seeds of a tiny config through
`jax.jit(jax.vmap(train))`, so the files hold every metric of every update and the final parameters.
Re-record only for a change whose difference is explained in its commit message.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np

GOLDEN_DIR = Path(__file__).parent / "golden"
NUM_SEEDS = 2


def _cases() -> dict[str, tuple[str, Any, Any, tuple]]:
    """case -> (algo, config, hparams, init_args with a leading [seed] axis)."""
    from purerl.agents import a2c, bc, dqn, ppo, pqn, reinforce, sac, td3

    tiny_eval = {"eval_every": 2, "eval_episodes": 2, "eval_max_steps": 10}
    off = {
        "env_name": "Pendulum-v1",
        "total_timesteps": 48,
        "num_envs": 2,
        "num_steps": 1,
        "gradient_steps": 2,
        "batch_size": 8,
        "buffer_size": 64,
        "learning_starts": 16,
        "random_steps": 16,
        "hidden_sizes": (8,),
        **tiny_eval,
    }
    demo_obs = jax.random.normal(jax.random.key(7), (NUM_SEEDS, 32, 4))
    demo_action = (demo_obs[..., 0] > 0).astype(np.int32)
    return {
        "ppo_cartpole": (
            "ppo",
            ppo.PPOConfig(
                num_envs=2,
                num_steps=8,
                total_timesteps=128,
                num_epochs=2,
                num_minibatches=2,
                hidden_sizes=(8,),
                **tiny_eval,
            ),
            ppo.PPOHParams(),
            (),
        ),
        "ppo_pendulum_norm": (
            "ppo",
            ppo.PPOConfig(
                env_name="Pendulum-v1",
                num_envs=2,
                num_steps=8,
                total_timesteps=128,
                num_epochs=2,
                num_minibatches=2,
                hidden_sizes=(8,),
                normalize_obs=True,
                normalize_reward=True,
                **tiny_eval,
            ),
            ppo.PPOHParams(),
            (),
        ),
        "reinforce": (
            "reinforce",
            reinforce.ReinforceConfig(
                num_envs=2, num_steps=16, total_timesteps=128, hidden_sizes=(8,), **tiny_eval
            ),
            reinforce.ReinforceHParams(),
            (),
        ),
        "a2c_nstep": (
            "a2c",
            a2c.A2CConfig(
                num_envs=2,
                num_steps=5,
                total_timesteps=100,
                advantage="nstep",
                hidden_sizes=(8,),
                **tiny_eval,
            ),
            a2c.A2CHParams(),
            (),
        ),
        "dqn": (
            "dqn",
            dqn.DQNConfig(
                num_envs=2,
                num_steps=4,
                total_timesteps=96,
                gradient_steps=2,
                batch_size=8,
                buffer_size=64,
                learning_starts=16,
                hidden_sizes=(8,),
                **tiny_eval,
            ),
            dqn.DQNHParams(),
            (),
        ),
        "pqn": (
            "pqn",
            pqn.PQNConfig(
                num_envs=4,
                num_steps=4,
                total_timesteps=128,
                num_epochs=2,
                num_minibatches=2,
                hidden_sizes=(8,),
                **tiny_eval,
            ),
            pqn.PQNHParams(),
            (),
        ),
        "sac": ("sac", sac.SACConfig(**off), sac.SACHParams(), ()),
        "td3": ("td3", td3.TD3Config(**off), td3.TD3HParams(), ()),
        "bc": (
            "bc",
            bc.BCConfig(num_updates=8, batch_size=8, hidden_sizes=(8,), **tiny_eval),
            bc.BCHParams(),
            (bc.BCData(demo_obs, demo_action),),
        ),
    }


def _params_of(state: Any) -> dict[str, np.ndarray]:
    """Every float leaf of the final state whose path names parameters, keyed by its path."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        name = jax.tree_util.keystr(path)
        if "params" in name and np.issubdtype(np.asarray(leaf).dtype, np.floating):
            out["param" + name] = np.asarray(leaf)
    return out


def run_case(case: str) -> dict[str, np.ndarray]:
    """The metrics (`metric/<name>`) and final parameters (`param<path>`) of one case, host arrays."""
    from purerl.agents import get_algorithm

    algo, config, hparams, init_args = _cases()[case]
    train = get_algorithm(algo).make_train(config)
    keys = jax.random.split(jax.random.key(0), NUM_SEEDS)
    in_axes = (0, None) + (0,) * len(init_args)
    out = jax.jit(jax.vmap(train, in_axes=in_axes))(keys, hparams, *init_args)
    arrays = {f"metric/{k}": np.asarray(v) for k, v in out.metrics.items()}
    arrays.update(_params_of(out.state))
    return arrays


def case_names() -> list[str]:
    return list(_cases())


FINGERPRINT_FILE = GOLDEN_DIR / "machine.txt"


def machine_fingerprint() -> str:
    """What decides the bits XLA's CPU code produces: the jax version and the CPU's model and features.
    Float reductions differ in their last bits between CPUs with other vector units (measured: every
    case differs by 1e-6..1e-2 relative between two 2-core machines), so bits are comparable only on
    the machine class that recorded them."""
    import hashlib
    import platform

    import jax

    try:
        cpu = [
            line
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith(("model name", "flags"))
        ]
    except OSError:
        cpu = [platform.processor()]
    digest = hashlib.sha256("\n".join(sorted(set(cpu))).encode()).hexdigest()[:16]
    return f"jax {jax.__version__}, {platform.machine()}, cpu {digest}"


if __name__ == "__main__":
    # The test suite's XLA options (tests/conftest.py), so that recorded and checked bits come from the
    # same compiler pipeline.
    sys.path.insert(0, str(Path(__file__).parent))
    import conftest  # noqa: F401

    if "--write" not in sys.argv:
        sys.exit("usage: python tests/golden_runs.py --write [CASE ...]   (default: every case)")
    GOLDEN_DIR.mkdir(exist_ok=True)
    chosen = [a for a in sys.argv[1:] if a != "--write"] or case_names()
    FINGERPRINT_FILE.write_text(machine_fingerprint() + "\n")
    for name in chosen:
        arrays = run_case(name)
        np.savez(GOLDEN_DIR / f"{name}.npz", **arrays)
        print(name, len(arrays), "arrays")
