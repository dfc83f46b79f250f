"""The synthetic dataset {X, Y, inner_lr (, log_std)} and its portable file format.

On disk a dataset is a directory holding

* ``dataset.npz``: float32 ``x`` of shape (k, obs_dim), float32 ``y`` of shape (k, num_actions)
  and a float32 scalar ``inner_lr`` (with per-step rates, ``inner_training.per_step_lr``, one per inner
  step: shape ``(inner_steps,)``); for continuous actions also ``log_std`` (action_dim,), the learned
  log standard deviation of the learners' Gaussian policy (``y`` are then the *means* the learner
  regresses); when learners see normalised observations also ``obs_mean`` and ``obs_std`` (obs_dim,):
  a learner's input is ``clip((obs - obs_mean) / obs_std, -obs_clip, obs_clip)`` (``obs_clip`` in the
  metadata), for ``x`` as for the environment's observations (``x`` already lives in that space);
* ``metadata.json``: the environment id, ``n_dims``, ``obs_dim``, ``num_actions``, ``k``, the
  action space (``action_type`` discrete/box; ``action_low``/``action_high`` for a box), the learner
  spec it was distilled for, the training configuration and the package version.

Training a learner on it takes ``inner_steps`` (metadata; 1 by default, the paper's protocol) SGD steps,
each ``params -= inner_lr * grad(mean((f(params, x) - y)**2))`` with the mean over all k x num_actions
elements (``inner_training`` in the metadata names the other protocols, hard labels with cross-entropy and
HaDES' BC: :class:`jaxdistill.learn.inner.InnerTraining`); the policy is the argmax (or softmax) of f, or for
continuous actions N(f(obs), exp(log_std)) (the mean f(obs) when acting deterministically), clipped
to the action bounds by the environment.

Image datasets keep X in the observation's shape, ``(k, *obs_shape)``. A dataset distilled with
encoder rollback (``learner_spec.encoder_layers > 0``) also holds ``encoder.npz``: the trained
encoder layers (``layer<i>_w``, ``layer<i>_b``) that a fresh learner's remaining layers sit on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxdistill.rl.normalize import ObsNorm

FORMAT_VERSION = 1


class DatasetFileError(ValueError):
    """A dataset file is missing, malformed, or does not fit what the caller expects."""


@struct.dataclass
class SyntheticDataset:
    x: jax.Array  # (k, obs_dim)
    y: jax.Array  # (k, num_actions) soft labels, regressed with MSE
    inner_lr: jax.Array  # () learned step size of the inner SGD step
    log_std: jax.Array | tuple = ()  # (action_dim,) a Gaussian policy's learned log std; () for discrete actions

    @property
    def k(self) -> int:
        return int(self.x.shape[0])


def init_dataset(
    key: jax.Array,
    k: int,
    obs_shape: tuple[int, ...],
    num_actions: int,
    inner_lr: float = 0.02,
    x_scale: float = 1.0,
    y_scale: float = 1.0,
    log_std=(),
    hard: bool = False,
    states: jax.Array | None = None,
) -> SyntheticDataset:
    """Gaussian instances and labels; ``inner_lr`` starts at the paper's 0.02; ``log_std`` is the
    action distribution's initial extra parameters (a Gaussian's log std, ``()`` for a categorical).

    ``hard``: the labels are :func:`hard_labels` instead; ``states`` (N, *obs_shape): X is k of these recorded
    states, drawn uniformly (without replacement when N >= k) from a fold of ``key`` of their own, so the
    other draws are those of the default."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    kx, ky = jax.random.split(key)
    x = x_scale * jax.random.normal(kx, (k, *obs_shape), jnp.float32)
    if states is not None:
        n = states.shape[0]
        x = states[jax.random.choice(jax.random.fold_in(key, 3), n, (k,), replace=n < k)].astype(jnp.float32)
    return SyntheticDataset(
        x=x,
        y=hard_labels(k, num_actions) if hard else y_scale * jax.random.normal(ky, (k, num_actions), jnp.float32),
        inner_lr=jnp.asarray(inner_lr, jnp.float32),
        log_std=log_std,
    )


def inner_lr_value(inner_lr) -> float | list[float]:
    """The learned inner lr for JSON and logs: a number, or a list of per-step rates."""
    value = np.asarray(inner_lr, np.float64)
    return float(value) if value.ndim == 0 else value.tolist()


def format_inner_lr(inner_lr, digits: int = 3) -> str:
    """The learned inner lr as text: ``0.123``, or ``[0.1, 0.2, 0.3]`` for per-step rates."""
    value = inner_lr_value(inner_lr)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "[" + ", ".join(f"{v:.{digits}f}" for v in value) + "]"


