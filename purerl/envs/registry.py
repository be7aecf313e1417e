"""Name -> environment factory. `make(name, **static) -> (env, params)`.

Every gymnax environment is registered under its gymnax name; native purerl environments register
themselves under their own names (see `purerl/envs/__init__.py`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from purerl.config import unknown_name_message
from purerl.envs.core import Env

EnvFactory = Callable[..., tuple[Env, object]]
# (key, **static) -> params: a random instance of the env's problem (a bandit's arms, a lock's code).
ParamsSampler = Callable[..., object]
_REGISTRY: dict[str, EnvFactory] = {}
_SAMPLERS: dict[str, ParamsSampler] = {}


def _same_factory(a: EnvFactory, b: EnvFactory) -> bool:
    """The same function object, or one defined at the same place (a re-run notebook cell, a re-imported
    module); `functools.partial`s compare their function and arguments."""
    if a is b:
        return True
    if isinstance(a, functools.partial) and isinstance(b, functools.partial):
        return _same_factory(a.func, b.func) and a.args == b.args and a.keywords == b.keywords
    ids = [(getattr(f, "__module__", None), getattr(f, "__qualname__", None)) for f in (a, b)]
    return ids[0] == ids[1] and None not in ids[0]


def register(
    name: str, factory: EnvFactory, sampler: ParamsSampler | None = None, check: bool = False
) -> None:
    """Register `factory(**static) -> (env, params)` under `name`.

    `sampler(key, **static) -> params`, when given, draws a random problem instance with the same
    static options; it lets a run give every seed its own env params (`TrainConfig.env_params`).

    Registering a name again with the same factory (the same function, or one with the same
    `__module__` and `__qualname__`, as a re-run notebook cell or re-imported module gives) replaces it
    silently; a different factory under a taken name is an error.

    Args:
        name: the env's name, e.g. "MyCorridor-v0".
        factory: builds `(env, params)` from static keyword options (all defaulted).
        sampler: optional params sampler (see above).
        check: build the default env and run `check.assert_valid_env` on it now (also when the
            environment variable `PURERL_CHECK_ENVS=1`).

    Raises:
        ValueError: if `name` is taken by a different factory, or the check finds a problem.
    """
    if name in _REGISTRY and not _same_factory(_REGISTRY[name], factory):
        raise ValueError(
            f"environment {name!r} is already registered with a different factory "
            f"({_describe(_REGISTRY[name])}); choose another name"
        )
    if check or os.environ.get("PURERL_CHECK_ENVS", "") == "1":
        from purerl.envs.check import assert_valid_env

        env, params = factory()
        assert_valid_env(env, params)
    _REGISTRY[name] = factory
    if sampler is not None:
        _SAMPLERS[name] = sampler
    else:
        _SAMPLERS.pop(name, None)


def _describe(factory: EnvFactory) -> str:
    func = factory.func if isinstance(factory, functools.partial) else factory
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


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
