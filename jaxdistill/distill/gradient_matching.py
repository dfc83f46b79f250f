"""Gradient matching (Zhao et al. 2021; the offline-distillation paper's Eq. 2): a few synthetic states whose
behavioural-cloning gradient, on freshly sampled students, matches the gradient of the real offline data.

The synthetic set is a :class:`~jaxdistill.learn.dataset.SyntheticDataset`: ``x`` (k, *obs_shape) starts
from real recorded states, ``y`` are fixed labels: one-hot actions for discrete actions (the k samples
split evenly over the actions the data holds, ``k / |actions|`` each), the recorded actions of the initial
states for continuous ones. Each epoch draws ``students_per_epoch`` fresh students from the learner spec
(the distribution that will be trained on the set) and, per action class, a batch of real samples of
that class; the matching loss is, summed over classes and averaged over students,

* ``"l2"`` (the paper's code): the squared L2 distance between the concatenated gradients of all parameters,
* ``"cosine"`` (Zhao et al.): per layer, the sum over output units of ``1 - cos`` between the two gradients
  of that unit's incoming weights (biases and other 1-D parameters are ignored, as in their code).

Continuous actions form one class. ``x`` is updated by SGD with momentum (the paper: lr 0.1, momentum 0.5,
1000 epochs). With ``label_lr > 0`` the labels are learned too, by the same SGD on their own rate: for discrete
actions ``y`` is a softmax over learned logits (soft labels, starting at the one-hot label with probability
0.999), for continuous ones the action targets themselves. A learned inner learning rate has nothing to act
on here: the loss compares gradients at the students' initial parameters, so no step size enters it (the
students' Adam rate is :class:`~jaxdistill.learn.students.StudentTraining`'s).

:func:`make_gradient_matching` returns a :class:`~jaxdistill.run.driver.Trainer` for the run loop (metrics,
checkpoints, resume); :func:`matching_loss` is the loss itself, all terms at once.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxdistill.core.trainer import Trainer, check_stop
from jaxdistill.envs.core import host_seed
from jaxdistill.learn.dataset import SyntheticDataset
from jaxdistill.learn.students import bc_steps, decode
from jaxdistill.nets.networks import ConvSpec, LearnerSpec, sample_learners

Distance = Literal["l2", "cosine"]


@dataclasses.dataclass(frozen=True)
class GMConfig:
    k: int = 150
    """Synthetic samples (the paper: 150, 10 per action of Procgen's 15)."""
    epochs: int = 1000
    """Matching epochs (the paper: 1000)."""
    lr: float = 0.1
    """SGD learning rate on the synthetic states (the paper: 0.1)."""
    momentum: float = 0.5
    """SGD momentum (the paper: 0.5)."""
    students_per_epoch: int = 4
    """Fresh students whose gradients are matched every epoch (their losses averaged)."""
    real_batch: int = 256
    """Real samples per action class and student in every match."""
    distance: Distance = "l2"
    """l2: squared distance of the concatenated gradients (the paper's code); cosine: Zhao et al.'s
    per-layer, per-output-unit cosine distance."""
    label_lr: float = 0.0
    """SGD learning rate (momentum as for the states) of learned labels: soft-label logits for discrete actions,
    the targets for continuous ones; 0 keeps the labels fixed (the paper)."""
    matches_per_student: int = 1
    """Matches along each fresh student's training on the synthetic set (Zhao et al.'s inner loop): after each
    match but the last the students take ``steps_between_matches`` Adam steps on the whole synthetic set, so
    the set is matched where training on it goes, not only at initialisation. 1: at initialisation only (the
    offline paper). An epoch is one draw of students and its matches (that many updates of the states)."""
    steps_between_matches: int = 10
    """Adam steps of the students on the synthetic set between two matches."""
    student_lr: float = 5e-3
    """Adam learning rate of those steps (the synthetic set's students' rate)."""


@struct.dataclass
class GMState:
    dataset: SyntheticDataset
    labels: jax.Array
    """What the labels are made of: logits (discrete actions; ``dataset.y`` is their softmax) or ``dataset.y``."""
    opt_state: optax.OptState
    key: jax.Array
    iteration: jax.Array


class RealData(struct.PyTreeNode):
    """Real samples grouped by class, on the device: ``x`` (n, ...) (uint8 frames stay uint8), ``targets`` (n,)
    actions, ``class_index`` (C, m) indices of each class's samples (padded), ``class_count`` (C,)."""

    x: jax.Array
    targets: jax.Array
    class_index: jax.Array
    class_count: jax.Array


def group_by_class(x: np.ndarray, actions: np.ndarray, num_actions: int | None) -> RealData:
    """The real data grouped by action (``num_actions`` None: continuous actions, one class)."""
    if num_actions is None:
        index, count = np.arange(len(x))[None], np.array([len(x)])
    else:
        groups = [np.flatnonzero(actions == a) for a in range(num_actions)]
        width = max(1, max(len(g) for g in groups))
        index = np.zeros((num_actions, width), np.int64)
        for a, g in enumerate(groups):
            index[a, : len(g)] = g
        count = np.array([len(g) for g in groups])
    return RealData(x=jnp.asarray(x), targets=jnp.asarray(actions), class_index=jnp.asarray(index, jnp.int32),
                    class_count=jnp.asarray(count, jnp.int32))


def init_synthetic(key: jax.Array, real: RealData, k: int, num_actions: int | None) -> tuple[SyntheticDataset, np.ndarray]:
    """Synthetic states drawn from the real ones: for discrete actions ``k`` split evenly over the classes the
    data holds (the first ``k mod classes`` classes get one more), without replacement where a class has
    enough samples; labels one-hot. For continuous actions ``k`` real samples and their actions. Returns the
    dataset (``inner_lr`` 0: students train by their own protocol) and each sample's class."""
    counts = np.asarray(real.class_count)
    present = np.flatnonzero(counts > 0)
    if present.size == 0:
        raise ValueError("the real data holds no samples")
    rng = np.random.default_rng(host_seed(key))
    if k < present.size and num_actions is not None:
        raise ValueError(f"k = {k} is fewer than the {present.size} actions the data holds: one sample per action at least")
    per_class = np.full(present.size, k // present.size)
    per_class[: k % present.size] += 1
    index, classes = [], []
    class_index = np.asarray(real.class_index)
    for c, n in zip(present, per_class):
        pool = class_index[c, : counts[c]]
        index.append(rng.choice(pool, size=n, replace=n > pool.size))
        classes.append(np.full(n, c))
    index, classes = np.concatenate(index), np.concatenate(classes)
    x = decode(real.x[jnp.asarray(index)])
    if num_actions is None:
        y = jnp.asarray(real.targets[jnp.asarray(index)], jnp.float32)
    else:
        y = jax.nn.one_hot(jnp.asarray(classes), num_actions, dtype=jnp.float32)
    return SyntheticDataset(x=jnp.asarray(x, jnp.float32), y=y, inner_lr=jnp.zeros((), jnp.float32)), classes


def gradient_distance(g_real, g_syn, distance: Distance) -> jax.Array:
    """The distance between two gradients (pytrees of the same structure)."""
    real, syn = jax.tree_util.tree_leaves(g_real), jax.tree_util.tree_leaves(g_syn)
    if distance == "l2":
        return sum(jnp.sum(jnp.square(a - b)) for a, b in zip(real, syn))
    if distance == "cosine":
        total = 0.0
        for a, b in zip(real, syn):
            if a.ndim < 2:
                continue  # biases: ignored, as in Zhao et al.'s code
            a, b = a.reshape(-1, a.shape[-1]).T, b.reshape(-1, b.shape[-1]).T  # rows: output units
            # Guarded, not shifted (Zhao et al. add 1e-6): equal gradients give exactly 0 however small they are.
            # A zero gradient (a class without samples) has no direction: cos 0, and no NaN in the gradient.
            squared = jnp.sum(a * a, axis=1) * jnp.sum(b * b, axis=1)
            defined = squared > 1e-30
            cos = jnp.where(defined, jnp.sum(a * b, axis=1) / jnp.sqrt(jnp.where(defined, squared, 1.0)), 0.0)
            total = total + jnp.sum(1.0 - cos)
        return total
    raise ValueError(f"unknown distance {distance!r}; use 'l2' or 'cosine'")


def _class_term(x, y, syn_class, params, c, rx, rt, apply, dist, distance: Distance) -> jax.Array:
    """The distance between one student's BC gradients on class ``c``'s real batch ``(rx, rt)`` and on the
    synthetic samples of that class (0 for ``c = -1``, a class without real samples)."""

    def bc(p, inputs, targets, weights):
        per_sample = jax.vmap(lambda o, t: dist.bc_loss(o[None], t[None]))(apply(p, inputs), targets)
        return jnp.sum(per_sample * weights) / jnp.maximum(jnp.sum(weights), 1.0)

    g_real = jax.lax.stop_gradient(jax.grad(bc)(params, decode(rx), rt, jnp.ones(rt.shape[0])))
    g_syn = jax.grad(bc)(params, x, y, (syn_class == c).astype(jnp.float32))
    return jnp.where(c >= 0, gradient_distance(g_real, g_syn, distance), 0.0)


def matching_loss(x: jax.Array, y: jax.Array, syn_class: jax.Array, students, real_x: jax.Array,
                  real_targets: jax.Array, real_class: jax.Array, apply, dist, distance: Distance) -> jax.Array:
    """Gradient-matching loss of synthetic ``(x, y)`` (classes ``syn_class`` (k,)) against real batches: the
    class terms summed over classes, averaged over students.

    ``students`` are stacked on a leading axis S; ``real_x`` (S, C, B, ...), ``real_targets`` (S, C, B) and
    ``real_class`` (C,) the classes those batches belong to (-1: a class without real samples, skipped).
    Pure and differentiable in ``x``; every term at once (see :func:`matching_value_and_grad` for large images)."""

    def student_loss(params, rx, rt):
        return jnp.sum(jax.vmap(lambda c, rx, rt: _class_term(x, y, syn_class, params, c, rx, rt, apply, dist,
                                                              distance))(real_class, rx, rt))

    return jnp.mean(jax.vmap(student_loss)(students, real_x, real_targets))


def matching_value_and_grad(x, y, syn_class, students, real_x, real_targets, real_class, apply, dist,
                            distance: Distance):
    """``(matching_loss, (its gradient in x, its gradient in y))`` one (student, class) term at a time, in a
    scan that adds up each term's value and gradients: memory for one term's second-order graph, not all S x C
    of them (on Procgen frames, 4 students x 15 classes x 256 real images need tens of GB at once)."""
    num_students, num_classes = real_x.shape[0], real_x.shape[1]

    def body(carry, index):
        s, c = index // num_classes, index % num_classes
        params = jax.tree_util.tree_map(lambda p: p[s], students)
        value, grads = jax.value_and_grad(_class_term, argnums=(0, 1))(
            x, y, syn_class, params, real_class[c], real_x[s, c], real_targets[s, c], apply, dist, distance)
        return jax.tree_util.tree_map(jnp.add, carry, (value, grads)), None

    zero = (jnp.zeros(()), (jnp.zeros_like(x), jnp.zeros_like(y)))
    (value, grads), _ = jax.lax.scan(body, zero, jnp.arange(num_students * num_classes))
    return value / num_students, jax.tree_util.tree_map(lambda g: g / num_students, grads)


def label_parameters(y: jax.Array, discrete: bool) -> jax.Array:
    """What learned labels are made of: logits whose softmax puts 0.999 on each one-hot row's action (discrete),
    or the targets themselves (continuous)."""
    if not discrete:
        return y
    c = y.shape[-1]
    return jnp.where(y > 0.5, jnp.log(0.999 * (c - 1) / 0.001), 0.0) if c > 1 else jnp.zeros_like(y)


def labels_of(params: jax.Array, discrete: bool) -> jax.Array:
    """The labels ``y`` of :func:`label_parameters`."""
    return jax.nn.softmax(params, axis=-1) if discrete else params


def make_gradient_matching(config: GMConfig, spec: LearnerSpec | ConvSpec, dist, real: RealData,
                           dataset: SyntheticDataset, syn_class: np.ndarray, obs_shape: tuple[int, ...],
                           per_chunk: int) -> Trainer:
    """The distiller as a run-loop :class:`Trainer` (``per_chunk`` epochs per chunk) that starts from ``dataset``
    (:func:`init_synthetic`), whose samples belong to the classes ``syn_class``."""
    optimizer = optax.sgd(config.lr, momentum=config.momentum)
    label_optimizer = optax.sgd(config.label_lr, momentum=config.momentum)
    learn_labels = config.label_lr > 0
    discrete = dist.discrete
    syn_class = jnp.asarray(syn_class, jnp.int32)
    counts = real.class_count
    real_class = jnp.where(counts > 0, jnp.arange(counts.shape[0]), -1)
    S, B = config.students_per_epoch, config.real_batch

    def sample_real(key):
        """(S, C, B) real indices, each class's drawn from its own samples (with replacement)."""
        u = jax.random.randint(key, (S, counts.shape[0], B), 0, jnp.maximum(counts, 1)[None, :, None])
        return jnp.take_along_axis(real.class_index[None], u, axis=2)

    T, K = config.matches_per_student, config.steps_between_matches
    student_optimizer = optax.adam(config.student_lr)

    def train_students_on_synthetic(students, student_opt, x, y):
        """K Adam steps of every student on the whole synthetic set, continuing each student's Adam state."""
        whole_set = jnp.broadcast_to(jnp.arange(x.shape[0]), (K, x.shape[0]))
        return jax.vmap(lambda p, o: bc_steps(p, o, student_optimizer, spec.apply, dist, x, y, whole_set))(
            students, student_opt)

    def match(carry, k_real):
        """One match: the states (and labels) step toward the real gradients of the students as they are now,
        then the students train on the updated set."""
        x, y, labels, (x_opt, label_opt), students, student_opt, t = carry
        idx = sample_real(k_real)
        loss, (grad, grad_y) = matching_value_and_grad(x, y, syn_class, students, real.x[idx], real.targets[idx],
                                                       real_class, spec.apply, dist, config.distance)
        updates, x_opt = optimizer.update(grad, x_opt, x)
        x = optax.apply_updates(x, updates)
        metrics = {"matching_loss": loss, "grad_norm": jnp.linalg.norm(grad)}
        if learn_labels:  # chain dL/dy through the softmax to the logits
            grad_labels = jax.vjp(lambda p: labels_of(p, discrete), labels)[1](grad_y)[0]
            updates, label_opt = label_optimizer.update(grad_labels, label_opt, labels)
            labels = optax.apply_updates(labels, updates)
            y = labels_of(labels, discrete)
            metrics["label_grad_norm"] = jnp.linalg.norm(grad_labels)
        if T > 1:  # (after the last match the students are dropped: their training would be wasted)
            students, student_opt = jax.lax.cond(t < T - 1, train_students_on_synthetic,
                                                 lambda s, o, x, y: (s, o), students, student_opt, x, y)
        return (x, y, labels, (x_opt, label_opt), students, student_opt, t + 1), metrics

    def epoch(state: GMState, _):
        key, k_epoch = jax.random.split(state.key)
        k_students, k_real = jax.random.split(k_epoch)
        students = sample_learners(k_students, spec, obs_shape, dist.num_outputs, S)
        student_opt = jax.vmap(student_optimizer.init)(students) if T > 1 else None
        keys = k_real[None] if T == 1 else jax.random.split(k_real, T)
        carry = (state.dataset.x, state.dataset.y, state.labels, state.opt_state, students, student_opt, 0)
        (x, y, labels, opt_state, *_), metrics = jax.lax.scan(match, carry, keys)
        metrics = jax.tree_util.tree_map(jnp.mean, metrics)  # over the epoch's matches
        return GMState(state.dataset.replace(x=x, y=y), labels, opt_state, key, state.iteration + 1), metrics

    class GMTrainer(Trainer):
        def __init__(self):
            def ticking_epoch(state, _):
                state, metrics = epoch(state, None)
                jax.debug.callback(self._tick, state.iteration)  # progress and a prompt stop; numbers unchanged
                return state, metrics

            self._chunk = jax.jit(lambda state, length: jax.lax.scan(ticking_epoch, state, None, length=length),
                                  static_argnums=1)

        def _tick(self, iteration) -> None:
            if self.on_iteration is not None:
                self.on_iteration(int(iteration))
            check_stop(self)

        def init(self, key):
            labels = label_parameters(dataset.y, discrete)
            return GMState(dataset, labels, (optimizer.init(dataset.x), label_optimizer.init(labels)), key,
                           jnp.zeros((), jnp.int32))

        def chunk(self, state, length=None):
            return self._chunk(state, per_chunk if length is None else length)

    return GMTrainer()
