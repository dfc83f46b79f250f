"""What every algorithm may know about an environment: shapes, the action space, the episode limit, names.

An :class:`EnvSpec` is plain data: it travels into dataset files and plots, and algorithms size their
networks and action distributions from it. They never learn *which* environment they run on.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Discrete:
    """``n`` actions, indices ``0 .. n - 1``."""

    n: int


@dataclasses.dataclass(frozen=True)
class Box:
    """Real-valued actions of shape ``(dim,)`` within per-dimension bounds ``[low, high]``."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    def __post_init__(self):
        object.__setattr__(self, "low", tuple(float(v) for v in np.ravel(self.low)))
        object.__setattr__(self, "high", tuple(float(v) for v in np.ravel(self.high)))
        if len(self.low) != len(self.high):
            raise ValueError(f"Box bounds differ in length: {self.low} vs {self.high}")

    @property
    def dim(self) -> int:
        return len(self.low)


ActionSpace = Discrete | Box


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    env_id: str
    """The registry id (``jaxdistill.envs.make(env_id)`` builds the environment)."""
    obs_shape: tuple[int, ...]
    """One observation's shape as the learners see it (float32)."""
    action_space: ActionSpace
    max_episode_steps: int
    """Agent steps after which an episode is truncated."""
    feature_names: tuple[str, ...] | None = None
    """Names of a vector observation's entries, for plots."""
    action_names: tuple[str, ...] | None = None
    """Names of the discrete actions (or the Box dimensions), in index order, for plots and dataset files."""
    standard_env: str | None = None
    """The standard environment with the same dynamics, where one exists (e.g. Gymnasium's CartPole-v1)."""
    frames_uint8: bool = False
    """Observations are uint8 frames divided by 255 (Atari, Procgen): offline data stores them as the
    uint8 frames, exactly and in a quarter of the space."""
    notes: tuple[str, ...] = ()
    """What a re-implementation must know (observation dtype and layout, preprocessing, differences
    from the original); written into every dataset's metadata."""

    def __post_init__(self):
        object.__setattr__(self, "obs_shape", tuple(int(d) for d in self.obs_shape))

    @property
    def discrete(self) -> bool:
        return isinstance(self.action_space, Discrete)

    @property
    def num_actions(self) -> int:
        """Discrete: the number of actions; Box: the action dimension (the learner's output size)."""
        return self.action_space.n if isinstance(self.action_space, Discrete) else self.action_space.dim

    def to_dict(self) -> dict:
        space = self.action_space
        action = ({"type": "discrete", "n": space.n} if isinstance(space, Discrete)
                  else {"type": "box", "low": list(space.low), "high": list(space.high)})
        return {"env_id": self.env_id, "obs_shape": list(self.obs_shape), "action_space": action,
                "max_episode_steps": self.max_episode_steps, "feature_names": self.feature_names,
                "action_names": self.action_names, "standard_env": self.standard_env, "notes": list(self.notes),
                **({"frames_uint8": True} if self.frames_uint8 else {})}

    @classmethod
    def from_dict(cls, d: dict) -> "EnvSpec":
        """The spec :meth:`to_dict` wrote (as in dataset, policy and offline-data files)."""
        space = d["action_space"]
        action_space = Discrete(int(space["n"])) if space["type"] == "discrete" else Box(space["low"], space["high"])
        return cls(env_id=d["env_id"], obs_shape=tuple(d["obs_shape"]), action_space=action_space,
                   max_episode_steps=int(d["max_episode_steps"]),
                   feature_names=tuple(d["feature_names"]) if d.get("feature_names") else None,
                   action_names=tuple(d["action_names"]) if d.get("action_names") else None,
                   standard_env=d.get("standard_env"), frames_uint8=bool(d.get("frames_uint8", False)),
                   notes=tuple(d.get("notes", ())))
