"""Per-algorithm, per-environment defaults: the one place tuned settings live.

`DEFAULTS[algo][key]` maps a key to `{"config": {...}, "hparams": {...}}` overrides of the dataclass
defaults. A key is an exact environment name or a family: "minatar" (names ending in "-MinAtar"),
"continuous" (Box action space) or "default". Lookup order: default, then family, then exact name, each
overriding the previous one; `--set` on the command line overrides all of them.
"""

from __future__ import annotations

from typing import Any

from purerl.envs import make

DEFAULTS: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "ppo": {
        # The classic single-file JAX PPO settings for CartPole (4 envs x 128 steps, 4x4 minibatches).
        "default": {"config": {}, "hparams": {}},
        "minatar": {
            "config": {
                "total_timesteps": 10_000_000,
                "num_envs": 64,
                "num_steps": 128,
                "num_epochs": 4,
                "num_minibatches": 8,
                "network": "minatar_cnn",
                "hidden_sizes": (128,),
                "activation": "relu",
                "eval_max_steps": 1000,
            },
            "hparams": {"learning_rate": 5e-4, "ent_coef": 0.01, "gamma": 0.99},
        },
        "continuous": {
            "config": {
                "total_timesteps": 1_000_000,
                "num_envs": 16,
                "num_steps": 256,
                "num_epochs": 10,
                "num_minibatches": 32,
                "normalize_obs": True,
                "normalize_reward": True,
                "anneal_lr": True,
            },
            "hparams": {"learning_rate": 1e-3, "ent_coef": 0.0, "gae_lambda": 0.95, "max_grad_norm": 0.5},
        },
    },
}


def env_family(env_name: str) -> str:
    """"minatar", "continuous" or "default"."""
    if env_name.endswith("-MinAtar"):
        return "minatar"
    env, _ = make(env_name)
    return "default" if env.spec.discrete_actions else "continuous"


def defaults_for(algo: str, env_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merged `(config_overrides, hparam_overrides)` for `algo` on `env_name`."""
    table = DEFAULTS.get(algo, {})
    config: dict[str, Any] = {}
    hparams: dict[str, Any] = {}
    for key in ("default", env_family(env_name), env_name):
        entry = table.get(key, {})
        config.update(entry.get("config", {}))
        hparams.update(entry.get("hparams", {}))
    return config, hparams
