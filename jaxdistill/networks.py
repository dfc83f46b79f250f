"""Learner and critic networks.

A learner is an MLP described by a :class:`LearnerSpec` (architecture *and* initialisation), so
every learner distribution in the paper (Λ, orthogonal std 1, Xavier, random width or depth) is
configuration rather than code. The training code only uses ``spec.init_params(key, obs_shape, out_dim)``
and ``spec.apply(params, obs)``, so another learner family (a CNN for images) is another spec. Parameters are plain pytrees of ``{"w", "b"}`` layers, which keeps
``jax.vmap`` over thousands of fresh initialisations and ``jax.grad`` through the inner SGD step
simple.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import jax
import jax.numpy as jnp

InitScheme = Literal["orthogonal", "xavier_uniform", "xavier_normal"]
Activation = Literal["tanh", "relu"]

_ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu}


@dataclasses.dataclass(frozen=True)
class LearnerSpec:
    """An MLP architecture plus the way its weights are initialised.

    The default is the paper's Λ: two tanh hidden layers of 64 units, orthogonal weights with gain
    sqrt(2) on hidden layers and 0.01 on the output layer, zero biases.
    """

    hidden_sizes: tuple[int, ...] = (64, 64)
    """Width of each hidden layer; ``()`` is a linear learner."""
    activation: Activation = "tanh"
    """Hidden-layer non-linearity."""
    init: InitScheme = "orthogonal"
    """Weight initialiser; gains below scale its standard deviation."""
    hidden_gain: float = math.sqrt(2.0)
    """Gain (std multiplier) of every hidden layer's weights."""
    output_gain: float = 0.01
    """Gain of the output layer's weights."""

    def __post_init__(self):
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        if any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden sizes must be >= 1, got {self.hidden_sizes}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; use one of {list(_ACTIVATIONS)}")
        if self.init not in ("orthogonal", "xavier_uniform", "xavier_normal"):
            raise ValueError(f"unknown init scheme {self.init!r}")

    def init_params(self, key: jax.Array, obs_shape: tuple[int, ...], out_dim: int) -> list[dict]:
        """Fresh parameters for observations of ``obs_shape`` and ``out_dim`` raw outputs."""
        if len(obs_shape) != 1:
            raise ValueError(f"an MLP learner takes vector observations, got shape {tuple(obs_shape)}")
        return init_mlp(key, self, int(obs_shape[0]), out_dim)

    def apply(self, params: list[dict], obs: jax.Array) -> jax.Array:
        """Raw outputs (logits / regression targets) for a batch of observations."""
        return mlp_apply(params, obs, self.activation)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LearnerSpec":
        d = dict(d)
        d["hidden_sizes"] = tuple(d.get("hidden_sizes", ()))
        return cls(**d)


CRITIC_SPEC = LearnerSpec(hidden_sizes=(64, 64), output_gain=1.0)
"""Huang et al.'s critic: 2x64 tanh, orthogonal init, gain sqrt(2) hidden and 1 on the output."""


def _weight_init(scheme: InitScheme, gain: float):
    if scheme == "orthogonal":
        return jax.nn.initializers.orthogonal(scale=gain)
    distribution = "uniform" if scheme == "xavier_uniform" else "truncated_normal"
    return jax.nn.initializers.variance_scaling(gain**2, "fan_avg", distribution)


def init_mlp(key: jax.Array, spec: LearnerSpec, in_dim: int, out_dim: int) -> list[dict]:
    """Fresh parameters for ``spec`` mapping ``in_dim`` features to ``out_dim`` outputs."""
    sizes = (in_dim, *spec.hidden_sizes, out_dim)
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, (k, fan_in, fan_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        is_output = i == len(sizes) - 2
        gain = spec.output_gain if is_output else spec.hidden_gain
        w = _weight_init(spec.init, gain)(k, (fan_in, fan_out), jnp.float32)
        layers.append({"w": w, "b": jnp.zeros((fan_out,), jnp.float32)})
    return layers


def mlp_apply(params: list[dict], x: jax.Array, activation: Activation = "tanh") -> jax.Array:
    """Forward pass; hidden layers use ``activation``, the output layer is linear."""
    act = _ACTIVATIONS[activation]
    for layer in params[:-1]:
        x = act(x @ layer["w"] + layer["b"])
    last = params[-1]
    return x @ last["w"] + last["b"]


def sample_learners(key: jax.Array, spec: LearnerSpec, obs_shape: tuple[int, ...], out_dim: int, num: int):
    """``num`` independent initialisations of ``spec``, stacked on a leading axis."""
    return jax.vmap(lambda k: spec.init_params(k, obs_shape, out_dim))(jax.random.split(key, num))


def num_params(params) -> int:
    return sum(int(x.size) for x in jax.tree_util.tree_leaves(params))
