"""`register`: re-registering the same factory is allowed, a different one is not; `check=True`."""

from __future__ import annotations

import functools

import pytest

from purerl.envs import make, registry
from purerl.envs.probes import make_constant_reward, make_two_step


@pytest.fixture
def scratch_name():
    """A registry name removed again after the test."""
    name = "Test-Scratch-v0"
    yield name
    registry._REGISTRY.pop(name, None)
    registry._SAMPLERS.pop(name, None)


def _factory_from_cell():
    """Defines a factory the way a re-run notebook cell does: a new function object each run, with the
    same module and qualified name."""

    def make_scratch():
        return make_constant_reward()

    return make_scratch


def test_same_function_again_is_allowed(scratch_name):
    registry.register(scratch_name, make_two_step)
    registry.register(scratch_name, make_two_step)
    assert make(scratch_name)[0].spec.name == "Probe-TwoStep-v0"


def test_redefined_function_with_same_qualname_replaces_silently(scratch_name):
    first, second = _factory_from_cell(), _factory_from_cell()
    assert first is not second and first.__qualname__ == second.__qualname__
    registry.register(scratch_name, first)
    registry.register(scratch_name, second)
    assert registry._REGISTRY[scratch_name] is second


def test_equal_partials_are_the_same_factory(scratch_name):
    registry.register(scratch_name, functools.partial(make, "CartPole-v1"))
    registry.register(scratch_name, functools.partial(make, "CartPole-v1"))
    with pytest.raises(ValueError, match=scratch_name):
        registry.register(scratch_name, functools.partial(make, "Acrobot-v1"))


def test_different_factory_is_an_error_naming_the_env(scratch_name):
    registry.register(scratch_name, make_two_step)
    with pytest.raises(ValueError, match=f"'{scratch_name}' is already registered with a different factory"):
        registry.register(scratch_name, make_constant_reward)
    assert registry._REGISTRY[scratch_name] is make_two_step


def test_builtin_names_stay_protected():
    with pytest.raises(ValueError, match="CartPole-v1"):
        registry.register("CartPole-v1", make_two_step)


def _broken_factory():
    env, params = make_two_step()
    return env._replace(
        spec=env.spec.__class__(env.spec.name, env.spec.observation_space, env.spec.action_space, 0)
    ), params


def test_check_on_registration(scratch_name):
    with pytest.raises(ValueError, match="max_episode_steps must be positive"):
        registry.register(scratch_name, _broken_factory, check=True)
    assert scratch_name not in registry.registered()
    registry.register(scratch_name, make_two_step, check=True)
    assert scratch_name in registry.registered()


def test_check_from_environment_variable(scratch_name, monkeypatch):
    monkeypatch.setenv("PURERL_CHECK_ENVS", "1")
    with pytest.raises(ValueError, match="breaks the Env contract"):
        registry.register(scratch_name, _broken_factory)
    monkeypatch.setenv("PURERL_CHECK_ENVS", "0")
    registry.register(scratch_name, _broken_factory)
