"""Offline RL data: recorded episodes, their validation, and Minari datasets on disk.

:class:`OfflineData` holds whole episodes as NumPy arrays, in Minari's layout: per episode ``T + 1``
observations (the last is the one the final action reached), ``T`` actions, rewards, terminations and
truncations, plus the episode's return and level seed (Procgen; -1 where an environment has no
levels). Frames (``EnvSpec.frames_uint8``) are kept as uint8, everything else as float32.

On disk it is a **Minari dataset** (the Farama Foundation's offline-RL format, HDF5), written with
Minari's own API (:func:`minari.create_dataset_from_buffers`) so that ``minari.load_dataset`` and
other offline-RL tools read it. :func:`write_minari` puts it under ``<root>/<dataset_id>/`` (Minari's
``MINARI_DATASETS_PATH`` layout: ``data/main_data.hdf5`` + ``data/metadata.json``); the level seeds ride in
each episode's ``infos["level_seed"]`` and jaxdistill's environment spec in the dataset's description.
:func:`read_minari` opens a dataset by id (from ``MINARI_DATASETS_PATH`` or ``~/.minari/datasets``) or by
path and validates every episode (:func:`validate`) before anything is compiled.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from jaxdistill.envs.spec import Box, Discrete, EnvSpec

DESCRIPTION_TAG = "jaxdistill-env-spec:"


class OfflineDataError(ValueError):
    """Offline data is missing, corrupt, truncated, or does not fit the environment it is used with."""


@dataclasses.dataclass
class Episode:
    obs: np.ndarray  # (T + 1, *obs_shape): every observation, the final one included
    actions: np.ndarray  # (T,) int64 or (T, action_dim) float32
    rewards: np.ndarray  # (T,) float32
    terminations: np.ndarray  # (T,) bool: the MDP ended after this step
    truncations: np.ndarray  # (T,) bool: cut off by the time limit (or by the end of recording)
    level_seed: int = -1  # the Procgen level it was played on; -1 without levels

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def episode_return(self) -> float:
        return float(np.sum(self.rewards, dtype=np.float64))


@dataclasses.dataclass
class OfflineData:
    """Episodes of one environment (``spec``), in recording order."""

    spec: EnvSpec
    episodes: list[Episode]

    @property
    def returns(self) -> np.ndarray:
        return np.array([e.episode_return for e in self.episodes])

    @property
    def num_transitions(self) -> int:
        return sum(len(e) for e in self.episodes)

    def select(self, indices) -> "OfflineData":
        return OfflineData(self.spec, [self.episodes[int(i)] for i in indices])

    def top_percent(self, percent: float) -> "OfflineData":
        """Percentile behavioural cloning's data: the ``ceil(percent / 100 * episodes)`` episodes of highest
        return (ties keep recording order), at least one."""
        if not 0 < percent <= 100:
            raise ValueError(f"percent must be in (0, 100], got {percent}")
        n = max(1, int(np.ceil(percent / 100.0 * len(self.episodes) - 1e-9)))
        order = np.argsort(-self.returns, kind="stable")
        return self.select(order[:n])

    def transitions(self) -> tuple[np.ndarray, np.ndarray]:
        """``(obs, actions)`` of every step, concatenated over episodes: each action with the observation
        it was taken in (the final observations are left out). Frames stay uint8."""
        if not self.episodes:
            raise OfflineDataError("no episodes: nothing to train on")
        return (np.concatenate([e.obs[:-1] for e in self.episodes]),
                np.concatenate([e.actions for e in self.episodes]))

    def returns_to_go(self, gamma: float) -> np.ndarray:
        """The discounted return from every step to its episode's end (``sum_j gamma^j r_{t+j}``), aligned
        with :meth:`transitions`: a Monte-Carlo estimate of the action value of each recorded action."""
        out = []
        for e in self.episodes:
            g, rtg = 0.0, np.empty(len(e), np.float64)
            for t in range(len(e) - 1, -1, -1):
                g = float(e.rewards[t]) + gamma * g
                rtg[t] = g
            out.append(rtg)
        return np.concatenate(out)


def storage_obs(spec: EnvSpec, obs: np.ndarray) -> np.ndarray:
    """Observations as stored: uint8 frames (exactly ``round(obs * 255)``) or float32."""
    if spec.frames_uint8:
        if np.asarray(obs).dtype == np.uint8:
            return np.asarray(obs)
        return np.rint(np.asarray(obs, np.float32) * 255.0).astype(np.uint8)
    return np.asarray(obs, np.float32)


def validate(data: OfflineData, source: str = "offline data") -> OfflineData:
    """Check every episode's shapes, dtypes, boundaries and values against ``data.spec``; raise
    :class:`OfflineDataError` naming the episode and the problem."""
    spec = data.spec
    obs_dtype = np.uint8 if spec.frames_uint8 else np.float32
    if not data.episodes:
        raise OfflineDataError(f"{source}: holds no episodes")
    for i, ep in enumerate(data.episodes):
        where = f"{source}, episode {i}"
        t = len(ep.actions)
        if t < 1:
            raise OfflineDataError(f"{where}: has no steps")
        if ep.obs.shape != (t + 1, *spec.obs_shape):
            raise OfflineDataError(f"{where}: observations have shape {ep.obs.shape}, expected "
                                   f"{(t + 1, *spec.obs_shape)} ({t} actions + the final observation, "
                                   f"{spec.env_id} observes {spec.obs_shape})")
        if ep.obs.dtype != obs_dtype:
            raise OfflineDataError(f"{where}: observations are {ep.obs.dtype}, expected {np.dtype(obs_dtype)}")
        if isinstance(spec.action_space, Discrete):
            if ep.actions.shape != (t,) or not np.issubdtype(ep.actions.dtype, np.integer):
                raise OfflineDataError(f"{where}: discrete actions must be integers of shape ({t},), got "
                                       f"{ep.actions.dtype} {ep.actions.shape}")
            if ep.actions.min() < 0 or ep.actions.max() >= spec.action_space.n:
                raise OfflineDataError(f"{where}: actions outside 0..{spec.action_space.n - 1}")
        elif ep.actions.shape != (t, spec.action_space.dim) or not np.issubdtype(ep.actions.dtype, np.floating):
            raise OfflineDataError(f"{where}: continuous actions must be floats of shape ({t}, "
                                   f"{spec.action_space.dim}), got {ep.actions.dtype} {ep.actions.shape}")
        for name in ("rewards", "terminations", "truncations"):
            if getattr(ep, name).shape != (t,):
                raise OfflineDataError(f"{where}: {name} have shape {getattr(ep, name).shape}, expected ({t},)")
        for name, arr in (("observations", ep.obs), ("actions", ep.actions), ("rewards", ep.rewards)):
            if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
                raise OfflineDataError(f"{where}: {name} contain NaN or infinite values")
        ended = np.logical_or(ep.terminations, ep.truncations)
        if not ended[-1]:
            raise OfflineDataError(f"{where}: its last step neither terminates nor truncates (a cut-off episode)")
        if ended[:-1].any():
            raise OfflineDataError(f"{where}: ends at step {int(np.flatnonzero(ended)[0])} before its last step "
                                   f"{t - 1} (episodes must be split at every end)")
    return data


@contextmanager
def _datasets_root(root: str | os.PathLike | None):
    old = os.environ.get("MINARI_DATASETS_PATH")
    if root is not None:
        os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if root is not None and old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        elif root is not None:
            os.environ["MINARI_DATASETS_PATH"] = old


def _minari():
    try:
        import minari
    except ImportError as e:  # pragma: no cover - minari is a dependency
        raise ImportError("offline data needs Minari: pip install 'minari[hdf5]>=0.5,<0.6'") from e
    return minari


def _spaces(spec: EnvSpec):
    import gymnasium as gym

    obs_space = (gym.spaces.Box(0, 255, spec.obs_shape, np.uint8) if spec.frames_uint8
                 else gym.spaces.Box(-np.inf, np.inf, spec.obs_shape, np.float32))
    space = spec.action_space
    action_space = (gym.spaces.Discrete(space.n) if isinstance(space, Discrete)
                    else gym.spaces.Box(np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)))
    return obs_space, action_space


def write_minari(data: OfflineData, root: str | os.PathLike, dataset_id: str, *, description: str = "",
                 algorithm_name: str | None = None) -> Path:
    """Write ``data`` as the Minari dataset ``dataset_id`` (``namespace/name-v0``) under ``root``; returns
    its directory. Refuses to overwrite an existing dataset."""
    minari = _minari()
    from minari.data_collector import EpisodeBuffer

    validate(data, "the data to write")
    path = Path(root) / dataset_id
    if path.exists():
        raise OfflineDataError(f"{path} exists: Minari datasets are not overwritten (remove it or choose another id)")
    buffers = [EpisodeBuffer(id=i, observations=ep.obs, actions=ep.actions, rewards=ep.rewards.astype(np.float64),
                             terminations=ep.terminations.astype(bool), truncations=ep.truncations.astype(bool),
                             infos={"level_seed": np.full(len(ep) + 1, ep.level_seed, np.int64)})
               for i, ep in enumerate(data.episodes)]
    obs_space, action_space = _spaces(data.spec)
    text = f"{description}\n{DESCRIPTION_TAG}{json.dumps(data.spec.to_dict())}"
    # Absolute: Minari 0.5.4 joins a relative datasets root onto the dataset's own relative path a second time.
    with _datasets_root(Path(root).absolute()), warnings.catch_warnings():
        # Minari warns of every optional field left empty (permalink, author email, evaluation env, Gymnasium
        # env spec: a JAX environment has none): the environment's spec is in the description instead.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"minari\.")
        try:
            minari.create_dataset_from_buffers(dataset_id, buffers, observation_space=obs_space,
                                               action_space=action_space, algorithm_name=algorithm_name,
                                               author="jaxdistill", description=text, data_format="hdf5",
                                               jpeg_encoding=False)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)  # ours (it did not exist): no half dataset is left to read
            raise
    return path


def _open(source: str | os.PathLike):
    """A MinariDataset from a path (a dataset directory or its ``data`` folder) or an id."""
    minari = _minari()
    path = Path(source)
    for candidate in (path, path / "data"):
        if (candidate / "main_data.hdf5").is_file() and (candidate / "metadata.json").is_file():
            try:
                return minari.MinariDataset(candidate), str(candidate)
            except Exception as e:
                raise OfflineDataError(f"{candidate}: not a readable Minari dataset: {e}") from e
    if path.exists():
        raise OfflineDataError(f"{path}: not a Minari dataset (expected data/main_data.hdf5 and data/metadata.json)")
    try:
        return minari.load_dataset(str(source)), str(source)
    except Exception as e:
        raise OfflineDataError(f"{source!r} is neither a Minari dataset directory nor a local Minari dataset id "
                               f"({e}); list local ids with `minari list local`") from e


def read_minari(source: str | os.PathLike, spec: EnvSpec | None = None) -> OfflineData:
    """Every episode of a Minari dataset (path or id), validated.

    The environment spec is the one jaxdistill wrote into the description, or else ``spec``, or else one
    built from the dataset's spaces (Box observations, Discrete or Box actions). With ``spec`` given, the
    data must fit it (observation shape, action space)."""
    dataset, where = _open(source)
    stored = None
    description = str(dataset.storage.metadata.get("description") or "")
    if DESCRIPTION_TAG in description:
        stored = EnvSpec.from_dict(json.loads(description.split(DESCRIPTION_TAG, 1)[1]))
    if stored is None:
        stored = spec or _spec_from_spaces(dataset, where)
    if spec is not None:
        if tuple(spec.obs_shape) != tuple(stored.obs_shape) or spec.action_space != stored.action_space:
            raise OfflineDataError(f"{where}: recorded on {stored.env_id} (observations {stored.obs_shape}, actions "
                                   f"{stored.action_space}) but used with {spec.env_id} (observations "
                                   f"{spec.obs_shape}, actions {spec.action_space})")
    episodes = []
    try:
        for ep in dataset.iterate_episodes():
            seeds = (ep.infos or {}).get("level_seed")
            episodes.append(Episode(obs=np.asarray(ep.observations), actions=np.asarray(ep.actions),
                                    rewards=np.asarray(ep.rewards, np.float32),
                                    terminations=np.asarray(ep.terminations, bool),
                                    truncations=np.asarray(ep.truncations, bool),
                                    level_seed=int(seeds[0]) if seeds is not None and len(seeds) else -1))
    except OfflineDataError:
        raise
    except Exception as e:  # h5py / Minari errors on a damaged file
        raise OfflineDataError(f"{where}: could not read its episodes: {e}") from e
    data = OfflineData(stored, episodes)
    if stored.frames_uint8 is False:
        for ep in data.episodes:
            if np.issubdtype(ep.obs.dtype, np.floating):
                ep.obs = ep.obs.astype(np.float32)
    if isinstance(stored.action_space, Discrete):
        for ep in data.episodes:
            if np.issubdtype(ep.actions.dtype, np.integer):
                ep.actions = ep.actions.astype(np.int64)
    else:
        for ep in data.episodes:
            ep.actions = ep.actions.astype(np.float32)
    return validate(data, where)


def _spec_from_spaces(dataset, where: str) -> EnvSpec:
    import gymnasium as gym

    obs_space, action_space = dataset.observation_space, dataset.action_space
    if not isinstance(obs_space, gym.spaces.Box):
        raise OfflineDataError(f"{where}: observations are {obs_space}; only Box observations are supported")
    if isinstance(action_space, gym.spaces.Discrete):
        actions = Discrete(int(action_space.n))
    elif isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        actions = Box(action_space.low, action_space.high)
    else:
        raise OfflineDataError(f"{where}: actions are {action_space}; only Discrete and 1-D Box actions are supported")
    env_id = getattr(dataset.spec, "env_spec", None)
    env_id = getattr(env_id, "id", None) or getattr(dataset.spec, "dataset_id", "offline")
    frames = obs_space.dtype == np.uint8 and len(obs_space.shape) == 3
    return EnvSpec(env_id=str(env_id), obs_shape=obs_space.shape, action_space=actions,
                   max_episode_steps=int(dataset.spec.total_steps), frames_uint8=frames)
