"""Algorithms. Importing this package registers every agent module listed here."""

from purerl.agents import dqn, ppo, pqn
from purerl.agents.registry import AlgoSpec, algorithms, get_algorithm, register_algorithm

__all__ = ["AlgoSpec", "algorithms", "dqn", "get_algorithm", "ppo", "pqn", "register_algorithm"]
