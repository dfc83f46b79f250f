"""Inner learning: how a fresh learner trains on the synthetic dataset.

PPMO's default is the paper's one SGD step on the MSE to the soft labels. :class:`InnerTraining`
holds the other protocols of the paper's own script and of HaDES, as configuration that every
distiller, the k-shot evaluator and the dataset file share:

* ``steps = n``: n SGD steps at the learned inner lr, all on the whole set (the script's ``-i``); the
  meta-gradient goes through every one. ``per_step_lr``: each step has its own learned rate.
* ``labels = "hard"``: fixed one-hot classes and a cross-entropy inner loss (the script's
  ``--conditional``): only X (and the inner lr) is learned.
* ``kind = "bc"``: HaDES' behavioural cloning, ``steps`` full-batch Adam steps at ``bc_lr``;
  a categorical learner minimises the cross-entropy to ``softmax(Y)`` (Y are logits), a Gaussian
  one the MSE to Y (the means).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Literal

import jax
import jax.numpy as jnp
import optax

from jaxdistill.learn.dataset import SyntheticDataset
from jaxdistill.nets.networks import sample_learners
from jaxdistill.policy.distributions import mse


@dataclasses.dataclass(frozen=True)
class InnerTraining:
    """How a learner trains on the synthetic set; written into the dataset's metadata (``inner_training``)."""

    kind: Literal["sgd", "bc"] = "sgd"
    """sgd: plain SGD steps at the dataset's learned inner lr (PPMO, the paper); bc: HaDES' behavioural
    cloning, full-batch Adam steps at ``bc_lr`` (the learned inner lr is then unused)."""
    steps: int = 1
    """Inner steps, each on the whole set (the paper's script: ``-i``; HaDES' ``--epochs``)."""
    labels: Literal["soft", "hard"] = "soft"
    """soft: Y is learned; hard: Y is fixed one-hot classes (balanced: instance i is class i mod c) trained
    with cross-entropy, and only X is learned (the paper's script: ``--conditional``; discrete actions only)."""
    bc_lr: float = 0.03
    """Adam learning rate of ``kind = "bc"`` (HaDES' MinAtar default; Adam eps 1e-5 as theirs)."""
    per_step_lr: bool = False
    """sgd: every step has its own learned rate (the dataset's ``inner_lr`` has shape ``(steps,)``, step i
    taking ``inner_lr[i]``) instead of one rate shared by all steps."""

    def __post_init__(self):
        if self.kind not in ("sgd", "bc"):
            raise ValueError(f"inner training kind must be 'sgd' or 'bc', got {self.kind!r}")
        if self.labels not in ("soft", "hard"):
            raise ValueError(f"inner labels must be 'soft' or 'hard', got {self.labels!r}")
        if self.steps < 1:
            raise ValueError(f"inner steps must be >= 1, got {self.steps}")
        if self.kind == "bc" and not self.bc_lr > 0:
            raise ValueError(f"the BC learning rate must be > 0, got {self.bc_lr}")
        if self.per_step_lr and self.kind != "sgd":
            raise ValueError("per-step learned rates are SGD's; BC takes Adam steps at bc_lr")

    def initial_lr(self, value: float) -> jax.Array:
        """The dataset's initial ``inner_lr``: a scalar, or one rate per step with ``per_step_lr``."""
        shape = (self.steps,) if self.per_step_lr else ()
        return jnp.full(shape, value, jnp.float32)

    def loss(self, dist=None) -> Callable[[jax.Array, jax.Array], jax.Array]:
        """``loss(outputs, y)`` of the inner objective for ``dist`` (None: MSE, the paper's)."""
        if self.labels == "hard":
            if dist is None or not dist.discrete:
                raise ValueError("hard labels (cross-entropy to fixed classes) need a discrete action space")
            return dist.bc_loss  # Y holds one-hot rows
        if dist is None:
            return mse
        if self.kind == "bc" and dist.discrete:
            return lambda outputs, y: dist.bc_loss(outputs, jax.nn.softmax(y, axis=-1))
        return dist.label_loss

    def check(self, dist) -> None:
        """Fail early when this protocol does not fit ``dist``."""
        self.loss(dist)

    def describe(self) -> str:
        """The protocol in words, for the dataset file's ``inner_step``."""
        if self.kind == "sgd":
            step = ("params -= inner_lr[i] * grad(L(f(params, x), y)) at step i" if self.per_step_lr else
                    "params -= inner_lr * grad(L(f(params, x), y))")
        else:
            step = (f"one Adam step (lr {self.bc_lr:g}, b1 0.9, b2 0.999, eps 1e-5, one Adam state over the steps) "
                    "on grad(L(f(params, x), y))")
        loss = {("soft", "sgd"): "L = mean((f - y) ** 2) over all k x num_outputs elements",
                ("soft", "bc"): "L = mean over k of -sum(softmax(y) * log_softmax(f)) for discrete actions, "
                                "mean((f - y) ** 2) for continuous ones",
                ("hard", "sgd"): "L = mean over k of -sum(y * log_softmax(f)), y fixed one-hot classes",
                ("hard", "bc"): "L = mean over k of -sum(y * log_softmax(f)), y fixed one-hot classes"}[
            (self.labels, self.kind)]
        return f"{step}, {self.steps} time(s), from freshly initialised params, each on the whole set; {loss}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def metadata(self) -> dict:
        """The dataset file's entries: ``inner_training`` (this protocol) and ``inner_steps``."""
        return {"inner_training": self.to_dict(), "inner_steps": self.steps}

    @classmethod
    def from_metadata(cls, metadata: dict) -> "InnerTraining":
        """The protocol a dataset file was distilled for (files without the entry: one SGD step)."""
        return cls(**metadata.get("inner_training", {}))


