"""purerl: pure-function JAX reinforcement learning.

Environments and agents are pure functions, so a whole training run (rollouts and updates) is one
`jax.jit`-compiled program that `jax.vmap` runs across thousands of seeds and hyperparameter settings::

    import jax, purerl
    from purerl.agents.ppo import PPOConfig, PPOHParams, make_train

    train = make_train(PPOConfig(env_name="CartPole-v1"))
    keys = jax.random.split(jax.random.key(0), 64)
    out = jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, PPOHParams())
    out.metrics["eval_return"]  # [64, num_blocks]
"""

import importlib
from typing import Any

# Exported names and the module each lives in. They load on first use (PEP 562), so that
# `import purerl.cli` does not import gymnax, whose import creates arrays and so starts JAX's backends:
# the CLI must set XLA options (one CPU device per core) before that happens.
_EXPORTS = {
    "agents": "purerl",
    "envs": "purerl",
    "returns": "purerl",
    "rollout": "purerl",
    "stats": "purerl",
    "algorithms": "purerl.agents",
    "get_algorithm": "purerl.agents",
    "Env": "purerl.envs",
    "EnvSpec": "purerl.envs",
    "make": "purerl.envs",
    "register": "purerl.envs",
    "registered": "purerl.envs",
    "Agent": "purerl.loop",
    "TrainOutput": "purerl.loop",
    "make_train_fn": "purerl.loop",
    "TimeStep": "purerl.types",
    "train": "purerl.api",
    "load_run": "purerl.saved",
    "evaluate_run": "purerl.saved",
    "Algorithm": "purerl.loop",
    "Transition": "purerl.types",
    "check_env": "purerl.envs",
    "from_gymnax": "purerl.envs",
    "export_csv": "purerl.export",
    "compare_runs": "purerl.compare",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'purerl' has no attribute {name!r}")
    module = _EXPORTS[name]
    value = (
        importlib.import_module(f"purerl.{name}")
        if module == "purerl"
        else getattr(importlib.import_module(module), name)
    )
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "Agent",
    "Algorithm",
    "Env",
    "EnvSpec",
    "TimeStep",
    "TrainOutput",
    "Transition",
    "agents",
    "algorithms",
    "check_env",
    "compare_runs",
    "envs",
    "evaluate_run",
    "export_csv",
    "from_gymnax",
    "get_algorithm",
    "load_run",
    "make",
    "make_train_fn",
    "register",
    "registered",
    "returns",
    "rollout",
    "stats",
    "train",
]