def hard_labels(k: int, num_classes: int) -> jax.Array:
    """Fixed one-hot labels, balanced over the classes (instance i is class i mod num_classes)."""
    return jax.nn.one_hot(jnp.arange(k) % num_classes, num_classes, dtype=jnp.float32)


INNER_STEP_DISCRETE = ("params -= inner_lr * grad(mean((f(params, x) - y) ** 2)), the mean over all k x num_actions "
                       "elements, from freshly initialised params, once; the policy is argmax (greedy) or softmax "
                       "(sampled) of f")
INNER_STEP_CONTINUOUS = ("params -= inner_lr * grad(mean((f(params, x) - y) ** 2)), the mean over all k x action_dim "
                         "elements, from freshly initialised params, once; the policy is N(f(s), exp(log_std)) per "
                         "action dimension (its mean f(s) when deterministic), actions clipped to "
                         "[action_low, action_high]; with obs_mean/obs_std, f sees "
                         "clip((obs - obs_mean) / obs_std, -obs_clip, obs_clip)")


def _action_metadata(env_spec) -> dict:
    space = env_spec.to_dict()["action_space"]
    if space["type"] == "discrete":
        return {"action_type": "discrete"}
    return {"action_type": "box", "action_low": space["low"], "action_high": space["high"]}


def _package_version() -> str:
    from jaxdistill import __version__

    return __version__


