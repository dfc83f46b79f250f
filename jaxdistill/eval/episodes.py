"""Full episodes of a batch of policies, in the graph or on the host, behind one signature.

``play_episodes(env, key, policy, params, num_episodes, dist, greedy, mesh, max_steps)`` plays one
episode per policy (``policy(params, obs (M, ...)) -> distribution parameters``) and returns the
undiscounted returns, shape ``(num_episodes,)`` (with ``lengths=True``, also each episode's agent steps). For a :class:`~jaxdistill.envs.core.JaxEnv` it is a
pure scan (call it inside ``jax.jit``); for a :class:`~jaxdistill.envs.core.HostEnv` it steps fresh
evaluation environments (seeded from ``key``) in Python with the policy jitted, and returns the
scored return of each episode (Atari: the unclipped whole-game score). :func:`staged` compiles a
function that plays episodes the right way for its environment.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxdistill.core.sharding import constrain_population
from jaxdistill.envs.core import HostEnv, JaxEnv, host_seed


def _choose(dist, key, params, greedy: bool):
    return dist.mode(params) if greedy else dist.sample(key, params)


@functools.singledispatch
def play_episodes(env, key, policy: Callable, params, num_episodes: int, dist, greedy: bool = True, mesh=None,
                  max_steps: int | None = None, lengths: bool = False):
    raise TypeError(f"cannot play episodes of {type(env).__name__}: environments are JaxEnv or HostEnv")


@play_episodes.register
def _(env: JaxEnv, key, policy, params, num_episodes, dist, greedy=True, mesh=None, max_steps=None, lengths=False):
    k_reset, k_run = jax.random.split(key)
    obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(k_reset, num_episodes), env.params)

    def step(carry, key):
        obs, state, total, alive, length = carry
        k_act, k_env = jax.random.split(key)
        action = _choose(dist, k_act, policy(params, obs), greedy)
        state, out = jax.vmap(env.step, (0, 0, 0, None))(jax.random.split(k_env, num_episodes), state, action,
                                                         env.params)
        total = total + out.reward * alive
        length = length + alive
        alive = alive * (1.0 - jnp.logical_or(out.terminated, out.truncated))
        return constrain_population((out.obs, state, total, alive, length), mesh), None

    zeros = jnp.zeros((num_episodes,))
    init = constrain_population((obs, state, zeros, jnp.ones((num_episodes,)), zeros), mesh)
    steps = env.spec.max_episode_steps if max_steps is None else max_steps
    (_, _, total, _, length), _ = jax.lax.scan(step, init, jax.random.split(k_run, steps))
    return (total, length) if lengths else total


@functools.lru_cache(maxsize=64)
def _host_actor(policy: Callable, dist, greedy: bool):
    return jax.jit(lambda params, key, obs: _choose(dist, key, policy(params, obs), greedy))


@play_episodes.register
def _(env: HostEnv, key, policy, params, num_episodes, dist, greedy=True, mesh=None, max_steps=None, lengths=False):
    k_reset, k_run = jax.random.split(key)
    act = _host_actor(policy, dist, greedy)
    vec_env = env.vector(num_episodes, seed=host_seed(k_reset), training=False)
    try:
        obs = vec_env.reset()
        returns = np.full(num_episodes, np.nan)
        length = np.zeros(num_episodes)
        steps = env.spec.max_episode_steps if max_steps is None else max_steps
        for step_key in jax.random.split(k_run, steps):
            out = vec_env.step(np.asarray(act(params, step_key, obs)))
            length += np.isnan(returns)
            ended = ~np.isnan(out.episode_return) & np.isnan(returns)
            returns[ended] = out.episode_return[ended]
            obs = out.obs
            if not np.isnan(returns).any():
                break
        # An episode still running after ``steps`` agent steps counts with its return so far.
        unfinished = np.isnan(returns)
        returns[unfinished] = vec_env.running_returns()[unfinished]
    finally:
        vec_env.close()
    return (returns, length) if lengths else returns


@functools.singledispatch
def staged(env, fn: Callable) -> Callable:
    """``fn`` compiled for ``env``: jitted whole in the graph, as it is on the host (its pieces are jitted)."""
    raise TypeError(f"no staging for {type(env).__name__}")


staged.register(JaxEnv, lambda env, fn: jax.jit(fn))
staged.register(HostEnv, lambda env, fn: fn)
