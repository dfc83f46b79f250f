"""PPMO and PPO with environments stepped on the host (EnvPool Atari).

The policies, PPMO's ``sample_policies`` / ``update`` and PPO's ``learn`` are the same jitted pure
functions as in the fully jitted loops; only the rollout is a Python loop over EnvPool steps. Each
``chunk`` object is a callable ``state -> (state, metrics)`` that :func:`jaxdistill.train.train_loop`
drives with ``jit_chunk=False``. The environments' own state (emulators, frame stacks) is not part
of a checkpoint: a resumed run restarts its games from fresh resets.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxdistill.dataset import SyntheticDataset
from jaxdistill.envs.atari import AtariVecEnv
from jaxdistill.inner import train_fresh_learners
from jaxdistill.losses import categorical_log_prob
from jaxdistill.ppmo import PPMOConfig, make_ppmo
from jaxdistill.ppo import PPOConfig, make_ppo
from jaxdistill.rollout import Transition


def host_rollout(vec_env: AtariVecEnv, obs: np.ndarray, act: Callable, key: jax.Array, num_steps: int,
                 groups: int) -> tuple[Transition, np.ndarray, np.ndarray, list[tuple[float, int]]]:
    """``num_steps`` steps of ``vec_env``, whose N = groups x E environments form ``groups`` groups
    (one per learner). ``act(key, obs (groups, E, ...)) -> (actions, log_probs)`` is jitted.

    Returns the rollout as a :class:`Transition` of shape (groups, T, E, ...), the next observations
    (groups, E, ...), the flat next observations (N, ...) to carry on with, and the (score, length) of
    every full game that ended.
    """
    n = obs.shape[0]
    per_group = n // groups
    steps: list[dict] = []
    games: list[tuple[float, int]] = []
    for step_key in jax.random.split(key, num_steps):
        actions, log_probs = jax.device_get(act(step_key, obs.reshape(groups, per_group, *obs.shape[1:])))
        out = vec_env.step(actions.reshape(n))
        ended = ~np.isnan(out["game_return"])
        games += list(zip(out["game_return"][ended].tolist(), out["game_length"][ended].tolist()))
        steps.append({"obs": obs, "action": actions.reshape(n), "log_prob": log_probs.reshape(n), **out})
        obs = out["obs"]

    def stacked(name, dtype=None):
        x = np.stack([s[name] for s in steps])  # (T, N, ...)
        x = x.reshape(num_steps, groups, per_group, *x.shape[2:]).swapaxes(0, 1)
        return jnp.asarray(x if dtype is None else x.astype(dtype))

    zeros = jnp.zeros((groups, num_steps, per_group))  # games are scored on the host (``games``)
    traj = Transition(
        obs=stacked("obs"), action=stacked("action", np.int32), log_prob=stacked("log_prob", np.float32),
        reward=stacked("reward", np.float32), terminated=stacked("terminated"), truncated=stacked("truncated"),
        final_obs=stacked("final_obs"), episode_return=zeros, episode_length=zeros.astype(jnp.int32),
    )
    return traj, jnp.asarray(obs.reshape(groups, per_group, *obs.shape[1:])), obs, games


def _game_metrics(games: list[tuple[float, int]]) -> dict:
    if not games:
        return {"episode_return": np.nan, "episode_length": np.nan, "episodes": 0}
    scores, lengths = zip(*games)
    return {"episode_return": float(np.mean(scores)), "episode_length": float(np.mean(lengths)),
            "episodes": len(games)}


def _sample_with_log_prob(key: jax.Array, logits: jax.Array):
    actions = jax.random.categorical(key, logits)
    return actions, categorical_log_prob(logits, actions)


class _HostChunk:
    """``chunk(state) -> (state, metrics)``: ``iterations`` calls of ``_iteration``, the games carried on."""

    def __init__(self, vec_env: AtariVecEnv, iterations: int):
        self.vec_env, self.iterations = vec_env, iterations
        self.obs = vec_env.reset()

    def _iteration(self, state) -> tuple:
        """One update: ``(state, metrics, games)``; advances ``self.obs``."""
        raise NotImplementedError

    def __call__(self, state):
        rows = []
        for _ in range(self.iterations):
            state, metrics, games = self._iteration(state)
            rows.append({**jax.device_get(metrics), **_game_metrics(games)})
        return state, {k: np.asarray([r[k] for r in rows]) for k in rows[0]}


class HostPPMOChunk(_HostChunk):
    """``iterations`` PPMO meta-epochs on EnvPool games (learner i acts in games [i E, (i + 1) E))."""

    def __init__(self, config: PPMOConfig, vec_env: AtariVecEnv, iterations: int):
        if vec_env.num_envs != config.num_learners * config.num_envs:
            raise ValueError(f"need num_learners x num_envs = {config.num_learners * config.num_envs} games, "
                             f"got {vec_env.num_envs}")
        super().__init__(vec_env, iterations)
        self.config = config
        ppmo = make_ppmo(config)
        self._sample = jax.jit(ppmo.sample_policies)
        self._update = jax.jit(ppmo.update)
        self._act = jax.jit(lambda policies, encoder_params, key, obs: _sample_with_log_prob(
            key, jax.vmap(ppmo.policy_logits, (None, 0, 0))(encoder_params, policies, obs)))

    def _iteration(self, state):
        key, k_learners, k_roll, k_epochs = jax.random.split(state.key, 4)
        inits, policies = self._sample(k_learners, state.dataset, state.encoder_params)
        act = lambda k, o: self._act(policies, state.encoder_params, k, o)  # noqa: E731
        traj, last_obs, self.obs, games = host_rollout(self.vec_env, self.obs, act, k_roll, self.config.num_steps,
                                                       self.config.num_learners)
        state, metrics = self._update(state.replace(key=key), k_epochs, inits, traj, last_obs)
        return state, metrics, games


class HostPPOChunk(_HostChunk):
    """``iterations`` PPO updates on EnvPool games."""

    def __init__(self, config: PPOConfig, vec_env: AtariVecEnv, iterations: int):
        super().__init__(vec_env, iterations)
        self.config = config
        self._learn = jax.jit(make_ppo(config).learn)
        self._act = jax.jit(lambda params, key, obs: _sample_with_log_prob(key, config.actor.apply(params, obs)))

    def _iteration(self, state):
        key, k_roll, k_epochs = jax.random.split(state.key, 3)
        act = lambda k, o: self._act(state.actor_params, k, o)  # noqa: E731
        traj, last_obs, self.obs, games = host_rollout(self.vec_env, self.obs, act, k_roll, self.config.num_steps, 1)
        traj = jax.tree_util.tree_map(lambda x: x[0], traj)
        state, metrics = self._learn(state.replace(key=key), k_epochs, traj, last_obs[0])
        return state, metrics, games


def play_games(vec_env: AtariVecEnv, logits_fn: Callable, key: jax.Array, greedy: bool, max_steps: int) -> np.ndarray:
    """One full game per environment with ``logits_fn(obs (N, ...)) -> (N, A)`` (jitted) choosing for
    game i; returns the unclipped scores. A game still running after ``max_steps`` agent steps counts
    with its score so far."""
    n = vec_env.num_envs
    obs = vec_env.reset()
    scores = np.full(n, np.nan)
    for step_key in jax.random.split(key, max_steps):
        logits = logits_fn(obs)
        actions = np.asarray(jnp.argmax(logits, -1) if greedy else jax.random.categorical(step_key, logits))
        out = vec_env.step(actions)
        ended = ~np.isnan(out["game_return"]) & np.isnan(scores)
        scores[ended] = out["game_return"][ended]
        obs = out["obs"]
        if not np.isnan(scores).any():
            break
    unfinished = np.isnan(scores)
    if unfinished.any():
        scores[unfinished] = vec_env.running_scores()[unfinished]
    return scores


def make_atari_kshot_evaluate(game: str, spec, num_learners: int, seed: int, greedy: bool = False,
                              max_steps: int = 27000):
    """``evaluate(key, dataset, encoder_params) -> scores (num_learners,)``: fresh learners (the layers
    after the encoder), one SGD step each on the encoded images, one full unclipped game each."""
    vec_env = AtariVecEnv(game, num_learners, seed=seed, training=False)
    obs_shape, num_actions = vec_env.spec.obs_shape, vec_env.spec.num_actions

    @jax.jit
    def train(key, dataset: SyntheticDataset, encoder_params):
        return train_fresh_learners(key, spec, obs_shape, num_actions, num_learners, dataset, encoder_params)[1]

    @jax.jit
    def logits(trained, encoder_params, obs):
        return jax.vmap(spec.apply)(trained, spec.encode(encoder_params, obs))

    def evaluate(key, dataset, encoder_params=()):
        k_init, k_play = jax.random.split(key)
        trained = train(k_init, dataset, encoder_params)
        return play_games(vec_env, lambda obs: logits(trained, encoder_params, obs), k_play, greedy, max_steps)

    return evaluate
