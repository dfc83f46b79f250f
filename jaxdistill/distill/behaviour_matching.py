"""Behaviour matching: offline distillation by back-propagating through the students' training.

The set is ``k`` learned states and learned soft labels (logits for discrete actions, targets for continuous
ones), started from real states stratified by action. Every outer step (an *epoch*) draws
``students_per_epoch`` fresh students, trains each for ``inner_steps`` full-batch steps on the set exactly as
an evaluation student is trained (:func:`~jaxdistill.learn.students.train_student`, the same optimiser and
learning rate), and measures the trained students on a batch of real data. The outer gradient flows back
through all inner steps into the states and labels (Offline Behavior Distillation, Lei, Zhang & Tao 2024).

Outer losses (``outer_loss``), each a per-state term averaged over real states:

* ``dbc``: the students' BC loss on the data's own actions (cross-entropy, or squared error of the mean);
* ``pbc``: the distance to the expert policy on the real states: KL(expert || student) for discrete actions,
  the squared distance of the means for continuous ones;
* ``avpbc``: PBC weighted per state by an action value. OBD weights by an offline-RL critic's Q; here the
  action value is the Monte-Carlo one the data carries: each state's discounted return-to-go (``gamma``),
  shifted to be non-negative and normalised to mean 1 over the data (so the loss keeps PBC's scale). States
  from which much reward still follows weigh more.

Why not gradient matching: it matches one step's gradients at initialisation, while the students train for
many steps; this objective is the students' behaviour after their whole training, the thing evaluated. Why not
one Adam step: its first step is ``lr * sign(g)``, blind to the labels; through several SGD, momentum or Adam
steps the meta-gradient agrees with finite differences (``tests/test_behaviour_matching.py``). Long unrolls can
be chaotic: the outer gradient is clipped (``clip``), and ``remat`` recomputes each inner step's activations
in the backward pass so T = 100+ fits in memory.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxdistill.core.trainer import ScanTrainer
from jaxdistill.learn.dataset import SyntheticDataset
from jaxdistill.learn.students import StudentTraining, decode, train_student
from jaxdistill.nets.networks import ConvSpec, LearnerSpec, sample_learners

OuterLoss = Literal["dbc", "pbc", "avpbc"]
OUTER_LOSSES: tuple[str, ...] = ("dbc", "pbc", "avpbc")
NEEDS_EXPERT: tuple[str, ...] = ("pbc", "avpbc")
MAX_INNER_STEPS = 1000


@dataclasses.dataclass(frozen=True)
class BMConfig:
    k: int = 150
    """Synthetic samples."""
    epochs: int = 1500
    """Outer steps (each trains ``students_per_epoch`` fresh students from scratch)."""
    outer_loss: OuterLoss = "pbc"
    """dbc (BC loss on the data's actions), pbc (KL to the expert's action distribution on real states) or
    avpbc (PBC weighted by each state's discounted return-to-go); pbc and avpbc need the expert policy."""
    inner_steps: int = 100
    """T: full-batch steps of every student on the set, inside the outer loss and in evaluation alike."""
    inner_optimizer: Literal["sgd", "momentum", "adam"] = "adam"
    """The students' optimiser (in the inner loop and in evaluation). The defaults are the protocol measured on
    MinAtar (``experiments/README.md``): T = 100 Adam 0.01 students, 2 an epoch, outer Adam 0.001 cut to 0.3x
    after 1000 of 1500 epochs reached 62 % (Breakout) and 65 % (SpaceInvaders) of BC on all the data."""
    inner_lr: float = 0.01
    """The students' learning rate (Adam 0.01 with T = 50 fits 4096 real Breakout-MinAtar states to the expert as
    closely as momentum 0.9 at 0.3 with T = 100: KL 0.034 vs 0.040; momentum 0.1 with T = 20 leaves KL 0.48)."""
    inner_momentum: float = 0.9
    """Momentum of ``inner_optimizer=momentum``."""
    students_per_epoch: int = 2
    """Fresh students per outer step (vmapped); their outer losses are averaged."""
    real_batch: int = 512
    """Real states per student in the outer loss."""
    lr: float = 0.001
    """Adam learning rate of the states. Small: each epoch's gradient comes from two to eight random students, and
    its noise sets the plateau (Breakout-MinAtar, Adam T = 50 students, 2 a epoch: 0.01 stalls at KL 0.19 to the
    expert from epoch ~75 and then drifts up; 0.003 reaches 0.14 by epoch 100; 0.001 0.13 by 300, still falling)."""
    label_lr: float = 0.03
    """Adam learning rate of the labels (logits for discrete actions, targets for continuous); 0 keeps the
    initial labels."""
    lr_decay: float = 0.3
    """Factor on both learning rates from epoch ``lr_decay_at`` on (one step down: the plateau at a constant
    rate is set by the noise of a few students' gradients, and a smaller step lowers it)."""
    lr_decay_at: int = 1000
    """The first epoch (0-based) whose update ``lr_decay`` scales."""
    clip: float = 1.0
    """Global-norm clip of the outer gradient (states and labels together), before Adam."""
    gamma: float = 0.99
    """Discount of avpbc's return-to-go weights."""
    remat: bool = True
    """Recompute each inner step's activations in the backward pass (memory O(T x params), not O(T x
    activations)); the values are the same."""

    def training(self) -> StudentTraining:
        """How every student of this set learns: the inner loop, which evaluation repeats exactly."""
        return StudentTraining(steps=self.inner_steps, batch_size=self.k, lr=self.inner_lr,
                               optimizer=self.inner_optimizer, momentum=self.inner_momentum)


def config_problems(config: BMConfig, prefix: str = "bm.") -> list[str]:
    """One line per out-of-range field (before anything compiles)."""
    errors = []
    if config.k < 1:
        errors.append(f"--{prefix}k must be >= 1 (got {config.k})")
    if not 1 <= config.inner_steps <= MAX_INNER_STEPS:
        errors.append(f"--{prefix}inner-steps must lie in [1, {MAX_INNER_STEPS}] (got {config.inner_steps})")
    for name in ("epochs", "students_per_epoch", "real_batch"):
        if getattr(config, name) < 1:
            errors.append(f"--{prefix}{name.replace('_', '-')} must be >= 1 (got {getattr(config, name)})")
    for name in ("inner_lr", "lr", "clip"):
        if not getattr(config, name) > 0:
            errors.append(f"--{prefix}{name.replace('_', '-')} must be > 0 (got {getattr(config, name)})")
    if config.label_lr < 0:
        errors.append(f"--{prefix}label-lr must be >= 0 (got {config.label_lr})")
    if not 0 < config.lr_decay <= 1:
        errors.append(f"--{prefix}lr-decay must lie in (0, 1] (got {config.lr_decay})")
    if config.lr_decay_at < 0:
        errors.append(f"--{prefix}lr-decay-at must be >= 0 (got {config.lr_decay_at})")
    if not 0 <= config.inner_momentum < 1:
        errors.append(f"--{prefix}inner-momentum must lie in [0, 1) (got {config.inner_momentum})")
    if not 0 <= config.gamma <= 1:
        errors.append(f"--{prefix}gamma must lie in [0, 1] (got {config.gamma})")
    if config.outer_loss not in OUTER_LOSSES:
        errors.append(f"--{prefix}outer-loss must be one of {', '.join(OUTER_LOSSES)} (got {config.outer_loss!r})")
    return errors


class RealBatchSource(struct.PyTreeNode):
    """The real data the outer loss reads, on the device: ``x`` (n, ...) states (uint8 frames stay uint8),
    ``actions`` (n,) or (n, dim), ``target`` (n, A) the expert's action probabilities or (n, dim) its means
    (the actions again when there is no expert: unused by dbc) and ``weight`` (n,) avpbc's weights (ones
    otherwise)."""

    x: jax.Array
    actions: jax.Array
    target: jax.Array
    weight: jax.Array


def value_weights(returns_to_go: np.ndarray) -> np.ndarray:
    """avpbc's per-state weights: return-to-go shifted to start at 0 and scaled to mean 1 (all ones when
    every state has the same return-to-go)."""
    g = np.asarray(returns_to_go, np.float64)
    g = g - g.min()
    mean = g.mean()
    return (g / mean if mean > 0 else np.ones_like(g)).astype(np.float32)


def expert_targets(policy, x: np.ndarray, discrete: bool, batch: int = 4096) -> np.ndarray:
    """The expert's action probabilities (discrete) or action means (continuous) on every state of ``x``
    (a :class:`~jaxdistill.rl.policy_file.SavedPolicy`), in batches of ``batch``."""
    outputs = jax.jit(lambda p, o: policy.policy(p, decode(o)))
    out = []
    for start in range(0, len(x), batch):
        o = outputs(policy.params, jnp.asarray(x[start: start + batch]))
        out.append(np.asarray(jax.nn.softmax(o, axis=-1) if discrete else o[0]))
    return np.concatenate(out).astype(np.float32)


def real_source(x: np.ndarray, actions: np.ndarray, target: np.ndarray | None, weight: np.ndarray | None,
                discrete: bool) -> RealBatchSource:
    n = len(x)
    acts = jnp.asarray(actions, jnp.int32 if discrete else jnp.float32)
    return RealBatchSource(x=jnp.asarray(x), actions=acts,
                           target=acts if target is None else jnp.asarray(target, jnp.float32),
                           weight=jnp.ones((n,), jnp.float32) if weight is None else jnp.asarray(weight, jnp.float32))


def per_state_distance(dist, outputs: jax.Array, target: jax.Array, outer_loss: OuterLoss) -> jax.Array:
    """The outer loss's per-state term (n,) of student outputs against ``target``: data actions (dbc) or the
    expert's probabilities / means (pbc, avpbc)."""
    if dist.discrete:
        log_p = jax.nn.log_softmax(outputs, axis=-1)
        if outer_loss == "dbc":
            return -jnp.take_along_axis(log_p, target[:, None].astype(jnp.int32), axis=-1)[:, 0]
        # KL(expert || student): the cross-entropy minus the expert's entropy (0 log 0 = 0).
        own = jnp.where(target > 0, target * jnp.log(jnp.where(target > 0, target, 1.0)), 0.0)
        return jnp.sum(own - target * log_p, axis=-1)
    return jnp.sum(jnp.square(outputs - target), axis=-1)


def outer_value(params, apply, dist, batch: RealBatchSource, outer_loss: OuterLoss) -> jax.Array:
    """One trained student's outer loss on a real batch (weighted mean of the per-state terms)."""
    target = batch.actions if outer_loss == "dbc" else batch.target
    terms = per_state_distance(dist, apply(params, decode(batch.x)), target, outer_loss)
    w = batch.weight if outer_loss == "avpbc" else jnp.ones_like(terms)
    return jnp.sum(terms * w) / jnp.sum(w)


def label_parameters(y: jax.Array, discrete: bool) -> jax.Array:
    """What learned labels are made of: log-probabilities (floored at 1e-4) for discrete actions, so their
    softmax is ``y`` up to the floor; the targets themselves for continuous ones."""
    return jnp.log(jnp.maximum(y, 1e-4)) if discrete else y


def labels_of(params: jax.Array, discrete: bool) -> jax.Array:
    return jax.nn.softmax(params, axis=-1) if discrete else params


def make_outer_loss(config: BMConfig, spec: LearnerSpec | ConvSpec, dist, obs_shape: tuple[int, ...]):
    """``loss(x, labels, key, real) -> (value, metrics)``: fresh students trained on ``(x, labels_of(labels))``
    and their mean outer loss on real batches drawn with ``key`` (pure; differentiable in ``x`` and ``labels``)."""
    training = config.training()
    S, B = config.students_per_epoch, config.real_batch

    def loss(x, labels, key, real: RealBatchSource):
        k_students, k_real = jax.random.split(key)
        inits = sample_learners(k_students, spec, obs_shape, dist.num_outputs, S)
        inits = jax.tree_util.tree_map(lambda p: p.astype(x.dtype), inits)  # float64 states: float64 students
        y = labels_of(labels, dist.discrete)
        # The key of train_student only shuffles minibatches; the inner loop is full-batch, so it is unused.
        trained = jax.vmap(lambda p: train_student(k_students, p, spec.apply, dist, x, y, training, config.remat))(
            inits)
        idx = jax.random.randint(k_real, (S, B), 0, real.x.shape[0])
        batches = jax.tree_util.tree_map(lambda a: a[idx], real)
        values = jax.vmap(lambda p, b: outer_value(p, spec.apply, dist, b, config.outer_loss))(trained, batches)
        metrics = {}
        if dist.discrete:  # how often the trained students' greedy action is the expert's (or the data's)
            greedy = jnp.argmax(jax.vmap(lambda p, b: spec.apply(p, decode(b.x)))(trained, batches), axis=-1)
            reference = batches.actions if config.outer_loss == "dbc" else jnp.argmax(batches.target, axis=-1)
            metrics["agreement"] = jnp.mean(greedy == reference)
        return jnp.mean(values), metrics

    return loss


@struct.dataclass
class BMState:
    dataset: SyntheticDataset
    labels: jax.Array
    """What the labels are made of (:func:`label_parameters`); ``dataset.y`` is :func:`labels_of` them."""
    opt_state: optax.OptState
    key: jax.Array
    iteration: jax.Array


def outer_optimizer(config: BMConfig) -> optax.GradientTransformation:
    """Adam on the states and on the labels (each its own rate), after one global-norm clip of both."""
    return optax.chain(optax.clip_by_global_norm(config.clip),
                       optax.multi_transform({"x": optax.adam(config.lr), "labels": optax.adam(config.label_lr)},
                                             {"x": "x", "labels": "labels"}))


def make_behaviour_matching(config: BMConfig, spec: LearnerSpec | ConvSpec, dist, real: RealBatchSource,
                            dataset: SyntheticDataset, obs_shape: tuple[int, ...], per_chunk: int) -> ScanTrainer:
    """The distiller as a run-loop trainer (``per_chunk`` outer steps per chunk) that starts from ``dataset``
    (real states; labels one-hot or the expert's probabilities)."""
    loss = make_outer_loss(config, spec, dist, obs_shape)
    optimizer = outer_optimizer(config)
    discrete = dist.discrete

    def init(key):
        labels = label_parameters(dataset.y, discrete)
        params = {"x": dataset.x, "labels": labels}
        return BMState(dataset, labels, optimizer.init(params), key, jnp.zeros((), jnp.int32))

    def step(state: BMState):
        key, k_loss = jax.random.split(state.key)
        params = {"x": state.dataset.x, "labels": state.labels}
        (value, metrics), grads = jax.value_and_grad(lambda p: loss(p["x"], p["labels"], k_loss, real),
                                                     has_aux=True)(params)
        if config.label_lr == 0:
            grads = {**grads, "labels": jnp.zeros_like(grads["labels"])}
        updates, opt_state = optimizer.update(grads, state.opt_state, params)
        if config.lr_decay != 1:  # Adam's update is linear in its rate: scaling it is the smaller rate
            scale = jnp.where(state.iteration >= config.lr_decay_at, config.lr_decay, 1.0)
            updates = jax.tree_util.tree_map(lambda u: u * scale, updates)
        params = optax.apply_updates(params, updates)
        dataset = state.dataset.replace(x=params["x"], y=labels_of(params["labels"], discrete))
        metrics = {"outer_loss": value, "grad_norm": jnp.linalg.norm(grads["x"]),
                   "label_grad_norm": jnp.linalg.norm(grads["labels"]), **metrics}
        return BMState(dataset, params["labels"], opt_state, key, state.iteration + 1), metrics

    return ScanTrainer(init, step, per_chunk)
