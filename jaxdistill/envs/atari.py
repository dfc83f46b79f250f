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

from jaxdistill.envs.core import HostEnv
from jaxdistill.envs.envpool_vec import EnvPoolVec, envpool, envpool_tasks
from jaxdistill.envs.spec import Discrete, EnvSpec

OBS_SHAPE = (4, 84, 84)


def _game_spec(game: str) -> EnvSpec:
    try:
        spec = envpool().make_spec(f"{game}-v5")
    except KeyError:
        known = [task[:-3] for task in envpool_tasks("-v5", "atari")]
        raise ValueError(f"unknown Atari game {game!r}; EnvPool knows {', '.join(known)}") from None
    return EnvSpec(
        env_id=f"{game}-v5", obs_shape=OBS_SHAPE, action_space=Discrete(int(spec.action_space.n)),
        max_episode_steps=27000, frames_uint8=True, standard_env=f"ALE/{game}-v5 with CleanRL's Atari wrappers (EnvPool {game}-v5)",
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


class AtariVecEnv(EnvPoolVec):
    """``num_envs`` Atari games stepped together; observations as float32 in [0, 1], shape (N, 4, 84, 84).

    ``reward`` is clipped and ``terminated`` means a lost life when training; ``episode_return`` /
    ``episode_length`` are the unclipped score and length of each *game* that ended, else NaN / 0."""

    def __init__(self, game: AtariEnv, num_envs: int, seed: int, training: bool = True,
                 max_episode_steps: int = 27000):
        super().__init__(game.spec, envpool().make(
            game.spec.env_id, env_type="gymnasium", num_envs=num_envs, seed=seed, episodic_life=training,
            reward_clip=training, max_episode_steps=max_episode_steps,
        ))

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        return obs.astype(np.float32) / 255.0

    def _action(self, actions: np.ndarray) -> np.ndarray:
        return actions.astype(np.int32)

    def _scored(self, reward, terminated, truncated, info):
        # A lost life (terminated while training) ends an episode for the learner, but the game goes
        # on from the same frame; only a game that is over is scored and reset.
        return info["reward"], np.logical_or(np.asarray(info["terminated"], bool), truncated)
