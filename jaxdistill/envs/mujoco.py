"""Gymnasium's MuJoCo-v4 tasks through EnvPool, stepped on the host: the paper's own continuous tasks
(Section 6, Table 3).

Observations are EnvPool's (float64, cast to float32), rewards the task's own; actions are clipped
to the task's bounds here, at the environment boundary (policies keep the unclipped sample and its
log-probability). Episodes end as in Gymnasium: termination when the robot falls (Hopper, Walker2d,
Ant, Humanoid, the pendulums) and truncation at the task's limit (1000 steps; Reacher 50, Pusher 100).
Observation sizes differ from Brax's versions of the same robots (:mod:`jaxdistill.envs.brax_envs`).
"""

from __future__ import annotations

import numpy as np

from jaxdistill.envs.core import HostEnv
from jaxdistill.envs.envpool_vec import EnvPoolVec, envpool, envpool_tasks
from jaxdistill.envs.spec import Box, EnvSpec

PAPER_TASKS = ("Ant-v4", "HalfCheetah-v4", "Hopper-v4", "Humanoid-v4", "HumanoidStandup-v4",
               "InvertedDoublePendulum-v4", "Reacher-v4", "Walker2d-v4")
"""The eight MuJoCo-v4 tasks of the paper's Table 3."""


def mujoco_tasks() -> list[str]:
    """EnvPool's MuJoCo-v4 task ids."""
    return envpool_tasks("-v4", "mujoco")


def _task_spec(task: str) -> EnvSpec:
    spec = envpool().make_spec(task)
    space = spec.action_space
    return EnvSpec(
        env_id=task, obs_shape=spec.observation_space.shape, action_space=Box(space.low, space.high),
        max_episode_steps=int(spec.config.max_episode_steps), standard_env=f"Gymnasium {task} (EnvPool {task})",
        notes=("observations: Gymnasium MuJoCo-v4's, float32 (EnvPool computes them in float64)",
               "actions are clipped to [action_low, action_high] by the environment"),
    )


class MujocoEnv(HostEnv):
    """A MuJoCo-v4 task by EnvPool id (``Hopper-v4``); environments live on the host."""

    def __init__(self, task: str):
        known = mujoco_tasks()
        if task not in known:  # also refuses EnvPool's other -v4 ids: only MuJoCo tasks are built here
            raise ValueError(f"unknown MuJoCo task {task!r}; EnvPool knows {', '.join(known)}")
        self.spec = _task_spec(task)

    def vector(self, num_envs: int, seed: int, training: bool = True) -> "MujocoVecEnv":
        return MujocoVecEnv(self.spec, num_envs, seed)

    def __repr__(self) -> str:
        return f"MujocoEnv({self.spec.env_id})"


class MujocoVecEnv(EnvPoolVec):
    """``num_envs`` environments of one MuJoCo-v4 task; training and evaluation settings are the same."""

    def __init__(self, spec: EnvSpec, num_envs: int, seed: int):
        super().__init__(spec, envpool().make(spec.env_id, env_type="gymnasium", num_envs=num_envs, seed=seed))
        self._low = np.asarray(spec.action_space.low, np.float64)
        self._high = np.asarray(spec.action_space.high, np.float64)

    def _action(self, actions: np.ndarray) -> np.ndarray:
        return np.clip(actions.astype(np.float64), self._low, self._high)
