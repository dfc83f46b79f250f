"""The two ways to run an environment, behind one spec.

* :class:`JaxEnv`, **in the graph**: gymnax-style pure ``reset(key, params)`` and
  ``step(key, state, action, params)``, jittable and vmappable. ``step`` returns a :class:`Step` that
  names terminated, truncated and the observation the step reached (``final_obs``) apart from the
  next observation, which after an episode's end is the new episode's first (auto-reset).
* :class:`HostEnv`, **on the host**: a factory of :class:`HostVecEnv` vector environments (EnvPool)
  stepped from Python with NumPy arrays; the same fields come back as a :class:`HostStep`.

Training drivers and episode runners are chosen by the class of the environment object
(``functools.singledispatch`` in :mod:`jaxdistill.run.driver` and :mod:`jaxdistill.eval.episodes`),
never by its id.
"""

from __future__ import annotations

import abc
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxdistill.envs.spec import Box, EnvSpec


@struct.dataclass
class Step:
    obs: jax.Array  # the next observation (the new episode's first after an end)
    reward: jax.Array
    terminated: jax.Array  # the MDP ended: no bootstrapping
    truncated: jax.Array  # cut off by the time limit: bootstrap from final_obs
    final_obs: jax.Array  # the observation this step reached, before any reset
    nan_reset: jax.Array | None = None  # True where a non-finite state was discarded and reset (Brax), if tracked


class JaxEnv(abc.ABC):
    """An environment that runs inside ``jax.jit``; ``params`` is its (explicit) parameter pytree."""

    spec: EnvSpec
    params: Any

    @abc.abstractmethod
    def reset(self, key: jax.Array, params) -> tuple[jax.Array, Any]:
        """``(obs, state)`` of a new episode."""

    @abc.abstractmethod
    def step(self, key: jax.Array, state, action: jax.Array, params) -> tuple[Any, Step]:
        """``(state, step)``; an ended episode is reset within the same call."""


class GymnaxEnv(JaxEnv):
    """A gymnax environment (ours or gymnax's own) behind :class:`JaxEnv`.

    Box actions are clipped to the bounds here, at the environment boundary: policies and their
    stored log-probabilities see the unclipped sample. Observations of rank 2 (bsuite's grids) are
    flattened for vector learners; images (rank 3) keep their shape."""

    def __init__(self, env, params, spec: EnvSpec, flatten_obs: bool = False):
        self.env, self.params, self.spec, self._flatten = env, params, spec, flatten_obs
        space = spec.action_space
        self._bounds = (jnp.asarray(space.low), jnp.asarray(space.high)) if isinstance(space, Box) else None

    def _obs(self, obs):
        return obs.reshape(-1) if self._flatten else obs

    def reset(self, key, params):
        obs, state = self.env.reset(key, params)
        return self._obs(obs), state

    def step(self, key, state, action, params):
        if self._bounds is not None:
            action = jnp.clip(action, *self._bounds)
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        return state, Step(obs=self._obs(obs), reward=reward, terminated=terminated, truncated=truncated,
                           final_obs=self._obs(info["final_observation"]))

    def __repr__(self) -> str:
        return f"GymnaxEnv({self.spec.env_id})"


class HostStep(NamedTuple):
    """One step of every environment of a :class:`HostVecEnv` (NumPy arrays, leading axis N)."""

    obs: np.ndarray  # next observations (a restarted game's first where one ended)
    final_obs: np.ndarray
    reward: np.ndarray  # float32, as the learner sees it (clipped while training, for Atari)
    terminated: np.ndarray  # bool
    truncated: np.ndarray  # bool
    episode_return: np.ndarray  # the *scored* return of every episode that ended here, else NaN
    episode_length: np.ndarray  # its length in agent steps, else 0


class HostVecEnv(abc.ABC):
    """``num_envs`` environments stepped together on the host; auto-resetting like :class:`JaxEnv`."""

    spec: EnvSpec
    num_envs: int

    @abc.abstractmethod
    def reset(self) -> np.ndarray:
        """Restart every environment; float32 observations ``(num_envs, *obs_shape)``."""

    @abc.abstractmethod
    def step(self, actions: np.ndarray) -> HostStep: ...

    @abc.abstractmethod
    def running_returns(self) -> np.ndarray:
        """The scored return so far of each episode in progress."""

    def level_seeds(self) -> np.ndarray | None:
        """The level each environment's current episode is played on (procedurally generated
        environments: Procgen's level seed), or None where episodes have no level."""
        return None

    def close(self) -> None:
        """Release the environments' resources."""


class HostEnv(abc.ABC):
    """An environment stepped on the host: a spec and a factory of seeded vector environments."""

    spec: EnvSpec

    @abc.abstractmethod
    def vector(self, num_envs: int, seed: int, training: bool = True) -> HostVecEnv:
        """``num_envs`` environments seeded with ``seed``; ``training=False`` gives evaluation settings
        (for Atari: no episodic life, unclipped rewards)."""


def host_seed(key: jax.Array) -> int:
    """A host environment's integer seed, derived from a JAX key (so seeds come from ``run_keys`` too)."""
    return int(jax.random.randint(key, (), 0, 2**31 - 1))
