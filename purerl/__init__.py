"""purerl: pure-function JAX reinforcement learning.

Environments and agents are pure functions, so a whole training run (rollouts and updates) is one
`jax.jit`-compiled program that `jax.vmap` runs across thousands of seeds and hyperparameter settings::

    import jax, purerl
    from purerl.agents.ppo import PPOConfig, PPOHParams, make_train

    train = make_train(PPOConfig(env_name="CartPole-v1"))
    keys = jax.random.split(jax.random.key(0), 64)
    out = jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, PPOHParams())
    out.metrics["eval_return"]  # [64, num_blocks]
"""

from purerl import agents, envs, returns, rollout, stats
from purerl.agents import algorithms, get_algorithm
from purerl.envs import Env, EnvSpec, make, register, registered
from purerl.loop import Agent, TrainOutput, make_train_fn
from purerl.types import TimeStep, Transition

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "Env",
    "EnvSpec",
    "TimeStep",
    "TrainOutput",
    "Transition",
    "agents",
    "algorithms",
    "envs",
    "get_algorithm",
    "make",
    "make_train_fn",
    "register",
    "registered",
    "returns",
    "rollout",
    "stats",
]
