"""PPO, the direct-RL baseline: one PPO for categorical and Gaussian policies, as an :class:`Agent`.

Huang et al.'s "37 details" PPO. The paper turns off value-loss clipping and learning-rate annealing;
here annealing is off by default (``anneal_lr``) but value clipping is on (``clip_value_loss``), because
without it our PPO learns CartPole-v1 less stably than a PureJaxRL-style reference
(``benchmarks/ppo_reference.py``); ``clip_value_loss=False`` is the paper's setting. Actor (the
learner architecture, Λ by default) and critic are separate networks. A Gaussian actor has a
state-independent log standard deviation learned with the actor (``policy_extra``). Observation and
reward normalisation (:mod:`jaxdistill.rl.normalize`, off by default) are CleanRL's continuous-control
settings.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import jax
import optax
from flax import struct

from jaxdistill.envs.spec import EnvSpec
from jaxdistill.nets.networks import CRITIC_SPEC, ConvSpec, LearnerSpec
from jaxdistill.policy.distributions import for_spec
from jaxdistill.rl import normalize
from jaxdistill.rl.agent import Agent
from jaxdistill.rl.losses import ppo_policy_loss, value_loss
from jaxdistill.rl.rollout import advantages_and_targets, episode_stats, minibatch_epochs


@dataclasses.dataclass(frozen=True)
class PPOConfig:
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
    """Adam learning rate for actor and critic."""
    anneal_lr: bool = False
    """Anneal the learning rate linearly to 0 over the run (CleanRL/PureJaxRL); the paper turns it off."""
    clip_value_loss: bool = True
    """Clip the value loss around the rollout-time values with clip_eps (CleanRL/PureJaxRL). The paper
    turns it off (``False``); on CartPole-v1 that PPO keeps failing episodes late in training on 3 of 8
    seeds, with it all 8 hold 500 (``python -m benchmarks.ppo_reference``)."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE's lambda."""
    clip_eps: float = 0.2
    """Clip range of the probability ratio (and of the value, with clip_value_loss)."""
    ent_coef: float = 0.01
    """Entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Global-norm clip of the actor's and critic's gradients (one optimiser for both)."""
    reward_scale: float = 1.0
    """Rewards are multiplied by this for the value targets and advantages (episode returns are reported
    unscaled); Pendulum's -16..0 rewards train better at 0.1."""
    init_log_std: float = 0.0
    """Initial log standard deviation of a Gaussian actor (ignored for discrete actions)."""
    normalize_obs: bool = False
    """Normalise observations by running statistics (CleanRL's MuJoCo setting)."""
    normalize_reward: bool = False
    """Scale rewards by the running std of a discounted return (CleanRL's MuJoCo setting)."""
    actor: LearnerSpec | ConvSpec = LearnerSpec()
    """Actor architecture and initialisation (the paper's Λ by default)."""
    critic: LearnerSpec | ConvSpec = CRITIC_SPEC
    """Critic architecture (a separate network; output gain 1)."""

    @property
    def norm(self) -> normalize.NormConfig:
        return normalize.NormConfig(obs=self.normalize_obs, reward=self.normalize_reward)

    @property
    def num_updates(self) -> int:
        return max(1, self.total_timesteps // (self.num_envs * self.num_steps))


@struct.dataclass
class PPOState:
    actor_params: Any
    critic_params: Any
    policy_extra: Any  # a Gaussian actor's log std; () for a categorical one
    opt_state: Any
    norm: normalize.Normalizer  # running observation / reward statistics (empty when off)


def critic_value(critic_params, obs: jax.Array, spec: LearnerSpec | ConvSpec = CRITIC_SPEC) -> jax.Array:
    return spec.apply(critic_params, obs)[..., 0]


def make_ppo(config: PPOConfig, spec: EnvSpec) -> Agent:
    """PPO's pure functions for ``config`` on environments described by ``spec``."""
    dist = for_spec(spec, config.init_log_std)
    norm_config = config.norm
    actor_apply = config.actor.apply
    steps_per_update = config.num_minibatches * config.update_epochs
    lr = (optax.linear_schedule(config.lr, 0.0, config.num_updates * steps_per_update)
          if config.anneal_lr else config.lr)
    optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5))

    def init(key: jax.Array, critic_key: jax.Array) -> PPOState:
        params = (config.actor.init_params(key, spec.obs_shape, dist.num_outputs),
                  config.critic.init_params(critic_key, spec.obs_shape, 1), dist.init_extra())
        return PPOState(actor_params=params[0], critic_params=params[1], policy_extra=params[2],
                        opt_state=optimizer.init(params), norm=normalize.init(norm_config, spec.obs_shape, 1,
                                                                                config.num_envs))

    def actors(key, state: PPOState):
        """The one actor: ``(params, log std or (), frozen observation statistics or ())``."""
        actor = (state.actor_params, state.policy_extra, normalize.frozen_obs(norm_config, state.norm))
        return jax.tree_util.tree_map(lambda x: x[None], actor)

    def policy(state: PPOState, actor, obs):
        params, extra, obs_norm = actor
        return dist.params(actor_apply(params, normalize.apply(obs_norm, obs)), extra)

    def learn(state: PPOState, key: jax.Array, actors, traj, last_obs: jax.Array):
        """The policy epochs on the one group's rollout ``traj`` (1, T, E, ...)."""
        raw = traj
        traj, last_obs = normalize.normalized(norm_config, state.norm, *jax.tree_util.tree_map(lambda x: x[0],
                                                                                               (traj, last_obs)))
        scaled = traj.replace(reward=traj.reward * config.reward_scale)
        adv, targets = advantages_and_targets(
            partial(critic_value, state.critic_params, spec=config.critic), scaled, last_obs, config.gamma,
            config.gae_lambda,
        )
        batch = (traj.obs, traj.action, traj.log_prob, adv, targets, targets - adv)  # the last: rollout-time values

        def update_minibatch(carry, mb):
            params, opt_state = carry
            obs, action, old_log_prob, mb_adv, mb_targets, old_values = mb

            def loss_fn(params):
                actor, critic, extra = params
                pl, info = ppo_policy_loss(dist, dist.params(actor_apply(actor, obs), extra), action, old_log_prob,
                                           mb_adv, config.clip_eps, config.ent_coef)
                vl = value_loss(critic_value(critic, obs, config.critic), mb_targets,
                                old_values if config.clip_value_loss else None, config.clip_eps)
                return pl + config.vf_coef * vl, {"policy_loss": pl, "value_loss": vl, **info}

            grads, info = jax.grad(loss_fn, has_aux=True)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), info

        (params, opt_state), info = minibatch_epochs(
            key, ((state.actor_params, state.critic_params, state.policy_extra), state.opt_state), batch,
            update_minibatch, config.update_epochs, config.num_minibatches,
        )
        new_state = state.replace(actor_params=params[0], critic_params=params[1], policy_extra=params[2],
                                  opt_state=opt_state, norm=normalize.update(norm_config, state.norm, raw, config.gamma))
        return new_state, {**info, **episode_stats(traj)}

    return Agent(dist=dist, num_groups=1, num_envs=config.num_envs, num_steps=config.num_steps, init=init,
                 actors=actors, policy=policy, learn=learn)

