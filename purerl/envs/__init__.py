"""Pure environments: the `Env` contract, wrappers, the gymnax adapter, native envs and the registry."""

from functools import partial

from purerl.envs import bandits, chain, deep_sea, wrappers
from purerl.envs.bandits import make_bernoulli_bandit, make_gaussian_bandit
from purerl.envs.chain import make_combination_lock
from purerl.envs.core import Env, EnvSpec
from purerl.envs.gymnax import GYMNAX_NAMES, make_gymnax
from purerl.envs.probes import PROBES
from purerl.envs.registry import make, register, registered

for _name in GYMNAX_NAMES:
    register(_name, partial(make_gymnax, _name))
for _name, _factory in PROBES.items():
    register(_name, _factory)
# Samplers draw a problem per seed (`env_params="sampled"`); `problem="random"` draws one per episode.
register("Bandit-Bernoulli-v0", make_bernoulli_bandit, bandits.sample_params)
register("Bandit-Gaussian-v0", make_gaussian_bandit, bandits.sample_gaussian_params)
register("CombinationLock-v0", make_combination_lock, chain.sample_params)
register("DeepSea-v0", deep_sea.make_deep_sea, deep_sea.sample_params)

__all__ = ["Env", "EnvSpec", "make", "register", "registered", "wrappers"]
