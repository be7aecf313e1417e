"""Algorithms. Importing this package imports every module in it, and each algorithm module registers
itself, so adding an algorithm is adding a file."""

import importlib
import pkgutil

from purerl.agents.registry import (
    AlgoSpec,
    Preset,
    algorithm_for_config,
    algorithms,
    get_algorithm,
    register_algorithm,
)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "AlgoSpec",
    "Preset",
    "algorithm_for_config",
    "algorithms",
    "get_algorithm",
    "register_algorithm",
]
