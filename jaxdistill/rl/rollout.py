"""In-graph rollouts of a :class:`~jaxdistill.envs.core.JaxEnv`, GAE targets and the minibatch loop,
shared by PPO and PPMO."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import struct

from jaxdistill.rl.losses import compute_gae


@struct.dataclass
class RunnerState:
    """The part of training that lives in the environment: carried from one update to the next."""

    env_state: Any  # batched over envs
    obs: jax.Array  # (E, *obs_shape)
    episode_return: jax.Array  # (E,) running undiscounted return of the current episode
    episode_length: jax.Array  # (E,)
    last_return: jax.Array  # (E,) return of the latest finished episode, 0 before the first


@struct.dataclass
class Transition:
    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array  # observation reached by the step, before any auto-reset
    episode_return: jax.Array  # the finished episode's return where done, else 0
    episode_length: jax.Array
    last_return: jax.Array  # after this step, the return of the env's latest finished episode (0 before any)
    nan_reset: jax.Array | None = None  # where the environment discarded a non-finite state (None: not tracked)


def reset_runner(key: jax.Array, env, num_envs: int) -> RunnerState:
    obs, env_state = jax.vmap(env.reset, (0, None))(jax.random.split(key, num_envs), env.params)
    zeros = jnp.zeros((num_envs,), jnp.float32)
    return RunnerState(env_state, obs, zeros, zeros.astype(jnp.int32), zeros)


def collect_rollout(
    key: jax.Array,
    env,
    dist,
    policy: Callable[[jax.Array], Any],
    runner: RunnerState,
    num_steps: int,
) -> tuple[RunnerState, Transition]:
    """Step ``num_envs`` auto-resetting environments ``num_steps`` times with a sampled policy.

    ``policy`` maps a batch of observations to the parameters of ``dist``. Returns a time-major
    ``Transition`` of shape ``(num_steps, num_envs, ...)``; ``log_prob`` is the sampled action's.
    """
    num_envs = runner.obs.shape[0]

    def step(runner: RunnerState, key):
        k_act, k_env = jax.random.split(key)
        dist_params = policy(runner.obs)
        action = dist.sample(k_act, dist_params)
        log_prob = dist.log_prob(dist_params, action)
        env_state, out = jax.vmap(env.step, (0, 0, 0, None))(
            jax.random.split(k_env, num_envs), runner.env_state, action, env.params)
        reward, terminated, truncated = out.reward, out.terminated, out.truncated
        done = jnp.logical_or(terminated, truncated)
        ep_ret = runner.episode_return + reward
        ep_len = runner.episode_length + 1
        last_return = jnp.where(done, ep_ret, runner.last_return)
        transition = Transition(
            obs=runner.obs,
            action=action,
            log_prob=log_prob,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            final_obs=out.final_obs,
            episode_return=jnp.where(done, ep_ret, 0.0),
            episode_length=jnp.where(done, ep_len, 0),
            last_return=last_return,
            nan_reset=out.nan_reset,
        )
        runner = RunnerState(env_state, out.obs, jnp.where(done, 0.0, ep_ret), jnp.where(done, 0, ep_len), last_return)
        return runner, transition

    return jax.lax.scan(step, runner, jax.random.split(key, num_steps))


def advantages_and_targets(
    value_fn: Callable[[jax.Array], jax.Array],
    traj: Transition,
    last_obs: jax.Array,
    gamma: float,
    gae_lambda: float,
) -> tuple[jax.Array, jax.Array]:
    """GAE over a rollout; truncated steps bootstrap from V(final observation)."""
    values = value_fn(traj.obs)
    last_value = value_fn(last_obs)
    final_values = value_fn(traj.final_obs)
    bootstrap = jnp.logical_and(traj.truncated, jnp.logical_not(traj.terminated))
    rewards = traj.reward + gamma * final_values * bootstrap
    dones = jnp.logical_or(traj.terminated, traj.truncated)
    return compute_gae(rewards, values, dones, last_value, gamma, gae_lambda)


def episode_stats(traj: Transition) -> dict:
    """Mean return and length of the episodes that finished inside ``traj`` (NaN if none), each episode
    counted once; and ``step_weighted_return``, the mean over every step and environment of the latest
    finished episode's return (what PureJaxRL plots, gymnax's ``LogWrapper.returned_episode_returns``:
    it counts a long episode once per step, so it sits above the per-episode mean while short failures
    still happen). Environments that guard against non-finite states add ``nan_resets``, the steps
    they discarded."""
    done = jnp.logical_or(traj.terminated, traj.truncated)
    n = done.sum()
    safe = jnp.maximum(n, 1)
    stats = {
        "episodes": n,
        "episode_return": jnp.where(n > 0, traj.episode_return.sum() / safe, jnp.nan),
        "episode_length": jnp.where(n > 0, traj.episode_length.sum() / safe, jnp.nan),
        "step_weighted_return": traj.last_return.mean(),
    }
    if traj.nan_reset is not None:
        stats["nan_resets"] = traj.nan_reset.sum()
    return stats


def shuffled_minibatches(key: jax.Array, batch, num_minibatches: int, batch_axes: int = 2):
    """Flatten the leading ``batch_axes`` axes, shuffle, and split into minibatches.

    Returns the same pytree with leading shape ``(num_minibatches, minibatch_size, ...)``.
    """

    def flat(x):
        return x.reshape((-1, *x.shape[batch_axes:]))

    flat_batch = jax.tree_util.tree_map(flat, batch)
    size = jax.tree_util.tree_leaves(flat_batch)[0].shape[0]
    if size % num_minibatches:
        raise ValueError(f"batch of {size} does not split into {num_minibatches} minibatches")
    perm = jax.random.permutation(key, size)
    return jax.tree_util.tree_map(
        lambda x: x[perm].reshape((num_minibatches, size // num_minibatches, *x.shape[1:])), flat_batch
    )


def minibatch_epochs(
    key: jax.Array,
    carry,
    batch,
    update: Callable,
    num_epochs: int,
    num_minibatches: int,
    make_minibatches: Callable = shuffled_minibatches,
):
    """Run ``update(carry, minibatch) -> (carry, info)`` over ``num_epochs`` shuffled passes."""

    def epoch(carry, key):
        minibatches = make_minibatches(key, batch, num_minibatches)
        return jax.lax.scan(update, carry, minibatches)

    carry, infos = jax.lax.scan(epoch, carry, jax.random.split(key, num_epochs))
    return carry, jax.tree_util.tree_map(jnp.mean, infos)
