"""Recording an expert: one full episode per environment, every observation, action and reward kept.

``record_episodes(env, key, policy, params, dist, num_episodes)`` plays ``num_episodes`` episodes of
``policy(params, obs) -> distribution parameters`` (sampled actions by default: offline data of an expert
is its behaviour, not its mode) and returns them as :class:`~jaxdistill.offline.data.OfflineData`. In the
graph (:class:`~jaxdistill.envs.core.JaxEnv`) the episodes run side by side in one ``lax.scan``; on the
host (:class:`~jaxdistill.envs.core.HostEnv`) they step together in Python with the policy jitted. An
episode still running after ``max_steps`` (the episode limit by default) is cut there and marked
truncated.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import numpy as np

from jaxdistill.envs.core import HostEnv, JaxEnv, host_seed
from jaxdistill.eval.episodes import _choose, _host_actor
from jaxdistill.offline.data import Episode, OfflineData, storage_obs, validate


def _episodes(spec, obs, final_obs, actions, rewards, terminated, truncated, levels) -> list[Episode]:
    """Cut arrays of shape (steps, envs, ...) into each environment's first episode."""
    steps, n = rewards.shape
    ended = np.logical_or(terminated, truncated)
    episodes = []
    for i in range(n):
        ends = np.flatnonzero(ended[:, i])
        t = int(ends[0]) + 1 if ends.size else steps
        trunc = truncated[:t, i].copy()
        if not ends.size:
            trunc[-1] = True  # cut off by the end of recording
        episodes.append(Episode(
            obs=storage_obs(spec, np.concatenate([obs[:t, i], final_obs[t - 1: t, i]])),
            actions=np.asarray(actions[:t, i]).astype(np.int64 if spec.discrete else np.float32),
            rewards=np.asarray(rewards[:t, i], np.float32), terminations=np.asarray(terminated[:t, i], bool),
            truncations=trunc.astype(bool), level_seed=int(levels[i]) if levels is not None else -1))
    return episodes


@functools.singledispatch
def record_episodes(env, key, policy: Callable, params, dist, num_episodes: int, greedy: bool = False,
                    max_steps: int | None = None) -> OfflineData:
    raise TypeError(f"cannot record episodes of {type(env).__name__}: environments are JaxEnv or HostEnv")


@functools.lru_cache(maxsize=16)
def _scan_recorder(env: JaxEnv, policy: Callable, dist, num: int, greedy: bool, steps: int):
    def run(key, params):
        k_reset, k_run = jax.random.split(key)
        obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(k_reset, num), env.params)

        def step(carry, key):
            obs, state = carry
            k_act, k_env = jax.random.split(key)
            action = _choose(dist, k_act, policy(params, obs), greedy)
            state, out = jax.vmap(env.step, (0, 0, 0, None))(jax.random.split(k_env, num), state, action, env.params)
            return (out.obs, state), (obs, out.final_obs, action, out.reward, out.terminated, out.truncated)

        return jax.lax.scan(step, (obs, state), jax.random.split(k_run, steps))[1]

    return jax.jit(run)


@record_episodes.register
def _(env: JaxEnv, key, policy, params, dist, num_episodes, greedy=False, max_steps=None):
    steps = env.spec.max_episode_steps if max_steps is None else max_steps
    out = jax.device_get(_scan_recorder(env, policy, dist, num_episodes, greedy, steps)(key, params))
    return validate(OfflineData(env.spec, _episodes(env.spec, *map(np.asarray, out), None)), "recorded episodes")


@record_episodes.register
def _(env: HostEnv, key, policy, params, dist, num_episodes, greedy=False, max_steps=None):
    k_reset, k_run = jax.random.split(key)
    act = _host_actor(policy, dist, greedy)
    vec_env = env.vector(num_episodes, seed=host_seed(k_reset), training=False)
    steps = env.spec.max_episode_steps if max_steps is None else max_steps
    cols = {name: [] for name in ("obs", "final_obs", "actions", "rewards", "terminated", "truncated")}
    try:
        obs = vec_env.reset()
        levels = vec_env.level_seeds()
        done = np.zeros(num_episodes, bool)
        for step_key in jax.random.split(k_run, steps):
            actions = np.asarray(act(params, step_key, obs))
            out = vec_env.step(actions)
            for name, value in (("obs", obs), ("final_obs", out.final_obs), ("actions", actions),
                                ("rewards", out.reward), ("terminated", out.terminated),
                                ("truncated", out.truncated)):
                cols[name].append(storage_obs(env.spec, value) if name.endswith("obs") else value)
            done |= out.terminated | out.truncated
            obs = out.obs
            if done.all():
                break
    finally:
        vec_env.close()
    arrays = {name: np.stack(v) for name, v in cols.items()}
    # Observations were stored as uint8 frames already; _episodes converts them again only for floats.
    episodes = _episodes(env.spec, arrays["obs"], arrays["final_obs"], arrays["actions"], arrays["rewards"],
                         arrays["terminated"], arrays["truncated"], levels)
    return validate(OfflineData(env.spec, episodes), "recorded episodes")
