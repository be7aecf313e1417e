"""Environments from outside purerl: import user modules that call `purerl.envs.register`.

Two ways in:

- `import_env_modules(["my_package.envs", "examples/my_envs.py"])`: what `purerl train --import` does;
  each entry is a dotted module name or a path to a `.py` file.
- `load_entry_points()`: every installed distribution that declares an entry point in the group
  `purerl.envs` (in its `pyproject.toml`: `[project.entry-points."purerl.envs"] my_envs =
  "my_package.envs"`) has that module imported.

Importing is all that happens: registering is the module's own top-level `register(...)` calls.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

ENTRY_POINT_GROUP = "purerl.envs"


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _import_path(path: Path) -> None:
    """Import a `.py` file as a module named after its stem (replacing an earlier import of it)."""
    module_name = path.stem
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered before running, as `import` does, so the module can refer to itself (dataclasses do).
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise


def import_env_modules(names: Sequence[str]) -> None:
    """Import each module of `names` (a dotted name, or a path to a `.py` file), in order.

    Args:
        names: e.g. `["my_package.envs", "examples/my_envs.py"]`.

    Raises:
        ValueError: naming the module that failed and its error's first line.
    """
    if isinstance(names, str):
        names = [names]
    for name in names:
        is_path = name.endswith(".py") or "/" in name or "\\" in name
        try:
            if is_path:
                path = Path(name).expanduser()
                if not path.is_file():
                    raise FileNotFoundError(f"no such file: {path}")
                _import_path(path.resolve())
            else:
                importlib.import_module(name)
        except Exception as error:
            kind = "file" if is_path else "module"
            raise ValueError(f"could not import env {kind} {name!r}: {_one_line(error)}") from error


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Load every installed entry point of `group`, which imports its module (registering its envs).

    Returns:
        The names of the entry points loaded.

    Raises:
        ValueError: naming the entry point (and its module) that failed and its error's first line.
    """
    loaded = []
    for entry_point in importlib.metadata.entry_points(group=group):
        try:
            entry_point.load()
        except Exception as error:
            raise ValueError(
                f"could not load {group} entry point {entry_point.name!r} ({entry_point.value}): "
                f"{_one_line(error)}"
            ) from error
        loaded.append(entry_point.name)
    return loaded
