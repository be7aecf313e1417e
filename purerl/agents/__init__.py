"""Algorithms. Importing this package registers every agent module listed here."""

from purerl.agents import ppo
from purerl.agents.registry import AlgoSpec, algorithms, get_algorithm, register_algorithm

__all__ = ["AlgoSpec", "algorithms", "get_algorithm", "ppo", "register_algorithm"]
