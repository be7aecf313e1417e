"""Name -> environment factory. `make(name, **static) -> (env, params)`.

Every gymnax environment is registered under its gymnax name; native purerl environments register
themselves under their own names (see `purerl/envs/__init__.py`).
"""

from __future__ import annotations

from collections.abc import Callable

from purerl.config import unknown_name_message
from purerl.envs.core import Env

EnvFactory = Callable[..., tuple[Env, object]]
# (key, **static) -> params: a random instance of the env's problem (a bandit's arms, a lock's code).
ParamsSampler = Callable[..., object]
_REGISTRY: dict[str, EnvFactory] = {}
_SAMPLERS: dict[str, ParamsSampler] = {}


def register(name: str, factory: EnvFactory, sampler: ParamsSampler | None = None) -> None:
    """Register `factory(**static) -> (env, params)` under `name` (names are unique).

    `sampler(key, **static) -> params`, when given, draws a random problem instance with the same
    static options; it lets a run give every seed its own env params (`TrainConfig.env_params`).
    """
    if name in _REGISTRY:
        raise ValueError(f"environment {name!r} is already registered")
    _REGISTRY[name] = factory
    if sampler is not None:
        _SAMPLERS[name] = sampler


def params_sampler(name: str) -> ParamsSampler | None:
    """The registered params sampler of `name`, or None if its params are fixed."""
    return _SAMPLERS.get(name)


def registered() -> tuple[str, ...]:
    """All registered environment names, sorted."""
    return tuple(sorted(_REGISTRY))


def make(name: str, **static) -> tuple[Env, object]:
    """Build a registered environment.

    Args:
        name: registered name, e.g. "CartPole-v1" (see `registered()`).
        **static: static options for the environment's factory.

    Returns:
        `(env, params)`: the `Env` (no auto-reset; see `wrappers.auto_reset`) and its default params.

    Raises:
        ValueError: if `name` is not registered (the message lists the closest valid names).
    """
    if name not in _REGISTRY:
        raise ValueError(unknown_name_message("environment", name, registered()))
    return _REGISTRY[name](**static)
