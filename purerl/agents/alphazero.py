"""AlphaZero with Gumbel search (Silver et al., 2018; Danihelka et al., 2022): self-play where every move
is chosen by `mctx.gumbel_muzero_policy` with the game itself as the model and a policy/value network
as prior and leaf evaluator, then regression of the network onto the search's improved policy and the
games' final outcomes.

One update: `num_games` fresh games of `num_steps` moves each (finished games restart at once), stored
in a replay of (observation, legal moves, search policy, outcome); then `gradient_steps` minibatches
from the replay on

    loss = CE(search policy, masked network policy) + vf_coef * (v - z)^2 [outcome known] + l2_coef * |θ|²

The value term skips moves whose game was cut at `max_length` or was still running when the update's
record ended (no result); their policy targets still count. Evaluation (`act`) is the same search
without Gumbel noise, or the raw network when `eval_search` is off.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from purerl import learn
from purerl.agents.registry import AlgoSpec, Preset, register_algorithm
from purerl.config import Flag, NonNegative, Positive, PositiveInt, Sizes, one_of
from purerl.games import arena
from purerl.games.core import Game
from purerl.games.search import mask_illegal, network_evaluator
from purerl.games.training import GameConfig, make_agent, outcome_targets, self_play
from purerl.loop import Algorithm
from purerl.networks import MLP, ResidualCNN
from purerl.replay import ReplayBuffer, replay_add_batch, replay_init, replay_sample
from purerl.types import Params, PRNGKey

SUMMARY = "AlphaZero: self-play with Gumbel MCTS (mctx) on two-player games (pgx)"


@dataclasses.dataclass(frozen=True)
class AlphaZeroConfig(GameConfig):
    """Static AlphaZero options (see `GameConfig` for the game, run length and evaluation).

    Attributes:
        num_simulations: search simulations per move, in self-play and in evaluation.
        max_considered_actions: root moves Sequential Halving starts from.
        buffer_size: replay capacity in moves.
        batch_size: moves per gradient step.
        gradient_steps: gradient steps per update.
        network: "mlp" (flattened board; tic-tac-toe) or "resnet" (`networks.ResidualCNN`).
        hidden_sizes: MLP widths; the last is also the residual tower's dense width.
        res_channels, res_blocks: the residual tower's width and depth.
        eval_search: evaluate with search (True) or with the raw network's policy (False; greedy unless
            `eval_greedy` is off).
    """

    num_simulations: PositiveInt = 32
    max_considered_actions: PositiveInt = 16
    buffer_size: PositiveInt = 20_000
    batch_size: PositiveInt = 256
    gradient_steps: PositiveInt = 8
    network: one_of("mlp", "resnet") = "mlp"
    hidden_sizes: Sizes = (128, 128)
    res_channels: PositiveInt = 32
    res_blocks: PositiveInt = 2
    eval_search: Flag = True


class AlphaZeroHParams(NamedTuple):
    """Traced AlphaZero hyperparameters: any field can be swept by stacking values and vmapping.

    Attributes:
        learning_rate: Adam step size.
        max_grad_norm: global-norm gradient clipping.
        vf_coef: weight of the value loss.
        l2_coef: weight of the L2 penalty on all parameters.
        gumbel_scale: scale of the Gumbel noise on self-play's root choices (1 = the paper's sampling;
            larger explores more; the policy target is the search's policy whatever move is played).
    """

    learning_rate: Positive = 1e-3
    max_grad_norm: Positive = 1.0
    vf_coef: NonNegative = 1.0
    l2_coef: NonNegative = 1e-4
    gumbel_scale: NonNegative = 1.0


PRESETS = {
    # Tuned here on 4 seeds against the exact solver (gumbel_scale 0.25 / 0.5 / 1 / 2 / 4 at 16
    # simulations): exploration was the bottleneck; 1 left 11-17% of games lost after 170k moves, 4 none.
    "TicTacToe": Preset(config={"gradient_steps": 16}, hparams={"gumbel_scale": 4.0}),
    "ConnectFour": Preset(config={"network": "resnet", "num_simulations": 16, "total_timesteps": 400_000}),
    "Othello": Preset(config={"network": "resnet", "num_simulations": 16}),
    "Go-9x9": Preset(config={"network": "resnet", "num_simulations": 16}),
}


class PolicyValueNet(nn.Module):
    """`obs [B, *board] -> (logits [B, A], value [B])`, value in `[-1, 1]` for the player to move."""

    num_actions: int
    network: str
    hidden_sizes: tuple[int, ...]
    res_channels: int
    res_blocks: int

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = obs.astype(jnp.float32)
        if self.network == "mlp":
            x = MLP(self.hidden_sizes, "relu")(x.reshape((x.shape[0], -1)))
        else:
            x = ResidualCNN(self.res_channels, self.res_blocks, self.hidden_sizes[-1])(x)
        logits = nn.Dense(self.num_actions, kernel_init=nn.initializers.zeros)(x)
        value = jnp.tanh(nn.Dense(1, kernel_init=nn.initializers.zeros)(x)[:, 0])
        return logits, value


class Sample(NamedTuple):
    """One stored move: board, legal moves `[A]`, search policy `[A]`, outcome `z` and whether known."""

    obs: jax.Array
    legal: jax.Array
    policy: jax.Array
    outcome: jax.Array
    known: jax.Array


class AlphaZeroState(NamedTuple):
    params: Params
    opt_state: Any
    buffer: ReplayBuffer


def alphazero_loss(
    logits: jax.Array, value: jax.Array, batch: Sample, vf_coef: Any
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Policy cross-entropy to the search policy plus the value regression on known outcomes.

    Args:
        logits: `[N, A]` network logits (illegal moves are masked here).
        value: `[N]` network values.
        batch: `Sample` with leaves `[N, ...]`.
        vf_coef: value-loss weight.

    Returns:
        `(loss, metrics)`; the value loss is the mean over moves with a known outcome (0 if none).
    """
    logp = jax.nn.log_softmax(mask_illegal(logits, batch.legal), axis=-1)
    policy_loss = -(batch.policy * jnp.where(batch.legal, logp, 0.0)).sum(-1).mean()
    known = batch.known.astype(jnp.float32)
    value_loss = ((value - batch.outcome) ** 2 * known).sum() / jnp.maximum(known.sum(), 1.0)
    return policy_loss + vf_coef * value_loss, {"policy_loss": policy_loss, "value_loss": value_loss}


