"""Recorded real states to start the synthetic instances from (the paper's script: ``--load_initial_state``).

:func:`record_states` rolls a policy (a saved PPO actor, or uniformly random actions) out in an in-graph
environment and keeps every observation it met; :func:`save_states` / :func:`load_states` keep them in a
``.npy`` file of shape ``(N, *obs_shape)``; ``init_dataset(..., states=...)`` draws the k that replace the
Gaussian X; :func:`state_statistics` turns them into constant observation statistics.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxdistill.rl.normalize import EPS, ObsNorm
from jaxdistill.rl.rollout import collect_rollout, reset_runner


def record_states(env, key: jax.Array, num_envs: int, num_steps: int, policy=None, params=(), dist=None) -> jax.Array:
    """The ``num_steps x num_envs`` observations met by ``num_envs`` auto-resetting environments, acting by
    ``policy(params, obs) -> distribution parameters`` of ``dist`` (sampled), or uniformly at random over a
    discrete action space when ``policy`` is None. Pure; jit it for speed."""
    from jaxdistill.policy.distributions import Categorical

    if policy is None:
        if not env.spec.discrete:
            raise ValueError("a random policy here needs discrete actions; give a saved policy for a continuous task")
        n = env.spec.num_actions
        dist = Categorical(n)

        def policy(params, obs):
            return jnp.zeros((obs.shape[0], n))

    k_reset, k_run = jax.random.split(key)
    _, traj = collect_rollout(k_run, env, dist, lambda obs: policy(params, obs), reset_runner(k_reset, env, num_envs),
                              num_steps)
    return traj.obs.reshape((-1, *env.spec.obs_shape))


def save_states(path: str | os.PathLike, states) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(states, np.float32))
    return path


def load_states(path: str | os.PathLike, obs_shape: tuple[int, ...]) -> jax.Array:
    """The states saved at ``path``, checked against the environment's observation shape."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such states file (write one with python -m experiments.record_states)")
    try:
        states = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:  # a text file, a pickle, a truncated array, an .npz
        raise ValueError(f"{path} is not a NumPy .npy array of states ({type(e).__name__}: {e}); write one with "
                         "python -m experiments.record_states") from None
    if not isinstance(states, np.ndarray):
        raise ValueError(f"{path} is an .npz archive, not a .npy array of states")
    if states.ndim < 2 or tuple(states.shape[1:]) != tuple(obs_shape) or len(states) < 1:
        raise ValueError(f"{path}: states of shape {states.shape} do not fit observations of shape {tuple(obs_shape)} "
                         "(expected (N, *obs_shape) with N >= 1)")
    if not np.all(np.isfinite(states)):
        raise ValueError(f"{path}: the states hold NaN or infinite values")
    return jnp.asarray(states, jnp.float32)


def state_statistics(states: jax.Array, clip: float = 10.0) -> ObsNorm:
    """Constant observation statistics of recorded states (HaDES' per-game MinAtar normalisation): the mean and
    ``sqrt(var + EPS)`` of every element over the states, PPMO's rule for its frozen running statistics, so an
    element the states never moved is clipped at ``clip`` when it does move."""
    states = jnp.asarray(states, jnp.float32)
    return ObsNorm(mean=states.mean(0), std=jnp.sqrt(states.var(0) + EPS), clip=clip)

