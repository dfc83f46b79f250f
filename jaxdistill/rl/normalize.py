"""Observation and reward normalisation as continuous-control PPO needs it (CleanRL's ``NormalizeObservation``
and ``NormalizeReward`` wrappers, Brax's ``running_statistics``), owned by the algorithm, not the environment.

The statistics live in the agent's state (:class:`Normalizer`), so they are checkpointed, vmapped and
sharded with it and work the same for in-graph and host environments. An iteration acts and learns
with the statistics it started with (the probability ratio of the PPO loss compares like with like)
and folds its rollout into them at the end of ``learn`` (:func:`update`).

* observations: ``clip((obs - mean) / sqrt(var + 1e-8), -obs_clip, obs_clip)`` with the running
  mean and variance of every observation seen;
* rewards: divided by the running standard deviation of a discounted return accumulated per
  environment (``acc = gamma * acc + r``, reset when an episode ends), then clipped to
  ``±reward_clip``; the reported episode returns stay unscaled.

A distilled dataset's learners see normalised observations: the statistics at the end of distillation
are frozen into the dataset file (:class:`ObsNorm`, ``obs_mean`` / ``obs_std``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

EPS = 1e-8


@dataclasses.dataclass(frozen=True)
class NormConfig:
    """Which normalisations an agent applies (both off: the agent sees raw observations and rewards)."""

    obs: bool = False
    """Normalise observations by running statistics (frozen into a PPMO dataset)."""
    reward: bool = False
    """Scale rewards by the running std of a discounted return."""
    obs_clip: float = 10.0
    """Normalised observations are clipped to +-this."""
    reward_clip: float = 10.0
    """Scaled rewards are clipped to +-this."""


@struct.dataclass
class RunningStats:
    """Mean and variance of everything seen so far (Chan et al.'s parallel merge)."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array  # float32, starts at a tiny count so the first merge is well defined


def init_stats(shape: tuple[int, ...]) -> RunningStats:
    return RunningStats(mean=jnp.zeros(shape, jnp.float32), var=jnp.ones(shape, jnp.float32),
                        count=jnp.asarray(1e-4, jnp.float32))


def merge(stats: RunningStats, batch: jax.Array) -> RunningStats:
    """``stats`` updated with ``batch``, whose trailing axes have the statistics' shape."""
    batch = batch.reshape((-1, *stats.mean.shape)).astype(jnp.float32)
    n = jnp.asarray(batch.shape[0], jnp.float32)
    b_mean, b_var = batch.mean(0), batch.var(0)
    total = stats.count + n
    delta = b_mean - stats.mean
    mean = stats.mean + delta * n / total
    m2 = stats.var * stats.count + b_var * n + jnp.square(delta) * stats.count * n / total
    return RunningStats(mean=mean, var=m2 / total, count=total)


@struct.dataclass
class ObsNorm:
    """Frozen observation statistics: what a dataset's learners apply before their first layer."""

    mean: jax.Array
    std: jax.Array
    clip: float = struct.field(pytree_node=False, default=10.0)

    def __call__(self, obs: jax.Array) -> jax.Array:
        return jnp.clip((obs - self.mean) / self.std, -self.clip, self.clip)


def apply(obs_norm: ObsNorm | tuple, obs: jax.Array) -> jax.Array:
    """``obs`` through frozen statistics, or unchanged for ``()`` (no normalisation)."""
    return obs_norm(obs) if isinstance(obs_norm, ObsNorm) else obs


@struct.dataclass
class Normalizer:
    """The running statistics of one agent; fields are ``()`` for what its :class:`NormConfig` leaves off."""

    obs: RunningStats | tuple
    ret: RunningStats | tuple  # of the discounted return, shape ()
    ret_acc: jax.Array | tuple  # (groups, envs) discounted return accumulated in each environment


def init(config: NormConfig, obs_shape: tuple[int, ...], groups: int, envs: int) -> Normalizer:
    return Normalizer(
        obs=init_stats(obs_shape) if config.obs else (),
        ret=init_stats(()) if config.reward else (),
        ret_acc=jnp.zeros((groups, envs), jnp.float32) if config.reward else (),
    )


def frozen_obs(config: NormConfig, norm: Normalizer) -> ObsNorm | tuple:
    """The observation statistics as a frozen :class:`ObsNorm` (``()`` without observation normalisation)."""
    if not config.obs:
        return ()
    return ObsNorm(mean=norm.obs.mean, std=jnp.sqrt(norm.obs.var + EPS), clip=config.obs_clip)


def observe(config: NormConfig, norm: Normalizer, obs: jax.Array) -> jax.Array:
    """Observations as the agent's networks see them (the path every consumer of frozen statistics takes)."""
    return apply(frozen_obs(config, norm), obs)


def scale_rewards(config: NormConfig, norm: Normalizer, reward: jax.Array) -> jax.Array:
    if not config.reward:
        return reward
    return jnp.clip(reward / jnp.sqrt(norm.ret.var + EPS), -config.reward_clip, config.reward_clip)


def normalized(config: NormConfig, norm: Normalizer, traj, last_obs):
    """A rollout ``traj`` (leading axes (groups, T, E) or (T, E)) and its ``last_obs`` as the networks and
    the losses see them: observations normalised, rewards scaled."""
    if not (config.obs or config.reward):
        return traj, last_obs
    traj = traj.replace(obs=observe(config, norm, traj.obs), final_obs=observe(config, norm, traj.final_obs),
                        reward=scale_rewards(config, norm, traj.reward))
    return traj, observe(config, norm, last_obs)


def update(config: NormConfig, norm: Normalizer, traj, gamma: float) -> Normalizer:
    """``norm`` with the rollout ``traj`` of shape (groups, T, E, ...) folded in (raw observations and rewards)."""
    obs = merge(norm.obs, traj.obs) if config.obs else ()
    if not config.reward:
        return norm.replace(obs=obs)
    done = jnp.logical_or(traj.terminated, traj.truncated)

    def step(acc, x):
        reward, done = x
        acc = gamma * acc + reward
        return jnp.where(done, 0.0, acc), acc

    # (groups, T, E) -> scan over T with the (groups, E) accumulators.
    acc, returns = jax.lax.scan(step, norm.ret_acc, (jnp.swapaxes(traj.reward, 0, 1), jnp.swapaxes(done, 0, 1)))
    return Normalizer(obs=obs, ret=merge(norm.ret, returns), ret_acc=acc)
