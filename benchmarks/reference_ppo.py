"""A minimal single-file PPO in the classic JAX style, used as the throughput reference.

This is the design of the fastest single-file JAX PPO implementations (the "PureJaxRL" style of Lu et
al., 2022, "Discovered Policy Optimisation"): gymnax's own auto-resetting `step`, a running episode-return
tracker, separate 64-64 tanh actor and critic MLPs, GAE by a reverse scan, shuffled minibatches, Adam with
global-norm clipping and a linearly annealed learning rate, everything in one `jax.jit`. It was written
here for the comparison: `benchmarks/ppo_throughput.py` runs it in the same process family and on the same
machine as purerl's PPO, so the reported ratio does not depend on the hardware.

It is deliberately not part of the library: no truncation handling (a time-limit end is treated as a
termination), no evaluation episodes, no observation normalisation, no divergence checks.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from purerl.networks import orthogonal

NUM_ENVS, NUM_STEPS, NUM_EPOCHS, NUM_MINIBATCHES = 4, 128, 4, 4
LR, GAMMA, LAMBDA, CLIP, ENT, VF, MAX_GRAD_NORM = 2.5e-4, 0.99, 0.95, 0.2, 0.01, 0.5, 0.5


class ActorCritic(nn.Module):
    num_actions: int

    @nn.compact
    def __call__(self, x):
        def dense(n, gain):
            return nn.Dense(n, kernel_init=orthogonal(gain), bias_init=nn.initializers.zeros)

        a = nn.tanh(dense(64, np.sqrt(2))(x))
        a = nn.tanh(dense(64, np.sqrt(2))(a))
        logits = dense(self.num_actions, 0.01)(a)
        c = nn.tanh(dense(64, np.sqrt(2))(x))
        c = nn.tanh(dense(64, np.sqrt(2))(c))
        return logits, dense(1, 1.0)(c)[..., 0]


class Tracker(NamedTuple):
    env_state: object
    episode_return: jax.Array
    last_return: jax.Array


def make_train(total_timesteps: int, env_name: str = "CartPole-v1"):
    """`train(key) -> (params, mean final-episode return)` for one seed; vmap it over keys."""
    env, env_params = gymnax.make(env_name)
    num_actions = env.action_space(env_params).n
    num_updates = total_timesteps // (NUM_ENVS * NUM_STEPS)
    batch_size = NUM_ENVS * NUM_STEPS
    minibatch_size = batch_size // NUM_MINIBATCHES
    network = ActorCritic(num_actions)
    schedule = lambda count: LR * (1.0 - (count // (NUM_MINIBATCHES * NUM_EPOCHS)) / num_updates)
    tx = optax.chain(optax.clip_by_global_norm(MAX_GRAD_NORM), optax.adam(schedule, eps=1e-5))

    def train(key):
        key, key_net, key_reset = jax.random.split(key, 3)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(key_reset, NUM_ENVS), env_params
        )
        params = network.init(key_net, obs)
        opt_state = tx.init(params)
        zeros = jnp.zeros((NUM_ENVS,))
        tracker = Tracker(env_state, zeros, zeros)

        def update(carry, _):
            params, opt_state, tracker, obs, key = carry

            def env_step(carry, _):
                tracker, obs, key = carry
                key, key_act, key_step = jax.random.split(key, 3)
                logits, value = network.apply(params, obs)
                action = jax.random.categorical(key_act, logits)
                log_prob = jax.nn.log_softmax(logits)[jnp.arange(NUM_ENVS), action]
                next_obs, env_state, reward, terminated, truncated, _ = jax.vmap(
                    env.step, in_axes=(0, 0, 0, None)
                )(jax.random.split(key_step, NUM_ENVS), tracker.env_state, action, env_params)
                done = (terminated | truncated).astype(jnp.float32)
                episode_return = tracker.episode_return + reward
                tracker = Tracker(
                    env_state,
                    episode_return * (1 - done),
                    jnp.where(done, episode_return, tracker.last_return),
                )
                return (tracker, next_obs, key), (obs, action, reward, done, log_prob, value)

            (tracker, obs, key), traj = jax.lax.scan(env_step, (tracker, obs, key), None, NUM_STEPS)
            traj_obs, actions, rewards, dones, log_probs, values = traj
            _, last_value = network.apply(params, obs)

            def gae_step(carry, step):
                advantage, next_value = carry
                reward, done, value = step
                delta = reward + GAMMA * next_value * (1 - done) - value
                advantage = delta + GAMMA * LAMBDA * (1 - done) * advantage
                return (advantage, value), advantage

            _, advantages = jax.lax.scan(
                gae_step, (jnp.zeros_like(last_value), last_value), (rewards, dones, values), reverse=True
            )
            targets = advantages + values

            def loss_fn(params, batch):
                obs, action, old_log_prob, old_value, advantage, target = batch
                logits, value = network.apply(params, obs)
                log_softmax = jax.nn.log_softmax(logits)
                log_prob = jnp.take_along_axis(log_softmax, action[:, None], axis=-1)[:, 0]
                value_clipped = old_value + jnp.clip(value - old_value, -CLIP, CLIP)
                value_loss = 0.5 * jnp.maximum((value - target) ** 2, (value_clipped - target) ** 2).mean()
                ratio = jnp.exp(log_prob - old_log_prob)
                advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
                policy_loss = -jnp.minimum(
                    ratio * advantage, jnp.clip(ratio, 1 - CLIP, 1 + CLIP) * advantage
                ).mean()
                entropy = -(jnp.exp(log_softmax) * log_softmax).sum(-1).mean()
                return policy_loss + VF * value_loss - ENT * entropy

            def epoch(carry, _):
                params, opt_state, key = carry
                key, key_perm = jax.random.split(key)
                batch = (traj_obs, actions, log_probs, values, advantages, targets)
                batch = jax.tree.map(lambda x: x.reshape((batch_size, *x.shape[2:])), batch)
                order = jax.random.permutation(key_perm, batch_size)
                batch = jax.tree.map(
                    lambda x: x[order].reshape((NUM_MINIBATCHES, minibatch_size, *x.shape[1:])), batch
                )

                def minibatch(carry, mb):
                    params, opt_state = carry
                    grads = jax.grad(loss_fn)(params, mb)
                    updates, opt_state = tx.update(grads, opt_state, params)
                    return (optax.apply_updates(params, updates), opt_state), None

                (params, opt_state), _ = jax.lax.scan(minibatch, (params, opt_state), batch)
                return (params, opt_state, key), None

            (params, opt_state, key), _ = jax.lax.scan(epoch, (params, opt_state, key), None, NUM_EPOCHS)
            return (params, opt_state, tracker, obs, key), tracker.last_return.mean()

        carry = (params, opt_state, tracker, obs, key)
        (params, *_), episode_returns = jax.lax.scan(update, carry, None, num_updates)
        return params, episode_returns[-1]

    return train
