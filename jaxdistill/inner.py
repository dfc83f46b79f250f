"""Inner learning: one SGD step of a learner on the synthetic dataset."""

from __future__ import annotations

from typing import Callable

import jax

from jaxdistill.dataset import SyntheticDataset
from jaxdistill.losses import inner_mse_loss
from jaxdistill.networks import sample_learners


def inner_train(learner_params, dataset: SyntheticDataset, apply_fn: Callable):
    """``params - inner_lr * grad MSE(apply_fn(params, X), Y)``, differentiable in the dataset."""

    def loss(params):
        return inner_mse_loss(apply_fn(params, dataset.x), dataset.y)

    grads = jax.grad(loss)(learner_params)
    return jax.tree_util.tree_map(lambda p, g: p - dataset.inner_lr * g, learner_params, grads)


def train_fresh_learners(key: jax.Array, spec, obs_shape: tuple[int, ...], num_actions: int, num: int,
                         dataset: SyntheticDataset, encoder_params=()):
    """``num`` fresh learners of ``spec`` and each one after its inner step on the dataset.

    The instances go through ``spec``'s encoder first (a no-op without one), so the learners, the
    layers after the encoder, train on encoded images. Returns ``(inits, trained)``, stacked on a
    leading learner axis."""
    inits = sample_learners(key, spec, obs_shape, num_actions, num)
    encoded = dataset.replace(x=spec.encode(encoder_params, dataset.x))
    return inits, jax.vmap(lambda p: inner_train(p, encoded, spec.apply))(inits)
