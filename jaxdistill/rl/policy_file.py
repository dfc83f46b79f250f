"""A trained policy as a portable file: what an expert needs to act again after its run has ended.

``save_policy(directory, ...)`` writes ``policy.npz`` (the actor's parameters, one array per leaf named by
its path, e.g. ``[0]['w']``; ``log_std`` for a Gaussian actor; ``obs_mean``/``obs_std`` when it sees
normalised observations) and ``metadata.json`` (the environment, the actor's spec and the training
config). :func:`load_policy` rebuilds it as a :class:`SavedPolicy` whose ``policy(params, obs)`` gives
distribution parameters, the signature every episode runner takes. PPO writes one at the end of every
run (``<run-dir>/policy``); the offline pipeline rolls such a policy out as its expert.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxdistill.envs.spec import EnvSpec
from jaxdistill.nets.networks import ConvSpec, LearnerSpec, spec_from_dict
from jaxdistill.policy.distributions import for_spec
from jaxdistill.rl import normalize
from jaxdistill.rl.normalize import ObsNorm


class PolicyFileError(ValueError):
    """A policy file is missing, malformed or does not fit the environment it is used with."""


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: episode runners cache its jitted policy
class SavedPolicy:
    env_spec: dict
    """The environment it was trained on (``EnvSpec.to_dict()``)."""
    spec: LearnerSpec | ConvSpec
    params: Any
    """``(actor parameters, log std or (), frozen observation statistics or ())``."""
    dist: Any
    metadata: dict

    def policy(self, params, obs: jax.Array):
        actor, extra, obs_norm = params
        return self.dist.params(self.spec.apply(actor, normalize.apply(obs_norm, obs)), extra)


def _leaf_names(tree) -> list[str]:
    return [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def save_policy(directory: str | os.PathLike, *, env_spec: EnvSpec, spec: LearnerSpec | ConvSpec, actor, log_std=(),
                obs_norm=(), config: dict | None = None, extra: dict | None = None) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    leaves = jax.tree_util.tree_leaves(actor)
    arrays = {f"params{name}": np.asarray(leaf, np.float32) for name, leaf in zip(_leaf_names(actor), leaves)}
    if np.size(log_std):
        arrays["log_std"] = np.asarray(log_std, np.float32)
    if isinstance(obs_norm, ObsNorm):
        arrays["obs_mean"] = np.asarray(obs_norm.mean, np.float32)
        arrays["obs_std"] = np.asarray(obs_norm.std, np.float32)
    np.savez(directory / "policy.npz", **arrays)
    metadata = {"env_id": env_spec.env_id, "environment": env_spec.to_dict(), "actor_spec": spec.to_dict(),
                "actor_recipe": spec.recipe(), **({"obs_clip": float(obs_norm.clip)} if isinstance(obs_norm, ObsNorm)
                                                  else {}),
                "config": config or {}, **(extra or {})}
    (directory / "metadata.json").write_text(json.dumps(metadata, indent=2, default=str) + "\n")
    return directory


def load_policy(directory: str | os.PathLike, env_spec: EnvSpec | None = None) -> SavedPolicy:
    """The policy saved in ``directory`` (a PPO run directory's ``policy/`` or the run directory itself);
    with ``env_spec``, it must fit that environment's observations and actions."""
    path = Path(directory)
    if not (path / "policy.npz").is_file() and (path / "policy" / "policy.npz").is_file():
        path = path / "policy"
    npz, meta = path / "policy.npz", path / "metadata.json"
    if not npz.is_file() or not meta.is_file():
        raise PolicyFileError(f"{directory}: no policy.npz + metadata.json (a PPO run writes them to <run-dir>/policy)")
    try:
        metadata = json.loads(meta.read_text())
        spec = spec_from_dict(metadata["actor_spec"])
        with np.load(npz, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except Exception as e:
        raise PolicyFileError(f"{path}: unreadable policy file: {e}") from e
    trained_on = EnvSpec.from_dict(metadata["environment"])
    if env_spec is not None and (tuple(env_spec.obs_shape) != tuple(trained_on.obs_shape)
                                 or env_spec.action_space != trained_on.action_space):
        raise PolicyFileError(f"{path}: trained on {trained_on.env_id} (observations {trained_on.obs_shape}, actions "
                              f"{trained_on.action_space}); it cannot act in {env_spec.env_id} (observations "
                              f"{env_spec.obs_shape}, actions {env_spec.action_space})")
    dist = for_spec(trained_on)
    template = spec.init_params(jax.random.PRNGKey(0), trained_on.obs_shape, dist.num_outputs)
    names = _leaf_names(template)
    missing = [n for n in names if f"params{n}" not in arrays]
    if missing:
        raise PolicyFileError(f"{npz}: lacks parameters {missing[:3]} of the actor its metadata describes")
    leaves = []
    for name, like in zip(names, jax.tree_util.tree_leaves(template)):
        arr = arrays[f"params{name}"]
        if arr.shape != like.shape or not np.all(np.isfinite(arr)):
            raise PolicyFileError(f"{npz}: parameter {name} has shape {arr.shape} (expected {like.shape}) or "
                                  "non-finite values")
        leaves.append(jnp.asarray(arr))
    actor = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), leaves)
    log_std = jnp.asarray(arrays["log_std"]) if "log_std" in arrays else ()
    obs_norm = (ObsNorm(mean=jnp.asarray(arrays["obs_mean"]), std=jnp.asarray(arrays["obs_std"]),
                        clip=float(metadata.get("obs_clip", 10.0))) if "obs_mean" in arrays else ())
    return SavedPolicy(env_spec=metadata["environment"], spec=spec, params=(actor, log_std, obs_norm), dist=dist,
                       metadata=metadata)