def make_network(config: AlphaZeroConfig, game: Game) -> PolicyValueNet:
    """The policy/value network `config` describes, for `game`'s board and moves."""
    return PolicyValueNet(
        game.num_actions, config.network, tuple(config.hidden_sizes), config.res_channels, config.res_blocks
    )


def build(config: AlphaZeroConfig, game: Game, env_params: Any = None) -> Algorithm:
    """AlphaZero's `loop.Algorithm` on `game` (`env_params` is unused: games have none)."""
    del env_params
    net = make_network(config, game)
    num_steps = config.moves_per_update

    def evaluator(params: Params):
        return network_evaluator(lambda obs: net.apply(params, obs))

    def optimizer(hparams: AlphaZeroHParams):
        return learn.make_optimizer(hparams.learning_rate, hparams.max_grad_norm)

    def init(key: PRNGKey, hparams: AlphaZeroHParams) -> AlphaZeroState:
        params = net.init(key, jnp.zeros((1, *game.obs_shape), jnp.float32))
        obs = jax.eval_shape(game.init, key).observation  # stored in the game's own dtype (pgx: bool)
        example = Sample(
            obs=jnp.zeros(obs.shape, obs.dtype),
            legal=jnp.zeros(game.num_actions, bool),
            policy=jnp.zeros(game.num_actions, jnp.float32),
            outcome=jnp.zeros((), jnp.float32),
            known=jnp.zeros((), bool),
        )
        buffer = replay_init(example, config.buffer_size)
        return AlphaZeroState(params, optimizer(hparams).init(params), buffer)

    def loss_fn(params: Params, batch: Sample, hparams: AlphaZeroHParams):
        logits, value = net.apply(params, batch.obs)
        loss, metrics = alphazero_loss(logits, value, batch, hparams.vf_coef)
        l2 = sum(jnp.sum(p**2) for p in jax.tree.leaves(params))
        return loss + hparams.l2_coef * l2, metrics

    def update(key: PRNGKey, state: AlphaZeroState, hparams: AlphaZeroHParams):
        play_key, learn_key = jax.random.split(key)
        records = self_play(
            play_key,
            game,
            evaluator(state.params),
            config.num_games,
            num_steps,
            config.num_simulations,
            gumbel_scale=hparams.gumbel_scale,
            max_considered_actions=config.max_considered_actions,
        )
        outcome, known = outcome_targets(records)
        new = Sample(records.obs, records.legal, records.policy, outcome, known)
        buffer = replay_add_batch(state.buffer, jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), new))
        tx = optimizer(hparams)

        def step(carry, key):
            params, opt_state = carry
            batch = replay_sample(key, buffer, config.batch_size)
            loss = lambda p, b: loss_fn(p, b, hparams)
            params, opt_state, metrics, _ = learn.gradient_step(tx, loss, params, opt_state, batch)
            return (params, opt_state), metrics

        keys = jax.random.split(learn_key, config.gradient_steps)
        (params, opt_state), metrics = jax.lax.scan(step, (state.params, state.opt_state), keys)
        policy = records.policy
        entropy = -(policy * jnp.log(jnp.where(policy > 0, policy, 1.0))).sum(-1).mean()
        metrics = {
            **{name: value.mean() for name, value in metrics.items()},
            "search_entropy": entropy,
            "games_finished": records.terminated.sum() / config.num_games,
            "outcome_known": known.mean(),
        }
        return AlphaZeroState(params, opt_state, buffer), metrics

    def act(key: PRNGKey, state: AlphaZeroState, states: Any) -> jax.Array:
        if config.eval_search:
            policy = arena.search_policy(
                game, evaluator(state.params), config.num_simulations, config.max_considered_actions
            )
        else:
            policy = arena.prior_policy(evaluator(state.params), greedy=config.eval_greedy)
        return policy(key, states)

    return Algorithm(init, update, act, config.steps_per_update)


SPEC = register_algorithm(
    AlgoSpec(
        "alphazero",
        SUMMARY,
        AlphaZeroConfig,
        AlphaZeroHParams,
        build,
        ("discrete",),
        PRESETS,
        probe="TicTacToe",
        agent_builder=make_agent,
    )
)
