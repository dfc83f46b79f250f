"""Action distributions: what a policy network's outputs mean (after Brax's ``ParametricDistribution``).

A policy is a network whose raw outputs, together with the distribution's own parameters
(``extra``: nothing for a categorical, the state-independent log standard deviations for a
Gaussian), give the distribution's parameters (:meth:`params`). Rollouts, the PPO and PPMO losses,
evaluation and the host loop only call these methods, so none of them knows which one it has.

The inner objective of distillation (:meth:`label_loss`) regresses the learner's raw outputs onto
the dataset's labels with MSE for both: soft labels are logits for a categorical policy and means
for a Gaussian one.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from jaxdistill.envs.spec import Box, Discrete, EnvSpec


def mse(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean over all k x num_outputs elements of the squared error (the inner objective)."""
    return jnp.mean(jnp.square(outputs - labels))


@dataclasses.dataclass(frozen=True)
class Categorical:
    """Softmax over ``n`` logits."""

    n: int
    discrete: ClassVar[bool] = True
    """Actions are classes (behavioural-cloning targets are action indices or probability rows)."""

    @property
    def num_outputs(self) -> int:
        return self.n

    def init_extra(self) -> tuple:
        return ()

    def params(self, outputs: jax.Array, extra: Any = ()) -> jax.Array:
        return outputs

    def sample(self, key: jax.Array, logits: jax.Array) -> jax.Array:
        return jax.random.categorical(key, logits)

    def log_prob(self, logits: jax.Array, actions: jax.Array) -> jax.Array:
        log_p = jax.nn.log_softmax(logits, axis=-1)
        return jnp.take_along_axis(log_p, actions[..., None].astype(jnp.int32), axis=-1)[..., 0]

    def entropy(self, logits: jax.Array) -> jax.Array:
        log_p = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)

    def mode(self, logits: jax.Array) -> jax.Array:
        return jnp.argmax(logits, axis=-1)

    def label_loss(self, outputs: jax.Array, labels: jax.Array) -> jax.Array:
        return mse(outputs, labels)

    def bc_loss(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        """Behavioural cloning: mean cross-entropy of the logits against actions (integers) or against
        target distributions (rows of probabilities, e.g. one-hot labels)."""
        log_p = jax.nn.log_softmax(outputs, axis=-1)
        if jnp.issubdtype(targets.dtype, jnp.integer):
            return -jnp.mean(jnp.take_along_axis(log_p, targets[..., None].astype(jnp.int32), axis=-1))
        return -jnp.mean(jnp.sum(targets * log_p, axis=-1))


@dataclasses.dataclass(frozen=True)
class DiagGaussian:
    """Independent normals per action dimension: means from the network, a state-independent
    log standard deviation per dimension (``extra``), as in CleanRL's and rejax's continuous PPO.

    Samples are unbounded; the environment clips them to its bounds (:class:`~jaxdistill.envs.core.GymnaxEnv`),
    and the stored log-probability is that of the unclipped sample."""

    dim: int
    init_log_std: float = 0.0
    discrete: ClassVar[bool] = False

    @property
    def num_outputs(self) -> int:
        return self.dim

    def init_extra(self) -> jax.Array:
        return jnp.full((self.dim,), self.init_log_std, jnp.float32)

    def params(self, outputs: jax.Array, log_std: jax.Array) -> tuple[jax.Array, jax.Array]:
        return outputs, jnp.broadcast_to(log_std, outputs.shape)

    def sample(self, key: jax.Array, params) -> jax.Array:
        mean, log_std = params
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)

    def log_prob(self, params, actions: jax.Array) -> jax.Array:
        mean, log_std = params
        z = (actions - mean) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * jnp.square(z) - log_std - 0.5 * math.log(2 * math.pi), axis=-1)

    def entropy(self, params) -> jax.Array:
        _, log_std = params
        return jnp.sum(log_std + 0.5 * math.log(2 * math.pi * math.e), axis=-1)

    def mode(self, params) -> jax.Array:
        return params[0]

    def label_loss(self, outputs: jax.Array, labels: jax.Array) -> jax.Array:
        return mse(outputs, labels)

    def bc_loss(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        """Behavioural cloning: MSE of the predicted means against the recorded actions (the Gaussian
        log-likelihood with a fixed std, up to scale and a constant)."""
        return mse(outputs, targets)


ActionDist = Categorical | DiagGaussian


def for_spec(spec: EnvSpec, init_log_std: float = 0.0) -> ActionDist:
    """The action distribution of an environment's action space."""
    space = spec.action_space
    if isinstance(space, Discrete):
        return Categorical(space.n)
    if isinstance(space, Box):
        return DiagGaussian(space.dim, init_log_std)
    raise TypeError(f"no action distribution for {space!r}")
