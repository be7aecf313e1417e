"""Adapter: Craftax (Matthews et al., 2024) and Craftax-Classic as purerl `Env`s. Optional extra:
`pip install "purerl[craftax]"`.

| name                          | observation                        | actions |
|-------------------------------|------------------------------------|---------|
| `Craftax-Classic-Symbolic-v1` | `[1345]` float32 in [0, 1]         | 17      |
| `Craftax-Classic-Pixels-v1`   | `[63, 63, 3]` float32 in [0, 1]    | 17      |
| `Craftax-Symbolic-v1`         | `[8268]` float32 in [0, 1]         | 43      |
| `Craftax-Pixels-v1`           | `[130, 110, 3]` float32 in [0, 1]  | 43      |

Craftax's `step_env` returns one `done` that folds the time limit (`state.timestep >=
params.max_timesteps`) into the natural ends (death, lava, the final boss). We split them exactly: the
natural end is Craftax's own `is_terminal` evaluated with the time limit lifted, so a death on the
last step is still a termination, and `truncated = done & ~terminated`. Everything else goes through
`from_gymnax` (Craftax copies gymnax's API). The `craftax` package is imported only when an env is
built, so registering these names costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

import jax.numpy as jnp

from purerl.envs.core import Env
from purerl.envs.gymnax import from_gymnax

# name -> (module, class) of Craftax's no-auto-reset env (purerl resets with `wrappers.auto_reset`).
CRAFTAX_ENVS: dict[str, tuple[str, str]] = {
    "Craftax-Classic-Symbolic-v1": (
        "craftax.craftax_classic.envs.craftax_symbolic_env",
        "CraftaxClassicSymbolicEnvNoAutoReset",
    ),
    "Craftax-Classic-Pixels-v1": (
        "craftax.craftax_classic.envs.craftax_pixels_env",
        "CraftaxClassicPixelsEnvNoAutoReset",
    ),
    "Craftax-Symbolic-v1": ("craftax.craftax.envs.craftax_symbolic_env", "CraftaxSymbolicEnvNoAutoReset"),
    "Craftax-Pixels-v1": ("craftax.craftax.envs.craftax_pixels_env", "CraftaxPixelsEnvNoAutoReset"),
}
CRAFTAX_NAMES = tuple(CRAFTAX_ENVS)
# Larger than any reachable `state.timestep`: lifts the time limit when asking for a natural end.
_NO_TIME_LIMIT = 2**31 - 1


class _SplitDone:
    """Craftax's gymnax-API object with `step_env`'s `done` narrowed to natural ends and the time
    limit exposed as `is_truncated`, the form `from_gymnax` splits on."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name

    @property
    def default_params(self) -> Any:
        return self.inner.default_params

    def observation_space(self, params: Any) -> Any:
        return self.inner.observation_space(params)

    def action_space(self, params: Any) -> Any:
        return self.inner.action_space(params)

    def reset_env(self, key: Any, params: Any) -> tuple[Any, Any]:
        return self.inner.reset_env(key, params)

    def step_env(self, key: Any, state: Any, action: Any, params: Any) -> tuple[Any, ...]:
        obs, state, reward, done, info = self.inner.step_env(key, state, action, params)
        natural = self.inner.is_terminal(state, params.replace(max_timesteps=_NO_TIME_LIMIT))
        return obs, state, reward, jnp.asarray(done, bool) & natural, info

    def is_truncated(self, state: Any, params: Any) -> Any:
        return state.timestep >= params.max_timesteps


def make_craftax(name: str, **params_overrides: Any) -> tuple[Env, Any]:
    """Build the Craftax env `name` (one of `CRAFTAX_NAMES`).

    Args:
        name: e.g. "Craftax-Classic-Symbolic-v1".
        **params_overrides: fields of Craftax's `EnvParams` to change, e.g. `max_timesteps=1000`.

    Returns:
        `(env, params)`: the `Env` and Craftax's `EnvParams` (a pytree).

    Raises:
        ValueError: for an unknown name; ImportError (with the install hint) without `craftax`.
    """
    if name not in CRAFTAX_ENVS:
        raise ValueError(f"unknown Craftax env {name!r}; valid: {', '.join(CRAFTAX_NAMES)}")
    module_name, class_name = CRAFTAX_ENVS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ImportError(f'{name} needs the craftax package: pip install "purerl[craftax]" ({err})') from err
    inner = getattr(module, class_name)()
    params = inner.default_params.replace(**params_overrides)
    return from_gymnax(_SplitDone(inner), params, name, max_episode_steps=int(params.max_timesteps))
