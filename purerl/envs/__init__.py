"""Pure environments: the `Env` contract, wrappers, adapters (gymnax names and gymnax-API objects,
Craftax, XLand-MiniGrid), native envs, the registry and the contract checker `check_env`."""

import importlib.util
from functools import partial

from purerl.envs import bandits, chain, deep_sea, wrappers
from purerl.envs.bandits import make_bernoulli_bandit, make_gaussian_bandit
from purerl.envs.chain import make_combination_lock
from purerl.envs.check import assert_valid_env, check_env
from purerl.envs.core import Env, EnvSpec
from purerl.envs.gymnax import GYMNAX_NAMES, from_gymnax, make_gymnax
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

# Optional extras: registered by name when the package is installed; each factory imports it when an env
# is built, so `import purerl.envs` stays as fast without them (xminigrid alone takes ~1 s to import).
if importlib.util.find_spec("craftax") is not None:
    from purerl.envs.craftax import CRAFTAX_NAMES, make_craftax

    for _name in CRAFTAX_NAMES:
        register(_name, partial(make_craftax, _name))
if importlib.util.find_spec("xminigrid") is not None:
    from purerl.envs.xland import XLAND_NAMES, make_xminigrid

    for _name in XLAND_NAMES:
        register(_name, partial(make_xminigrid, _name))

__all__ = [
    "Env",
    "EnvSpec",
    "assert_valid_env",
    "check_env",
    "from_gymnax",
    "make",
    "register",
    "registered",
    "wrappers",
]
