"""Students: fresh networks trained by behavioural cloning on a set of (observation, target) pairs (how they
play and score: :mod:`jaxdistill.eval.students`). Every method of the offline study (percentile BC on real episodes, the distilled set,
any other) trains its students here, as one vmapped call over students, so a table row is hundreds
of students.

``train_students(key, spec, dist, x, targets, training, num)``: ``num`` fresh students of ``spec`` each
take ``training.steps`` optimiser steps on its own minibatches (epochs of its own shuffle: :func:`minibatches`)
of the BC loss (:meth:`~jaxdistill.policy.distributions.Categorical.bc_loss`: cross-entropy for
discrete actions, MSE on the mean for continuous ones). ``x`` may be uint8 frames
(``frames_uint8``), decoded per minibatch, so a large offline set stays a quarter of its float size.
``training`` is the paper's Adam protocol by default and can be one plain SGD step on the whole set
(``optimizer="sgd", steps=1``), the PPMO protocol.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
import optax

from jaxdistill.core.sharding import check_divisible, constrain_population
from jaxdistill.nets.networks import sample_learners


@dataclasses.dataclass(frozen=True)
class StudentTraining:
    """How a student learns from a set of pairs."""

    steps: int = 1000
    """Optimiser steps."""
    batch_size: int = 256
    """Pairs per step (capped at the set's size)."""
    lr: float = 5e-3
    """Learning rate."""
    optimizer: Literal["adam", "sgd", "momentum"] = "adam"
    """Adam (the offline-distillation paper's students), plain SGD (with steps=1 and the whole set as the
    batch: one SGD step, PPMO's protocol) or SGD with heavy-ball momentum (``momentum``; behaviour matching's
    default inner loop, as in Offline Behavior Distillation)."""
    momentum: float = 0.9
    """The momentum of ``optimizer="momentum"`` (unused by the others)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


BC_TRAINING = StudentTraining(steps=1000, batch_size=256, lr=5e-3)
"""The paper's students on real data (percentile BC): Adam 5e-3, 1000 steps of 256."""
SYNTHETIC_TRAINING = StudentTraining(steps=100, batch_size=15, lr=5e-3)
"""The paper's students on the 150 synthetic samples: Adam 5e-3, 100 steps of 15."""


def decode(x: jax.Array) -> jax.Array:
    """Observations as the networks see them: uint8 frames / 255, floats unchanged."""
    return x.astype(jnp.float32) / 255.0 if x.dtype == jnp.uint8 else x


def student_optimizer(training: StudentTraining) -> optax.GradientTransformation:
    if training.optimizer == "adam":
        # eps_root: sqrt(v) has an infinite derivative at v = 0, so a parameter whose gradient is exactly zero
        # (a dead ReLU) would turn the meta-gradient through an Adam step into NaN (inf * 0).
        return optax.adam(training.lr, eps_root=1e-16)
    if training.optimizer == "momentum":
        return optax.sgd(training.lr, momentum=training.momentum)
    return optax.sgd(training.lr)


def train_student(key: jax.Array, init_params, apply, dist, x: jax.Array, targets: jax.Array,
                  training: StudentTraining, remat: bool = False):
    """One student from ``init_params`` after ``training`` on ``(x, targets)`` (pure; differentiable in x and
    targets: behaviour matching back-propagates through it; ``remat`` trades compute for memory there)."""
    n = x.shape[0]
    opt = student_optimizer(training)
    batches = minibatches(key, n, min(training.batch_size, n), training.steps)
    return bc_steps(init_params, opt.init(init_params), opt, apply, dist, x, targets, batches, remat)[0]


def bc_steps(params, opt_state, opt: optax.GradientTransformation, apply, dist, x: jax.Array, targets: jax.Array,
             batches: jax.Array, remat: bool = False):
    """One ``opt`` step of the BC loss per row of ``batches`` (row indices into ``(x, targets)``), from
    ``(params, opt_state)``; returns both after the last. The optimiser state is passed in and out, so a
    student's training can be continued in blocks (gradient matching along the training). ``remat``: each
    step's activations are recomputed in the backward pass instead of stored (``jax.checkpoint``), so
    differentiating through T steps keeps T parameter-sized carries, not T steps of activations; the values
    are the same."""

    def loss(params, idx):
        return dist.bc_loss(apply(params, decode(x[idx])), targets[idx])

    def step(carry, idx):
        params, opt_state = carry
        grads = jax.grad(loss)(params, idx)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), None

    return jax.lax.scan(jax.checkpoint(step) if remat else step, (params, opt_state), batches)[0]


def minibatches(key: jax.Array, n: int, batch: int, steps: int) -> jax.Array:
    """``(steps, batch)`` row indices: epochs of a fresh shuffle cut into ``n // batch`` disjoint minibatches
    (a shuffled data loader dropping the last partial batch), or the whole set every step when
    ``batch == n``. One permutation per epoch, not per step: a per-step draw without replacement sorts all
    ``n`` rows each step, which for 50k offline transitions cost more than the student's own step."""
    if batch >= n:
        return jnp.broadcast_to(jnp.arange(n), (steps, n))
    per_epoch = n // batch
    epochs = -(-steps // per_epoch)
    perms = jax.vmap(lambda k: jax.random.permutation(k, n)[: per_epoch * batch])(jax.random.split(key, epochs))
    return perms.reshape(epochs * per_epoch, batch)[:steps]


def train_students(key: jax.Array, spec, dist, x: jax.Array, targets: jax.Array, training: StudentTraining,
                   num: int, obs_shape: tuple[int, ...] | None = None, mesh=None):
    """``num`` fresh students of ``spec`` trained on ``(x, targets)``, stacked on a leading axis (pure; jit it
    with ``num`` and ``training`` static). With a ``mesh`` the students are split over its devices."""
    check_divisible(num, mesh, "students")
    k_init, k_train = jax.random.split(key)
    inits = constrain_population(sample_learners(k_init, spec, obs_shape or x.shape[1:], dist.num_outputs, num), mesh)
    trained = jax.vmap(lambda p, k: train_student(k, p, spec.apply, dist, x, targets, training))(
        inits, jax.random.split(k_train, num))
    return constrain_population(trained, mesh)


def ensemble_outputs(spec, dist, members, obs: jax.Array) -> jax.Array:
    """The outputs of an ensemble (``members`` stacked on a leading axis) on ``obs``: the log of the members'
    mean action probabilities (discrete), or their mean action (continuous)."""
    outputs = jax.vmap(lambda p: spec.apply(p, obs))(members)
    if dist.discrete:
        return jax.nn.logsumexp(jax.nn.log_softmax(outputs, axis=-1), axis=0) - jnp.log(outputs.shape[0])
    return jnp.mean(outputs, axis=0)
