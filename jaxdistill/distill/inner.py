"""Inner learning: one SGD step of a learner on the synthetic dataset."""

from __future__ import annotations

from typing import Callable

import jax

from jaxdistill.distill.dataset import SyntheticDataset
from jaxdistill.nets.networks import sample_learners
from jaxdistill.policy.distributions import mse


def inner_train(learner_params, dataset: SyntheticDataset, apply_fn: Callable, label_loss: Callable = mse):
    """``params - inner_lr * grad label_loss(apply_fn(params, X), Y)``, differentiable in the dataset.

    ``label_loss`` is the action distribution's (MSE onto the soft labels, for both kinds)."""

    def loss(params):
        return label_loss(apply_fn(params, dataset.x), dataset.y)

    grads = jax.grad(loss)(learner_params)
    return jax.tree_util.tree_map(lambda p, g: p - dataset.inner_lr * g, learner_params, grads)


def train_fresh_learners(key: jax.Array, spec, obs_shape: tuple[int, ...], num_outputs: int, num: int,
                         dataset: SyntheticDataset, encoder_params=(), label_loss: Callable = mse):
    """``num`` fresh learners of ``spec`` and each one after its inner step on the dataset.

    The instances go through ``spec``'s encoder first (a no-op without one), so the learners, the
    layers after the encoder, train on encoded images. Returns ``(inits, trained)``, stacked on a
    leading learner axis."""
    inits = sample_learners(key, spec, obs_shape, num_outputs, num)
    encoded = dataset.replace(x=spec.encode(encoder_params, dataset.x))
    return inits, jax.vmap(lambda p: inner_train(p, encoded, spec.apply, label_loss))(inits)
