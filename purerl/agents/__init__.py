"""Algorithms. Importing this package registers every agent module listed here."""

from purerl.agents import a2c, bc, dqn, ppo, pqn, reinforce, sac, td3
from purerl.agents.registry import (
    AlgoSpec,
    algorithm_for_config,
    algorithms,
    get_algorithm,
    register_algorithm,
)

__all__ = [
    "AlgoSpec",
    "a2c",
    "algorithm_for_config",
    "algorithms",
    "bc",
    "dqn",
    "get_algorithm",
    "ppo",
    "pqn",
    "register_algorithm",
    "reinforce",
    "sac",
    "td3",
]
