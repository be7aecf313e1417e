"""Algorithm registry: name -> `AlgoSpec`. Each agent module registers itself at import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from purerl.envs.registry import unknown_name_message
from purerl.loop import Agent


class AlgoSpec(NamedTuple):
    """How the runner and CLI drive an algorithm.

    Attributes:
        name: CLI name, e.g. "ppo".
        summary: one line for `purerl algos`.
        config_cls: frozen dataclass of static options (validated in `__post_init__`).
        hparams_cls: NamedTuple of traced, vmappable hyperparameters.
        make_agent: `config -> Agent`.
        validate_hparams: `hparams -> None`, raises `ValueError` naming the bad field.
        action_spaces: which action spaces it supports: subset of ("discrete", "continuous").
    """

    name: str
    summary: str
    config_cls: type
    hparams_cls: type
    make_agent: Callable[[Any], Agent]
    validate_hparams: Callable[[Any], None]
    action_spaces: tuple[str, ...]


_ALGORITHMS: dict[str, AlgoSpec] = {}


def register_algorithm(spec: AlgoSpec) -> AlgoSpec:
    if spec.name in _ALGORITHMS:
        raise ValueError(f"algorithm {spec.name!r} is already registered")
    _ALGORITHMS[spec.name] = spec
    return spec


def algorithms() -> dict[str, AlgoSpec]:
    """Registered algorithms, by name (sorted)."""
    return dict(sorted(_ALGORITHMS.items()))


def get_algorithm(name: str) -> AlgoSpec:
    """Look up an algorithm; an unknown name raises `ValueError` listing the valid ones."""
    if name not in _ALGORITHMS:
        raise ValueError(unknown_name_message("algorithm", name, tuple(_ALGORITHMS)))
    return _ALGORITHMS[name]
