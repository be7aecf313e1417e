"""Algorithm registry: name -> `AlgoSpec`. Each agent module registers itself at import, and
`purerl.agents` imports every module in its package, so a new file is all a new algorithm needs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from purerl.config import field_names, unknown_name_message, validate_hparams
from purerl.loop import Agent, Algorithm, TrainConfig, TrainOutput, make_agent, make_train_fn


class Preset(NamedTuple):
    """Tuned overrides of an algorithm's config and hyperparameter defaults, for one environment or
    family: keys are field names, checked against the classes when the algorithm registers."""

    config: Mapping[str, Any] = {}
    hparams: Mapping[str, Any] = {}


class Component(NamedTuple):
    """A part of an algorithm that an ablation can switch off (`purerl.ablate`).

    Attributes:
        name: short name, e.g. "norm_adv" (CLI `--components`).
        description: one line: what it is and what "off" means exactly.
        off: field -> value that switches it off: hyperparameter fields for a traced component (its
            variants run as settings of one vmapped program), config fields for a static one.
        static: True when `off` names config fields: each variant is its own program (same seeds).
        requires: config field -> value the component needs to act at all (e.g. a learning-rate decay
            gate acts only with `anneal_lr=True`); where unmet, the component counts as already off.
    """

    name: str
    description: str
    off: Mapping[str, Any]
    static: bool = False
    requires: Mapping[str, Any] = {}


def env_family(env_name: str) -> str:
    """The preset family of an environment: "minatar" (names ending in "-MinAtar"), "continuous" (Box
    action space) or "default"."""
    if env_name.endswith("-MinAtar"):
        return "minatar"
    from purerl.envs import make, registered

    if env_name not in registered():  # a two-player game: presets are per game
        return "default"

    env, _ = make(env_name)
    return "default" if env.spec.discrete_actions else "continuous"


class AlgoSpec(NamedTuple):
    """How the runner, the CLI and `purerl.train` drive an algorithm.

    Attributes:
        name: CLI name, e.g. "ppo".
        summary: one line for `purerl algos`.
        config_cls: frozen dataclass of static options (a `loop.TrainConfig`).
        hparams_cls: NamedTuple of traced, vmappable hyperparameters, ranges annotated on the fields.
        build: `(config, env, env_params) -> loop.Algorithm`.
        action_spaces: which action spaces it supports: subset of ("discrete", "continuous").
        presets: tuned settings by environment name or family ("minatar", "continuous"); the dataclass
            defaults are the "default" family.
        probe: the environment the contract tests use; empty picks the probe of its action space.
        agent_builder: `(spec, config) -> loop.Agent`: builds the environment, the algorithm on it
            (`build`) and the evaluation; `loop.make_agent` for environments, `games.training.make_agent`
            for two-player games.
        components: what `purerl ablate` can switch off, by name (`Component`); empty if none.
    """

    name: str
    summary: str
    config_cls: type
    hparams_cls: type
    build: Callable[[Any, Any, Any], Algorithm]
    action_spaces: tuple[str, ...]
    presets: Mapping[str, Preset] = {}
    probe: str = ""
    agent_builder: Callable[[Any, Any], Agent] = make_agent
    components: Mapping[str, Component] = {}

    def validate_hparams(self, hparams: Any) -> None:
        """Raise `ValueError` naming the first field (scalar or stacked sweep) outside its range."""
        validate_hparams(hparams)

    def make_agent(self, config: TrainConfig) -> Agent:
        """The loop's view of this algorithm for `config` (environment, evaluation, blocks)."""
        return self.agent_builder(self, config)

    def make_train(self, config: TrainConfig) -> Callable[..., TrainOutput]:
        """`train(key, hparams, *init_args) -> TrainOutput` for one run of `config`: pure and unjitted;
        vmap it over keys (and stacked hparams), e.g. `jax.jit(jax.vmap(train, in_axes=(0, None)))`."""
        return make_train_fn(self.make_agent(config))

    def preset(self, env_name: str, **overrides: Any) -> tuple[Any, Any]:
        """`(config, hparams)` for `env_name`: the defaults, then the env family's preset, then the
        env's own, then `overrides` (config or hyperparameter fields by name). Both are validated.

        Example: `config, hparams = ppo.preset("Breakout-MinAtar", total_timesteps=10**6)`.
        """
        config: dict[str, Any] = {"env_name": env_name}
        hparams: dict[str, Any] = {}
        for key in ("default", env_family(env_name), env_name):
            entry = self.presets.get(key, Preset())
            config.update(entry.config)
            hparams.update(entry.hparams)
        config_fields = field_names(self.config_cls)
        for name, value in overrides.items():
            if name in config_fields:
                config[name] = value
            elif name in self.hparams_cls._fields:
                hparams[name] = value
            else:
                valid = config_fields + self.hparams_cls._fields
                raise ValueError(unknown_name_message(f"{self.name} field", name, valid))
        built = self.config_cls(**config), self.hparams_cls(**hparams)
        self.validate_hparams(built[1])
        return built


_ALGORITHMS: dict[str, AlgoSpec] = {}


def register_algorithm(spec: AlgoSpec) -> AlgoSpec:
    """Add `spec` to the registry (its presets' field names are checked here, at import)."""
    if spec.name in _ALGORITHMS:
        raise ValueError(f"algorithm {spec.name!r} is already registered")
    for key, entry in spec.presets.items():
        for fields, cls in ((entry.config, spec.config_cls), (entry.hparams, spec.hparams_cls)):
            unknown = set(fields) - set(field_names(cls))
            if unknown:
                raise ValueError(
                    f"{spec.name} preset {key!r} names unknown {cls.__name__} fields {sorted(unknown)}"
                )
    for key, part in spec.components.items():
        cls = spec.config_cls if part.static else spec.hparams_cls
        unknown = set(part.off) - set(field_names(cls))
        if key != part.name or unknown or set(part.requires) - set(field_names(spec.config_cls)):
            raise ValueError(
                f"{spec.name} component {key!r}: its name must be its key, its off fields "
                f"{cls.__name__} fields and its requires fields config fields"
            )
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
