"""Inner learning: one SGD step of a learner on the synthetic dataset."""

from __future__ import annotations

from typing import Callable

import jax

from jaxdistill.dataset import SyntheticDataset
from jaxdistill.losses import inner_mse_loss


def inner_train(learner_params, dataset: SyntheticDataset, apply_fn: Callable):
    """``params - inner_lr * grad MSE(apply_fn(params, X), Y)``, differentiable in the dataset."""

    def loss(params):
        return inner_mse_loss(apply_fn(params, dataset.x), dataset.y)

    grads = jax.grad(loss)(learner_params)
    return jax.tree_util.tree_map(lambda p, g: p - dataset.inner_lr * g, learner_params, grads)
