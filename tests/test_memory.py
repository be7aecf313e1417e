"""The memory checks: the abstract estimate before compiling, XLA's own figure after it."""

from __future__ import annotations

import dataclasses
import functools
import time
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import pytest

from purerl import memory, runner
from purerl.agents.ppo import PPOHParams
from purerl.loop import run_block
from tests._tiny_ppo import TINY_CONFIG

MIB = 2**20


def _accelerator(free: int) -> SimpleNamespace:
    """A stand-in accelerator device with `free` bytes."""
    stats = {"bytes_limit": free, "bytes_in_use": 0}
    return SimpleNamespace(platform="gpu", device_kind="test GPU", memory_stats=lambda: stats)


def test_run_bytes_counts_the_state_and_the_largest_stacked_buffer_of_nested_scans():
    def init(key, hparams):
        return {"w": jnp.zeros(10), "step": jnp.zeros((), jnp.int32)}  # 44 bytes

    def block(key, state, hparams):
        def outer(carry, _):
            inner_carry, _ = jax.lax.scan(lambda c, _: (c, jnp.zeros(100) + c), carry, None, length=3)
            return inner_carry, jnp.zeros(5)  # stacked: 7 x 5 float32 = 140 bytes

        # The inner scan's stacked [3, 100] float32 = 1,200 bytes is the largest; the carry is not counted.
        carry, ys = jax.lax.scan(outer, state["w"].sum() * hparams.learning_rate, None, length=7)
        return state, {"loss": ys.mean() + carry}

    assert memory.run_bytes(init, block, PPOHParams(), ()) == (44, 1200)


def test_a_ppo_rollout_buffer_holds_at_least_its_observations():
    config = dataclasses.replace(TINY_CONFIG, num_envs=16, num_steps=32, total_timesteps=512)
    agent = runner.algorithm_for_config(config).make_agent(config)
    state, buffers = memory.run_bytes(agent.init, functools.partial(run_block, agent), PPOHParams(), ())
    assert buffers >= 32 * 16 * 4 * 4  # [T, B] CartPole observations of 4 float32
    assert 0 < state < MIB


def test_check_fits_counts_the_buffers_of_every_run_on_a_device():
    memory.check_fits(MIB, 0, 20, [_accelerator(2**30)])  # 20 MiB of state fits in 1 GiB
    with pytest.raises(
        ValueError, match=r"rollout and evaluation buffers.*more than the 1.0 GiB of test GPU"
    ):
        memory.check_fits(MIB, 100 * MIB, 20, [_accelerator(2**30)])
    memory.check_fits(MIB, 100 * MIB, 20, [_accelerator(2**30)] * 2)  # 10 runs per device fit


def test_check_compiled_refuses_a_program_whose_temporaries_do_not_fit():
    def compiled(temp: int) -> SimpleNamespace:
        stats = SimpleNamespace(
            argument_size_in_bytes=MIB,
            output_size_in_bytes=MIB,
            alias_size_in_bytes=MIB,
            temp_size_in_bytes=temp,
        )
        return SimpleNamespace(memory_analysis=lambda: stats)

    memory.check_compiled(compiled(100 * MIB), [_accelerator(2**30)])
    with pytest.raises(ValueError, match=r"2.0 GiB of temporaries, XLA's figure\), more than the 1.0 GiB"):
        memory.check_compiled(compiled(2 * 2**30), [_accelerator(2**30)])
    memory.check_compiled(SimpleNamespace(memory_analysis=lambda: None), [_accelerator(1)])


def test_check_compiled_reads_a_real_cpu_program():
    compiled = jax.jit(lambda x: jnp.sort(x @ x.T, axis=0)).lower(jax.ShapeDtypeStruct((64, 8), jnp.float32))
    memory.check_compiled(compiled.compile(), jax.devices("cpu"))  # 16 KiB fits any host


def test_a_run_whose_rollout_buffers_cannot_fit_is_refused_before_compiling():
    """The state of every run fits; their rollout buffers together do not (the bug this check fixes)."""
    config = dataclasses.replace(TINY_CONFIG, num_envs=1024, num_steps=128, total_timesteps=1024 * 128)
    agent = runner.algorithm_for_config(config).make_agent(config)
    state, buffers = memory.run_bytes(agent.init, functools.partial(run_block, agent), PPOHParams(), ())
    have, _ = memory.free_bytes(jax.devices()[0])
    num_seeds = have // (state + buffers) + 1
    assert num_seeds * state < have  # the state alone would have passed the old check
    start = time.perf_counter()
    with pytest.raises(ValueError, match="rollout and evaluation buffers"):
        runner.run(config, PPOHParams(), int(num_seeds), progress=False)
    assert time.perf_counter() - start < 30
