"""What every EnvPool-backed :class:`~jaxdistill.envs.core.HostVecEnv` shares: the import, immediate resets
and the bookkeeping of scored returns.

EnvPool resets a finished environment on the *next* ``step`` call and ignores that call's action.
:class:`EnvPoolVec` instead resets finished environments at once (``reset(ids)``), so every step acts,
and returns the new episode's first observation beside the final one, as gymnax's auto-reset does.
A subclass says how observations and actions are converted and which episodes count as *scored*
episodes (for Atari: whole games, not lives).
"""

from __future__ import annotations

import numpy as np

from jaxdistill.envs.core import HostStep, HostVecEnv


def envpool():
    try:
        import envpool
    except ImportError as e:  # pragma: no cover - envpool is a dependency on Linux x86-64
        raise ImportError("this environment needs EnvPool: pip install 'envpool>=1.2,<1.3' (Linux x86-64 wheels)") from e
    return envpool


def envpool_tasks(suffix: str, path_part: str) -> list[str]:
    """EnvPool's registered task ids ending in ``suffix`` whose module path contains ``path_part``."""
    from envpool.registration import registry

    return sorted(task for task, (path, *_rest) in registry.specs.items() if task.endswith(suffix) and path_part in path)


class EnvPoolVec(HostVecEnv):
    """``num_envs`` EnvPool environments (``self._env``, gymnasium API) with immediate resets."""

    def __init__(self, spec, env):
        self.spec, self._env, self.num_envs = spec, env, env.config["num_envs"]
        self._return = np.zeros(self.num_envs, np.float64)
        self._length = np.zeros(self.num_envs, np.int64)

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        return obs.astype(np.float32)

    def _action(self, actions: np.ndarray) -> np.ndarray:
        return actions

    def _observe(self, info: dict, ids: np.ndarray | None = None) -> None:
        """Called with EnvPool's ``info`` after every step (``ids`` None: all environments) and every
        reset of the environments ``ids``; subclasses keep what they report from it (Procgen's levels)."""

    def _scored(self, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, info: dict):
        """``(score increment, scored episode over)``: by default the learner's reward and its episodes."""
        return reward, np.logical_or(terminated, truncated)

    def reset(self) -> np.ndarray:
        obs, info = self._env.reset()
        self._observe(info, np.arange(self.num_envs))
        self._return[:] = 0.0
        self._length[:] = 0
        return self._obs(obs)

    def step(self, actions: np.ndarray) -> HostStep:
        obs, reward, terminated, truncated, info = self._env.step(self._action(np.asarray(actions)))
        self._observe(info)
        final_obs = next_obs = self._obs(obs)
        score, over = self._scored(reward, terminated, truncated, info)
        if over.any():
            ids = np.flatnonzero(over)
            reset_obs, reset_info = self._env.reset(ids)
            self._observe(reset_info, ids)
            next_obs = final_obs.copy()  # a new array only when some environment restarts
            next_obs[ids] = self._obs(reset_obs)
        self._return += score
        self._length += 1
        out = HostStep(
            obs=next_obs, final_obs=final_obs, reward=np.asarray(reward, np.float32),
            terminated=np.asarray(terminated, bool), truncated=np.asarray(truncated, bool),
            episode_return=np.where(over, self._return, np.nan), episode_length=np.where(over, self._length, 0),
        )
        self._return[over] = 0.0
        self._length[over] = 0
        return out

    def running_returns(self) -> np.ndarray:
        return self._return.copy()

    def close(self) -> None:
        self._env.close()
