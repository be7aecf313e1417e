"""Name -> environment factory. `make(name, **static) -> (env, params)`.

Every gymnax environment is registered under its gymnax name; native purerl environments register
themselves under their own names (see `purerl/envs/__init__.py`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from purerl.envs.core import Env

EnvFactory = Callable[..., tuple[Env, object]]
_REGISTRY: dict[str, EnvFactory] = {}


def register(name: str, factory: EnvFactory) -> None:
    """Register `factory(**static) -> (env, params)` under `name` (names are unique)."""
    if name in _REGISTRY:
        raise ValueError(f"environment {name!r} is already registered")
    _REGISTRY[name] = factory


def registered() -> tuple[str, ...]:
    """All registered environment names, sorted."""
    return tuple(sorted(_REGISTRY))


def unknown_name_message(kind: str, name: str, valid: tuple[str, ...] | list[str]) -> str:
    """Error text for an unknown name: closest matches first, then every valid name."""
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Valid {kind}s: {', '.join(sorted(valid))}"


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
