"""Rollouts of a :class:`~jaxdistill.envs.core.HostVecEnv`: the policy is jitted, the environments step in Python.

The result has the same :class:`~jaxdistill.rl.rollout.Transition` layout as an in-graph rollout,
so PPO's and PPMO's ``learn`` take either.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxdistill.envs.core import HostVecEnv
from jaxdistill.rl.rollout import Transition


def host_rollout(vec_env: HostVecEnv, obs: np.ndarray, act: Callable, key: jax.Array, num_steps: int,
                 groups: int, last_returns: np.ndarray) -> tuple[Transition, jax.Array, np.ndarray,
                                                                 list[tuple[float, int]]]:
    """``num_steps`` steps of ``vec_env``, whose N = groups x E environments form ``groups`` groups
    (one per acting policy). ``act(key, obs (groups, E, ...)) -> (actions, log_probs)`` is jitted;
    one key per step serves every group.

    Returns the rollout as a :class:`Transition` of shape (groups, T, E, ...), the next observations
    (groups, E, ...), the flat next observations (N, ...) to carry on with, and the (return, length)
    of every scored episode that ended. ``last_returns`` (N,), each environment's latest scored return,
    is updated in place (it feeds ``Transition.last_return``).
    """
    n = obs.shape[0]
    per_group = n // groups
    steps: list[dict] = []
    episodes: list[tuple[float, int]] = []
    for step_key in jax.random.split(key, num_steps):
        actions, log_probs = jax.device_get(act(step_key, obs.reshape(groups, per_group, *obs.shape[1:])))
        flat_actions = actions.reshape(n, *actions.shape[2:])
        out = vec_env.step(flat_actions)
        ended = ~np.isnan(out.episode_return)
        episodes += list(zip(out.episode_return[ended].tolist(), out.episode_length[ended].tolist()))
        last_returns[ended] = out.episode_return[ended]
        # ``obs`` is the observation the action was taken in; ``out.obs`` (the next one) must not replace it.
        steps.append({**out._asdict(), "obs": obs, "action": flat_actions, "log_prob": log_probs.reshape(n),
                      "last_return": last_returns.copy()})
        obs = out.obs

    def stacked(name, dtype=None):
        x = np.stack([s[name] for s in steps])  # (T, N, ...)
        x = x.reshape(num_steps, groups, per_group, *x.shape[2:]).swapaxes(0, 1)
        return jnp.asarray(x if dtype is None else x.astype(dtype))

    zeros = jnp.zeros((groups, num_steps, per_group))  # episodes are scored on the host (``episodes``)
    traj = Transition(
        obs=stacked("obs"), action=stacked("action"), log_prob=stacked("log_prob", np.float32),
        reward=stacked("reward", np.float32), terminated=stacked("terminated"), truncated=stacked("truncated"),
        final_obs=stacked("final_obs"), episode_return=zeros, episode_length=zeros.astype(jnp.int32),
        last_return=stacked("last_return", np.float32),
    )
    return traj, jnp.asarray(obs.reshape(groups, per_group, *obs.shape[1:])), obs, episodes


def episode_metrics(episodes: list[tuple[float, int]]) -> dict:
    """Mean return and length of host-scored episodes, as :func:`~jaxdistill.rl.rollout.episode_stats`."""
    if not episodes:
        return {"episode_return": np.nan, "episode_length": np.nan, "episodes": 0}
    returns, lengths = zip(*episodes)
    return {"episode_return": float(np.mean(returns)), "episode_length": float(np.mean(lengths)),
            "episodes": len(episodes)}
