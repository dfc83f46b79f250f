"""PPO, the direct-RL baseline, PureJaxRL style: ``make_train(config)(key)`` is one pure function.

Huang et al.'s "37 details" PPO with the paper's two changes: no learning-rate annealing and no
value-loss clipping. Actor (the learner architecture, Λ by default) and critic are separate MLPs.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxdistill.envs import make_env
from jaxdistill.losses import ppo_policy_loss, value_loss
from jaxdistill.networks import CRITIC_SPEC, ConvSpec, LearnerSpec
from jaxdistill.rollout import (
    RunnerState,
    advantages_and_targets,
    collect_rollout,
    episode_stats,
    minibatch_epochs,
    reset_runner,
)


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    env_id: str = "CartPole1D-v1"
    """Environment id (``CartPole<N>D-v1``)."""
    total_timesteps: int = 500_000
    """Environment steps over the whole run."""
    num_envs: int = 4
    """Parallel environments (CleanRL's CartPole setting)."""
    num_steps: int = 128
    """Rollout length per environment and update."""
    num_minibatches: int = 4
    """Minibatches per epoch."""
    update_epochs: int = 4
    """Passes over each rollout."""
    lr: float = 2.5e-4
    """Adam learning rate for actor and critic (no annealing)."""
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    actor: LearnerSpec | ConvSpec = LearnerSpec()
    """Actor architecture and initialisation (the paper's Λ by default)."""
    critic: LearnerSpec | ConvSpec = CRITIC_SPEC
    """Critic architecture (a separate network; output gain 1)."""

    @property
    def num_updates(self) -> int:
        return max(1, self.total_timesteps // (self.num_envs * self.num_steps))


@struct.dataclass
class PPOState:
    actor_params: Any
    critic_params: Any
    opt_state: Any
    runner: RunnerState
    key: jax.Array
    update_step: jax.Array


def critic_value(critic_params, obs: jax.Array, spec: LearnerSpec | ConvSpec = CRITIC_SPEC) -> jax.Array:
    return spec.apply(critic_params, obs)[..., 0]


class PPO(NamedTuple):
    init: Callable
    """``init(key) -> PPOState``."""
    update: Callable
    """``update(state) -> (state, metrics)``: an in-graph rollout and the policy epochs on it."""
    learn: Callable
    """``learn(state, key, traj, last_obs) -> (state, metrics)``: the policy epochs alone, for a loop
    that steps its environments on the host (EnvPool)."""


def make_ppo(config: PPOConfig) -> PPO:
    """PPO's pure functions for ``config``."""
    env, env_params = make_env(config.env_id)
    num_actions = env.num_actions
    actor_apply = config.actor.apply
    optimizer = optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.lr, eps=1e-5)
    )

    def init(key: jax.Array) -> PPOState:
        k_actor, k_critic, k_env, key = jax.random.split(key, 4)
        params = (
            config.actor.init_params(k_actor, env.obs_shape, num_actions),
            config.critic.init_params(k_critic, env.obs_shape, 1),
        )
        return PPOState(
            actor_params=params[0],
            critic_params=params[1],
            opt_state=optimizer.init(params),
            runner=None if getattr(env, "host_stepped", False) else reset_runner(k_env, env, env_params,
                                                                                 config.num_envs),
            key=key,
            update_step=jnp.zeros((), jnp.int32),
        )

    def learn(state: PPOState, key: jax.Array, traj, last_obs: jax.Array):
        """The policy epochs on a collected rollout ``traj`` (T, E, ...) whose next observations are ``last_obs``."""
        adv, targets = advantages_and_targets(
            partial(critic_value, state.critic_params, spec=config.critic), traj, last_obs, config.gamma,
            config.gae_lambda,
        )
        batch = (traj.obs, traj.action, traj.log_prob, adv, targets)

        def update_minibatch(carry, mb):
            params, opt_state = carry
            obs, action, old_log_prob, mb_adv, mb_targets = mb

            def loss_fn(params):
                actor, critic = params
                pl, info = ppo_policy_loss(
                    actor_apply(actor, obs), action, old_log_prob, mb_adv, config.clip_eps, config.ent_coef
                )
                vl = value_loss(critic_value(critic, obs, config.critic), mb_targets)
                return pl + config.vf_coef * vl, {"policy_loss": pl, "value_loss": vl, **info}

            grads, info = jax.grad(loss_fn, has_aux=True)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), info

        (params, opt_state), info = minibatch_epochs(
            key,
            ((state.actor_params, state.critic_params), state.opt_state),
            batch,
            update_minibatch,
            config.update_epochs,
            config.num_minibatches,
        )
        new_state = state.replace(actor_params=params[0], critic_params=params[1], opt_state=opt_state,
                                  update_step=state.update_step + 1)
        return new_state, {**info, **episode_stats(traj)}

    def update(state: PPOState):
        key, k_roll, k_epochs = jax.random.split(state.key, 3)
        runner, traj = collect_rollout(
            k_roll, env, env_params, partial(actor_apply, state.actor_params), state.runner, config.num_steps
        )
        return learn(state.replace(runner=runner, key=key), k_epochs, traj, runner.obs)

    return PPO(init=init, update=update, learn=learn)


def make_train(config: PPOConfig):
    """``train(key) -> (final PPOState, per-update metrics)``; jit it, vmap it over keys."""
    init, update = make_ppo(config)[:2]

    def train(key: jax.Array):
        state = init(key)
        return jax.lax.scan(lambda s, _: update(s), state, None, length=config.num_updates)

    return train
