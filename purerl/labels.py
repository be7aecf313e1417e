"""Names of the hyperparameter settings of a run, as tables, plots, CSV files and TensorBoard show them.

A setting is named by what distinguishes it from what `purerl train ALGO --env ENV` runs: its swept values
first, then every other hyperparameter that differs from the algorithm's preset for the env (`--set`
overrides, or hparams passed to `runner.run` directly), e.g. `"learning_rate=0.001, gamma=0.9"`. A run of
exactly the preset's hyperparameters is `"preset"`; it is never called "default" when it is not one.
Config fields (`num_envs`, `total_timesteps`, ...) are not part of the name: they are the same for every
setting of a run and are in `config.json`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

PRESET_LABEL = "preset"


def format_setting(values: Mapping[str, Any]) -> str:
    """`{"learning_rate": 3e-4, "gamma": 0.9}` -> `"learning_rate=0.0003, gamma=0.9"` ('' when empty)."""
    return ", ".join(f"{name}={float(value):g}" for name, value in values.items())


def _preset_hparams(spec: Any, config: Any) -> Any:
    """The preset's hyperparameters for the config's env, layered as `AlgoSpec.preset` does (without
    building a config, which for some algorithms needs more than an env name)."""
    from purerl.agents.registry import Preset, env_family

    env_name = getattr(config, "env_name", None)
    values: dict[str, Any] = {}
    if env_name is not None:
        try:
            family = env_family(env_name)
        except ValueError:  # an env the registry cannot make: only its own preset applies
            family = "default"
        for key in ("default", family, env_name):
            values.update(spec.presets.get(key, Preset()).hparams)
    return spec.hparams_cls(**values)


def changed_hparams(spec: Any, config: Any, hparams: Any, swept: Mapping[str, Any] = ()) -> dict[str, float]:
    """Hyperparameters other than `swept` whose value differs from the preset (compared in float32).

    Args:
        spec: the algorithm (`AlgoSpec`).
        config: its config (names the env whose preset is the reference).
        hparams: scalar leaves, or `[H]` leaves for a sweep (unswept fields are the same in every row).
        swept: names of the swept fields, left out here because each setting names them itself.
    """
    preset = _preset_hparams(spec, config)
    changed = {}
    for name in hparams._fields:
        if name in swept:
            continue
        value = np.asarray(getattr(hparams, name), np.float32).reshape(-1)[0]
        if value != np.float32(getattr(preset, name)):
            changed[name] = float(value)
    return changed


def setting_labels(
    spec: Any, config: Any, hparams: Any, sweep_settings: list[dict] | None, num_settings: int | None
) -> list[str]:
    """One label per setting: `[H]` for a sweep (`num_settings` = H), `[1]` for a plain run (None)."""
    if num_settings is None:
        return [format_setting(changed_hparams(spec, config, hparams)) or PRESET_LABEL]
    swept = {name for setting in sweep_settings or [] for name in setting}
    fixed = format_setting(changed_hparams(spec, config, hparams, swept))
    labels = []
    for i in range(num_settings):
        own = format_setting(sweep_settings[i]) if sweep_settings else f"setting {i}"
        labels.append(", ".join(part for part in (own, fixed) if part))
    return labels


def entry_label(entry: Mapping[str, Any]) -> str:
    """The label of a summary entry (a plain run's summary or one `sweep` item); runs saved before labels
    were recorded fall back to their swept values, or "default"."""
    if entry.get("label"):
        return entry["label"]
    return format_setting(entry.get("hparams") or {}) or "default"