def save_dataset(
    directory: str | os.PathLike,
    dataset: SyntheticDataset,
    *,
    env_spec,
    learner_spec,
    config: dict | None = None,
    extra: dict | None = None,
    encoder_params: list[dict] | None = None,
    obs_norm=(),
    inner_step: str | None = None,
) -> Path:
    """Write ``dataset.npz`` and ``metadata.json`` (and ``encoder.npz`` for a non-empty encoder)
    into ``directory``; returns the directory.

    ``env_spec`` is the :class:`~jaxdistill.envs.spec.EnvSpec` the dataset was distilled on and
    ``learner_spec`` the learner's (``LearnerSpec`` / ``ConvSpec``): the metadata spells out everything
    a learner written in another framework needs (:meth:`recipe`), biases and layouts included.
    ``inner_step`` describes how a learner trains on the set when it is not PPMO's one SGD step (a
    gradient-matching set's students take Adam steps of behavioural cloning)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    x = np.asarray(dataset.x, np.float32)
    y = np.asarray(dataset.y, np.float32)
    inner_lr = np.asarray(dataset.inner_lr, np.float32)  # () or, with per-step rates, (inner_steps,)
    arrays = {"x": x, "y": y, "inner_lr": inner_lr}
    continuous = bool(np.size(dataset.log_std))
    if continuous:
        arrays["log_std"] = np.asarray(dataset.log_std, np.float32)
    if isinstance(obs_norm, ObsNorm):
        arrays["obs_mean"] = np.asarray(obs_norm.mean, np.float32)
        arrays["obs_std"] = np.asarray(obs_norm.std, np.float32)
    bad = [name for name, a in arrays.items() if not np.all(np.isfinite(a))]
    if bad:  # load_dataset refuses such a file: never write one
        raise DatasetFileError(f"refusing to write {directory}: {', '.join(bad)} hold(s) NaN or infinite values")
    np.savez(directory / "dataset.npz", **arrays)
    if encoder_params:
        np.savez(directory / "encoder.npz", **{f"layer{i}_{name}": np.asarray(layer[name], np.float32)
                                               for i, layer in enumerate(encoder_params) for name in ("w", "b")})
    metadata = {
        "format_version": FORMAT_VERSION,
        "env_id": env_spec.env_id,
        "obs_dim": int(np.prod(x.shape[1:])),
        "obs_shape": list(x.shape[1:]),
        "num_actions": int(y.shape[1]),
        "k": int(x.shape[0]),
        "encoder_layers": len(encoder_params or []),
        "inner_lr": inner_lr_value(inner_lr),
        **_action_metadata(env_spec),
        **({"obs_clip": float(obs_norm.clip)} if isinstance(obs_norm, ObsNorm) else {}),
        "environment": env_spec.to_dict(),
        "learner_spec": learner_spec.to_dict(),
        "learner_recipe": learner_spec.recipe(),
        "inner_step": inner_step or (INNER_STEP_CONTINUOUS if continuous else INNER_STEP_DISCRETE),
        "config": config or {},
        "jaxdistill_version": _package_version(),
        **(extra or {}),
    }
    # Strict JSON (no NaN / Infinity tokens): other languages' parsers must read it.
    (directory / "metadata.json").write_text(json.dumps(metadata, indent=2, default=str, ensure_ascii=False,
                                                        allow_nan=False) + "\n")
    return directory


# The metadata fields a reader relies on, with their JSON types (bool is no int here).
METADATA_TYPES = {"env_id": (str,), "k": (int,), "obs_dim": (int,), "num_actions": (int,), "encoder_layers": (int,),
                  "obs_shape": (list,), "inner_lr": (int, float, list), "obs_clip": (int, float), "learner_spec": (dict,),
                  "environment": (dict,), "inner_training": (dict,), "action_type": (str,)}


def check_metadata(metadata, where, required: tuple[str, ...] = ()) -> None:
    """Refuse metadata that is not a JSON object, lacks a ``required`` field, or holds a field of the wrong type
    (:class:`DatasetFileError` naming the field, the type it has and the one expected)."""
    if not isinstance(metadata, dict):
        raise DatasetFileError(f"{where} must hold a JSON object, not a JSON {type(metadata).__name__}")
    missing = [key for key in required if key not in metadata]
    if missing:
        raise DatasetFileError(f"{where} lacks {', '.join(missing)}")
    for key, types in METADATA_TYPES.items():
        value = metadata.get(key)
        if key in metadata and (isinstance(value, bool) or not isinstance(value, types)):
            raise DatasetFileError(f"{where}: {key} is {value!r} (a JSON {type(value).__name__}), expected a "
                                   + " or ".join({"str": "string", "int": "integer", "float": "number", "list": "list",
                                                  "dict": "object"}[t.__name__] for t in types))


def load_dataset(
    directory: str | os.PathLike,
    *,
    expect_obs_dim: int | None = None,
    expect_num_actions: int | None = None,
    expect_obs_shape: tuple[int, ...] | None = None,
    expect_continuous: bool | None = None,
    require: tuple[str, ...] = (),
) -> tuple[SyntheticDataset, dict[str, Any]]:
    """Read and validate a dataset directory (or its ``dataset.npz``).

    Raises :class:`DatasetFileError` with a message naming the problem when the files are missing,
    arrays have the wrong shape or dtype, values are not finite, the arrays disagree with the
    metadata, or the dataset does not fit the expected observation/action sizes or kind of action
    (``expect_continuous``: a continuous-action task needs a dataset with ``log_std``, a discrete one
    a dataset without), or the metadata is not a JSON object with the right field types and every field in
    ``require``. The observation statistics, where the file has them, come from :func:`load_obs_norm`.
    """
    path = Path(directory)
    if path.is_file() and path.name == "dataset.npz":
        path = path.parent
    npz_path, meta_path = path / "dataset.npz", path / "metadata.json"
    for p in (npz_path, meta_path):
        if not p.is_file():
            raise DatasetFileError(f"{p} not found: a dataset directory holds dataset.npz and metadata.json")
    try:
        with np.load(npz_path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except Exception as e:  # zipfile/pickle/format errors
        raise DatasetFileError(f"{npz_path} is not a readable .npz file: {e}") from e
    try:
        metadata = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetFileError(f"{meta_path} is not valid JSON: {e}") from e
    check_metadata(metadata, meta_path, required=require)

    missing = {"x", "y", "inner_lr"} - set(arrays)
    if missing:
        raise DatasetFileError(f"{npz_path} lacks array(s) {sorted(missing)}; it holds {sorted(arrays)}")
    x, y, inner_lr = arrays["x"], arrays["y"], arrays["inner_lr"]
    optional = [(name, arrays[name]) for name in ("log_std", "obs_mean", "obs_std") if name in arrays]
    for name, arr in (("x", x), ("y", y), ("inner_lr", inner_lr), *optional):
        if arr.dtype != np.float32:
            raise DatasetFileError(f"{npz_path}: {name} has dtype {arr.dtype}, expected float32")
        if not np.all(np.isfinite(arr)):
            raise DatasetFileError(f"{npz_path}: {name} contains NaN or infinite values")
    if x.ndim < 2 or y.ndim != 2:
        raise DatasetFileError(
            f"{npz_path}: expected x of shape (k, obs_dim) and y of shape (k, num_actions), "
            f"got x {x.shape} and y {y.shape}"
        )
    if x.shape[0] != y.shape[0] or x.shape[0] < 1:
        raise DatasetFileError(f"{npz_path}: x has {x.shape[0]} instances but y has {y.shape[0]}")
    per_step = bool((metadata.get("inner_training") or {}).get("per_step_lr", False))
    steps = int(metadata.get("inner_steps", 1))
    if per_step and inner_lr.shape != (steps,):
        raise DatasetFileError(f"{npz_path}: inner_lr must hold one rate per inner step, shape ({steps},), got shape "
                               f"{inner_lr.shape}")
    if not per_step and inner_lr.shape != ():
        raise DatasetFileError(f"{npz_path}: inner_lr must be a scalar, got shape {inner_lr.shape}")
    obs_dim, num_actions = int(np.prod(x.shape[1:])), int(y.shape[1])
    continuous = "log_std" in arrays
    if continuous and arrays["log_std"].shape != (num_actions,):
        raise DatasetFileError(f"{npz_path}: log_std has shape {arrays['log_std'].shape}, expected ({num_actions},) "
                               "(one per action dimension)")
    if ("obs_mean" in arrays) != ("obs_std" in arrays):
        raise DatasetFileError(f"{npz_path}: obs_mean and obs_std come together; it holds only one of them")
    for name in ("obs_mean", "obs_std"):
        if name in arrays and arrays[name].shape != tuple(x.shape[1:]):
            raise DatasetFileError(f"{npz_path}: {name} has shape {arrays[name].shape}, expected {tuple(x.shape[1:])}")
    if "obs_std" in arrays and not np.all(arrays["obs_std"] > 0):
        raise DatasetFileError(f"{npz_path}: obs_std must be positive")
    declared = metadata.get("action_type")
    if declared is not None and declared != ("box" if continuous else "discrete"):
        raise DatasetFileError(f"{path}: metadata says action_type={declared!r} but the arrays "
                               f"{'hold' if continuous else 'lack'} log_std")
    if expect_continuous is not None and expect_continuous != continuous:
        kind, task = ("continuous-action", "discrete-action") if continuous else ("discrete-action", "continuous-action")
        raise DatasetFileError(f"{path}: a {kind} dataset (env {metadata.get('env_id')}) cannot train learners for "
                               f"a {task} task")
    for key, actual in (("k", x.shape[0]), ("obs_dim", obs_dim), ("num_actions", num_actions)):
        if key in metadata and int(metadata[key]) != actual:
            raise DatasetFileError(f"{path}: metadata says {key}={metadata[key]} but the arrays have {actual}")
    if expect_obs_dim is not None and obs_dim != expect_obs_dim:
        raise DatasetFileError(
            f"{path}: dataset instances have {obs_dim} features but the environment observes {expect_obs_dim} "
            f"(dataset env: {metadata.get('env_id')})"
        )
    if expect_obs_shape is not None and tuple(x.shape[1:]) != tuple(expect_obs_shape):
        raise DatasetFileError(
            f"{path}: dataset instances have shape {tuple(x.shape[1:])} but the environment observes "
            f"{tuple(expect_obs_shape)} (dataset env: {metadata.get('env_id')})"
        )
    if expect_num_actions is not None and num_actions != expect_num_actions:
        raise DatasetFileError(
            f"{path}: dataset labels have {num_actions} actions but the environment has {expect_num_actions} "
            f"(dataset env: {metadata.get('env_id')})"
        )
    dataset = SyntheticDataset(x=jnp.asarray(x), y=jnp.asarray(y), inner_lr=jnp.asarray(inner_lr),
                               log_std=jnp.asarray(arrays["log_std"]) if continuous else ())
    return dataset, metadata


def load_obs_norm(directory: str | os.PathLike) -> ObsNorm | tuple:
    """The frozen observation statistics saved with a dataset (``()`` when its learners see raw observations)."""
    path = Path(directory)
    if path.is_file():
        path = path.parent
    with np.load(path / "dataset.npz", allow_pickle=False) as data:
        if "obs_mean" not in data.files:
            return ()
        mean, std = jnp.asarray(data["obs_mean"]), jnp.asarray(data["obs_std"])
    metadata = json.loads((path / "metadata.json").read_text())
    return ObsNorm(mean=mean, std=std, clip=float(metadata.get("obs_clip", 10.0)))


def load_encoder(directory: str | os.PathLike) -> list[dict]:
    """The trained encoder saved beside a dataset (``[]`` for a dataset distilled without one)."""
    path = Path(directory)
    if path.is_file():
        path = path.parent
    metadata = json.loads((path / "metadata.json").read_text()) if (path / "metadata.json").is_file() else {}
    n = int(metadata.get("encoder_layers", 0))
    if n == 0:
        return []
    if not (path / "encoder.npz").is_file():
        raise DatasetFileError(f"{path}: metadata says encoder_layers={n} but encoder.npz is missing")
    with np.load(path / "encoder.npz", allow_pickle=False) as data:
        try:
            return [{"w": jnp.asarray(data[f"layer{i}_w"]), "b": jnp.asarray(data[f"layer{i}_b"])} for i in range(n)]
        except KeyError as e:
            raise DatasetFileError(f"{path}/encoder.npz lacks {e}; expected layer0..{n - 1} weights") from None
