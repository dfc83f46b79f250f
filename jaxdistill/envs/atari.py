"""Atari through EnvPool, stepped on the host.

EnvPool's own XLA interface does run inside ``jax.jit`` with the pinned jax, but its handle is a
side effect that cannot be vmapped over learners, checkpointed or replayed, so the training loop
steps EnvPool on the host and runs the policies and the PPMO/PPO updates as jitted functions
(:mod:`jaxdistill.host_loop`).

Preprocessing is EnvPool's ``-v5`` standard, as in CleanRL's ``ppo_atari_envpool``: 84x84 grey
frames, a stack of 4, frame skip 4, up to 30 no-op starts, fire on reset; for training also episodic
life and reward clipping. :class:`AtariVecEnv` resets finished environments immediately (gymnax's
auto-reset: the step returns the new episode's first observation and the final one separately) and
reports *unclipped* returns of *full games* (all lives), as CleanRL does.
"""

from __future__ import annotations

import dataclasses

import numpy as np

OBS_SHAPE = (4, 84, 84)


def _envpool():
    try:
        import envpool
    except ImportError as e:  # pragma: no cover - envpool is a dependency on Linux x86-64
        raise ImportError("Atari needs EnvPool: pip install 'envpool>=1.2,<1.3' (Linux x86-64 wheels)") from e
    return envpool


@dataclasses.dataclass(frozen=True)
class AtariSpec:
    """What the jitted code needs to know about an Atari game (the environment itself is on the host)."""

    game: str
    num_actions: int
    obs_shape: tuple[int, ...] = OBS_SHAPE
    host_stepped: bool = True

    @property
    def env_id(self) -> str:
        return f"{self.game}-v5"


def atari_spec(game: str) -> AtariSpec:
    """The spec of an ALE game by name (``Pong``, ``Centipede``, ``MsPacman``, ...)."""
    envpool = _envpool()
    game = game.removesuffix("-v5")
    try:
        spec = envpool.make_spec(f"{game}-v5")
    except KeyError:
        from envpool.registration import registry

        known = sorted(task[:-3] for task, (path, *_rest) in registry.specs.items()
                       if task.endswith("-v5") and "atari" in path)
        raise ValueError(f"unknown Atari game {game!r}; EnvPool knows {', '.join(known)}") from None
    return AtariSpec(game=game, num_actions=int(spec.action_space.n))


class AtariVecEnv:
    """``num_envs`` Atari games stepped together; observations as float32 in [0, 1], shape (N, 4, 84, 84)."""

    def __init__(self, game: str, num_envs: int, seed: int, training: bool = True, max_episode_steps: int = 27000):
        self.spec = atari_spec(game)
        self.num_envs = num_envs
        self._env = _envpool().make(
            self.spec.env_id, env_type="gymnasium", num_envs=num_envs, seed=seed, episodic_life=training,
            reward_clip=training, max_episode_steps=max_episode_steps,
        )
        self._game_return = np.zeros(num_envs, np.float64)
        self._game_length = np.zeros(num_envs, np.int64)

    @staticmethod
    def _float(obs: np.ndarray) -> np.ndarray:
        return obs.astype(np.float32) / 255.0

    def reset(self) -> np.ndarray:
        obs, _ = self._env.reset()
        self._game_return[:] = 0.0
        self._game_length[:] = 0
        return self._float(obs)

    def step(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        """One step of every game. Returns ``obs`` (next, after any reset), ``final_obs``, ``reward``
        (clipped when training), ``terminated`` (a lost life when training), ``truncated``, and
        ``game_return`` / ``game_length``: the unclipped score of each game that ended, else NaN / 0."""
        obs, reward, terminated, truncated, info = self._env.step(np.asarray(actions, np.int32))
        final_obs = next_obs = self._float(obs)
        # A lost life (terminated while training) ends an episode for the learner, but the game
        # goes on from the same frame; only a game that is over is reset, here and now, so that
        # EnvPool's own deferred reset never produces a step whose action is ignored.
        game_over = np.logical_or(np.asarray(info["terminated"], bool), truncated)
        if game_over.any():
            ids = np.flatnonzero(game_over)
            reset_obs, _ = self._env.reset(ids)
            next_obs = final_obs.copy()  # a new array only when some game restarts
            next_obs[ids] = self._float(reset_obs)
        self._game_return += info["reward"]
        self._game_length += 1
        out = {
            "obs": next_obs, "final_obs": final_obs, "reward": reward.astype(np.float32),
            "terminated": terminated.astype(bool), "truncated": truncated.astype(bool),
            "game_return": np.where(game_over, self._game_return, np.nan),
            "game_length": np.where(game_over, self._game_length, 0),
        }
        self._game_return[game_over] = 0.0
        self._game_length[game_over] = 0
        return out

    def running_scores(self) -> np.ndarray:
        """The unclipped score so far of each game in progress."""
        return self._game_return.copy()

    def close(self) -> None:
        self._env.close()
