"""Algorithm registry: name -> `AlgoSpec`. Each agent module registers itself at import."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from purerl.config import Range, unknown_name_message, validate_hparams
from purerl.loop import Agent, TrainOutput, make_train_fn


class AlgoSpec(NamedTuple):
    """How the runner and CLI drive an algorithm.

    Attributes:
        name: CLI name, e.g. "ppo".
        summary: one line for `purerl algos`.
        config_cls: frozen dataclass of static options (validated in `__post_init__`).
        hparams_cls: NamedTuple of traced, vmappable hyperparameters.
        make_agent: `config -> Agent`.
        hparam_ranges: valid range of each hyperparameter field (fields not listed: any finite value).
        action_spaces: which action spaces it supports: subset of ("discrete", "continuous").
    """

    name: str
    summary: str
    config_cls: type
    hparams_cls: type
    make_agent: Callable[[Any], Agent]
    hparam_ranges: Mapping[str, Range]
    action_spaces: tuple[str, ...]

    def validate_hparams(self, hparams: Any) -> None:
        """Raise `ValueError` naming the first field (scalar or stacked sweep) outside its range."""
        validate_hparams(hparams, self.hparam_ranges)

    def make_train(self, config: Any) -> Callable[..., TrainOutput]:
        """`train(key, hparams, *init_args) -> TrainOutput` for one run of `config`: pure and unjitted;
        vmap it over keys (and stacked hparams), e.g. `jax.jit(jax.vmap(train, in_axes=(0, None)))`."""
        return make_train_fn(self.make_agent(config))


_ALGORITHMS: dict[str, AlgoSpec] = {}


def register_algorithm(spec: AlgoSpec) -> AlgoSpec:
    if spec.name in _ALGORITHMS:
        raise ValueError(f"algorithm {spec.name!r} is already registered")
    _ALGORITHMS[spec.name] = spec
    return spec


def algorithms() -> dict[str, AlgoSpec]:
    """Registered algorithms, by name (sorted)."""
    return dict(sorted(_ALGORITHMS.items()))


def algorithm_for_config(config: Any) -> AlgoSpec:
    """The registered algorithm whose config class `config` is an instance of (`ValueError` if none)."""
    for spec in _ALGORITHMS.values():
        if type(config) is spec.config_cls:
            return spec
    raise ValueError(
        f"{type(config).__name__} is not the config of a registered algorithm; "
        f"registered: {', '.join(f'{n} ({s.config_cls.__name__})' for n, s in sorted(_ALGORITHMS.items()))}"
    )


def get_algorithm(name: str) -> AlgoSpec:
    """Look up an algorithm; an unknown name raises `ValueError` listing the valid ones."""
    if name not in _ALGORITHMS:
        raise ValueError(unknown_name_message("algorithm", name, tuple(_ALGORITHMS)))
    return _ALGORITHMS[name]
