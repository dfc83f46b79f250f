"""Procgen (Cobbe et al. 2020) through EnvPool, stepped on the host: procedurally generated games whose
levels are numbered, so a policy can be trained on some levels and tested on others.

Ids are EnvPool's, ``<Game><Mode>-v0`` (``BigfishEasy-v0``, ``JumperHard-v0``), optionally followed by a
level range: ``BigfishEasy-v0`` plays levels ``[0, 200)`` (the offline-distillation paper's 200
training levels), ``BigfishEasy-v0:levels=200-1000200`` levels ``[200, 1000200)`` (unseen by a policy
trained on the default ones) and ``BigfishEasy-v0:levels=all`` Procgen's unbounded level distribution
(which contains every training level: the paper's "out of distribution" setting).
:func:`procgen_id` builds ids from a game name (``bigfish``).

Observations are EnvPool's channels-first ``(3, 64, 64)`` uint8 frames as float32 in ``[0, 1]``
(``/ 255``); 15 actions; rewards and episode ends are the game's own (no clipping, no episodic life);
the episode limit is the game's (EnvPool's ``max_episode_steps``). The level of every episode in
progress is reported by :meth:`ProcgenVecEnv.level_seeds`. EnvPool's Procgen needs the system Qt5
runtime (``apt-get install libqt5gui5``).
"""

from __future__ import annotations

import re

import numpy as np

from jaxdistill.envs.core import HostEnv
from jaxdistill.envs.envpool_vec import EnvPoolVec, envpool, envpool_tasks
from jaxdistill.envs.spec import Discrete, EnvSpec

TRAIN_LEVELS = (0, 200)
"""``(start_level, num_levels)`` of an id without a level range: the paper's 200 training levels."""

UNSEEN_LEVELS = 1_000_000
"""How many levels :meth:`ProcgenEnv.unseen` draws from, right after the training ones."""

_ID = re.compile(r"^(?P<task>[A-Z][a-z]+(?:Easy|Hard|Memory|Exploration)-v0)(?::levels=(?P<levels>all|\d+-\d+))?$")

# Procgen's 15 buttons, in EnvPool's (and Procgen's) action order.
ACTION_NAMES = ("down-left", "left", "up-left", "down", "noop", "up", "down-right", "right", "up-right",
                "D", "A", "W", "S", "Q", "E")


def procgen_tasks() -> list[str]:
    """EnvPool's Procgen task ids."""
    return envpool_tasks("-v0", "procgen")


def procgen_id(game: str, mode: str = "easy", levels: tuple[int, int] | None = None) -> str:
    """The id of ``game`` (``bigfish``) in ``mode`` (easy, hard, memory, exploration) on ``levels``
    (``(start, num)``; None: the training levels; ``(0, 0)``: unbounded)."""
    task = f"{game.strip().lower().capitalize()}{mode.strip().lower().capitalize()}-v0"
    if levels is None:
        return task
    start, num = levels
    return f"{task}:levels=all" if num == 0 else f"{task}:levels={start}-{start + num}"


def claims(env_id: str) -> bool:
    return bool(_ID.match(env_id))


class ProcgenEnv(HostEnv):
    """A Procgen game on a range of levels; environments live on the host."""

    def __init__(self, env_id: str):
        match = _ID.match(env_id)
        if match is None:
            raise ValueError(f"not a Procgen id: {env_id!r} (expected e.g. 'BigfishEasy-v0' or "
                             "'BigfishEasy-v0:levels=200-1000200')")
        task, levels = match["task"], match["levels"]
        known = procgen_tasks()
        if task not in known:
            games = sorted({t.removesuffix("-v0").removesuffix("Easy") for t in known if t.endswith("Easy-v0")})
            raise ValueError(f"unknown Procgen task {task!r}; games: {', '.join(g.lower() for g in games)}; "
                             "modes: Easy, Hard (some games also Memory, Exploration)")
        if levels is None:
            self.start_level, self.num_levels = TRAIN_LEVELS
        elif levels == "all":
            self.start_level, self.num_levels = 0, 0
        else:
            first, end = (int(v) for v in levels.split("-"))
            if end <= first:
                raise ValueError(f"empty level range {levels!r} in {env_id!r}: write levels=FIRST-END with END > FIRST")
            self.start_level, self.num_levels = first, end - first
        self.task = task
        spec = envpool().make_spec(task)
        level_text = ("every level (Procgen's unbounded distribution)" if self.num_levels == 0
                      else f"levels [{self.start_level}, {self.start_level + self.num_levels})")
        self.spec = EnvSpec(
            env_id=env_id, obs_shape=spec.observation_space.shape, action_space=Discrete(int(spec.action_space.n)),
            max_episode_steps=int(spec.config.max_episode_steps), action_names=ACTION_NAMES, frames_uint8=True,
            standard_env=f"procgen {task} (EnvPool {task}), {level_text}",
            notes=("observations: (3, 64, 64) channels first, RGB as float32 in [0, 1] (uint8 / 255)",
                   f"{level_text}; rewards and episode ends are the game's own"),
        )

    @property
    def levels(self) -> tuple[int, int]:
        """``(start_level, num_levels)``; ``num_levels == 0`` is the unbounded distribution."""
        return self.start_level, self.num_levels

    def unseen(self) -> "ProcgenEnv":
        """The same game on levels disjoint from these (the next :data:`UNSEEN_LEVELS` levels)."""
        if self.num_levels == 0:
            raise ValueError(f"{self.spec.env_id} plays every level: no level is unseen")
        start = self.start_level + self.num_levels
        return ProcgenEnv(f"{self.task}:levels={start}-{start + UNSEEN_LEVELS}")

    def vector(self, num_envs: int, seed: int, training: bool = True) -> "ProcgenVecEnv":
        return ProcgenVecEnv(self, num_envs, seed)

    def __repr__(self) -> str:
        return f"ProcgenEnv({self.spec.env_id})"


class ProcgenVecEnv(EnvPoolVec):
    """``num_envs`` games of one Procgen task on the env's levels; training and evaluation alike."""

    def __init__(self, game: ProcgenEnv, num_envs: int, seed: int):
        start, num = game.levels
        super().__init__(game.spec, envpool().make(game.task, env_type="gymnasium", num_envs=num_envs, seed=seed,
                                                   num_levels=num, start_level=start))
        self._levels = np.full(num_envs, -1, np.int64)

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        return obs.astype(np.float32) / 255.0

    def _action(self, actions: np.ndarray) -> np.ndarray:
        return actions.astype(np.int32)

    def _observe(self, info: dict, ids: np.ndarray | None = None) -> None:
        # A level is read when its episode starts (reset); a step's info reports the same one until the end.
        if ids is not None:
            self._levels[np.asarray(info["env_id"])] = info["level_seed"]

    def level_seeds(self) -> np.ndarray:
        return self._levels.copy()
