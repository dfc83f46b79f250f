"""Atari through EnvPool, stepped on the host.

EnvPool's own XLA interface does run inside ``jax.jit`` with the pinned jax, but its handle is a
side effect that cannot be vmapped over learners, checkpointed or replayed, so the training loop
steps EnvPool on the host and runs the policies and the PPMO/PPO updates as jitted functions
(:func:`jaxdistill.run.driver.make_trainer` and :func:`jaxdistill.eval.episodes.play_episodes`
dispatch on :class:`~jaxdistill.envs.core.HostEnv`).

Preprocessing is EnvPool's ``-v5`` standard, as in CleanRL's ``ppo_atari_envpool``: 84x84 grey
frames, a stack of 4, frame skip 4, up to 30 no-op starts, fire on reset; for training also episodic
life and reward clipping. :class:`AtariVecEnv` resets finished environments immediately (gymnax's
auto-reset: the step returns the new episode's first observation and the final one separately) and
reports *unclipped* returns of *full games* (all lives), as CleanRL does.
"""

from __future__ import annotations

import numpy as np

from jaxdistill.envs.core import HostEnv, HostStep, HostVecEnv
from jaxdistill.envs.spec import Discrete, EnvSpec

OBS_SHAPE = (4, 84, 84)


def _envpool():
    try:
        import envpool
    except ImportError as e:  # pragma: no cover - envpool is a dependency on Linux x86-64
        raise ImportError("Atari needs EnvPool: pip install 'envpool>=1.2,<1.3' (Linux x86-64 wheels)") from e
    return envpool


def _game_spec(game: str) -> EnvSpec:
    envpool = _envpool()
    try:
        spec = envpool.make_spec(f"{game}-v5")
    except KeyError:
        from envpool.registration import registry

        known = sorted(task[:-3] for task, (path, *_rest) in registry.specs.items()
                       if task.endswith("-v5") and "atari" in path)
        raise ValueError(f"unknown Atari game {game!r}; EnvPool knows {', '.join(known)}") from None
    return EnvSpec(
        env_id=f"{game}-v5", obs_shape=OBS_SHAPE, action_space=Discrete(int(spec.action_space.n)),
        max_episode_steps=27000, standard_env=f"ALE/{game}-v5 with CleanRL's Atari wrappers (EnvPool {game}-v5)",
        notes=("observations: (4, 84, 84) channels first, 4 stacked grey frames as float32 in [0, 1] (uint8 / 255)",
               "frame skip 4, up to 30 no-op starts, fire on reset; training: episodic life and clipped rewards; "
               "scores: unclipped, whole games"),
    )


class AtariEnv(HostEnv):
    """An ALE game by EnvPool id (``Pong-v5``) or name (``Pong``); environments live on the host."""

    def __init__(self, game: str):
        self.game = game.removesuffix("-v5")
        self.spec = _game_spec(self.game)

    def vector(self, num_envs: int, seed: int, training: bool = True) -> "AtariVecEnv":
        return AtariVecEnv(self, num_envs, seed, training)

    def __repr__(self) -> str:
        return f"AtariEnv({self.game})"


class AtariVecEnv(HostVecEnv):
    """``num_envs`` Atari games stepped together; observations as float32 in [0, 1], shape (N, 4, 84, 84)."""

    def __init__(self, game: AtariEnv, num_envs: int, seed: int, training: bool = True,
                 max_episode_steps: int = 27000):
        self.spec = game.spec
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

    def step(self, actions: np.ndarray) -> HostStep:
        """One step of every game: ``reward`` is clipped and ``terminated`` means a lost life when training;
        ``episode_return`` / ``episode_length`` are the unclipped score and length of each *game* that
        ended, else NaN / 0."""
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
        out = HostStep(
            obs=next_obs, final_obs=final_obs, reward=reward.astype(np.float32),
            terminated=terminated.astype(bool), truncated=truncated.astype(bool),
            episode_return=np.where(game_over, self._game_return, np.nan),
            episode_length=np.where(game_over, self._game_length, 0),
        )
        self._game_return[game_over] = 0.0
        self._game_length[game_over] = 0
        return out

    def running_returns(self) -> np.ndarray:
        """The unclipped score so far of each game in progress."""
        return self._game_return.copy()

    def close(self) -> None:
        self._env.close()