ONE_STEP = InnerTraining()
"""The paper's protocol: one SGD step on the MSE to the soft labels."""


def inner_train(learner_params, dataset: SyntheticDataset, apply_fn: Callable, dist=None,
                inner: InnerTraining = ONE_STEP):
    """A learner after ``inner`` training on ``dataset`` (by default one SGD step,
    ``params - inner_lr * grad mse(apply_fn(params, X), Y)``), differentiable in the dataset.

    ``dist`` is the action distribution (None: the MSE of the paper); see :meth:`InnerTraining.loss`."""
    label_loss = inner.loss(dist)

    def grad(params):
        return jax.grad(lambda p: label_loss(apply_fn(p, dataset.x), dataset.y))(params)

    if inner.kind == "sgd":  # a few steps: unrolled, so that n = 1 is exactly the single step it always was
        params = learner_params
        for i in range(inner.steps):
            lr = dataset.inner_lr[i] if jnp.ndim(dataset.inner_lr) else dataset.inner_lr
            params = jax.tree_util.tree_map(lambda p, g, lr=lr: p - lr * g, params, grad(params))
        return params

    opt = optax.adam(inner.bc_lr, eps=1e-5)

    def step(carry, _):
        params, opt_state = carry
        updates, opt_state = opt.update(grad(params), opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), None

    (params, _), _ = jax.lax.scan(step, (learner_params, opt.init(learner_params)), None, length=inner.steps)
    return params


def train_fresh_learners(key: jax.Array, spec, obs_shape: tuple[int, ...], num_outputs: int, num: int,
                         dataset: SyntheticDataset, encoder_params=(), dist=None, inner: InnerTraining = ONE_STEP):
    """``num`` fresh learners of ``spec`` and each one after its inner training on the dataset.

    The instances go through ``spec``'s encoder first (a no-op without one), so the learners, the
    layers after the encoder, train on encoded instances. Returns ``(inits, trained)``, stacked on a
    leading learner axis."""
    inits = sample_learners(key, spec, obs_shape, num_outputs, num)
    encoded = dataset.replace(x=spec.encode(encoder_params, dataset.x))
    return inits, jax.vmap(lambda p: inner_train(p, encoded, spec.apply, dist, inner))(inits)
