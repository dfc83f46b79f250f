"""Learner distributions: Λ and the paper's out-of-distribution families, as configuration.

A :class:`LearnerDistribution` is a base :class:`~jaxdistill.nets.networks.LearnerSpec` (activation,
init scheme, gains) plus optional candidate hidden widths (``Random h``) and depths (``Random L``).

Learners of different shapes cannot share one ``vmap``, and compiling one program per sampled
shape is slow, so every learner of a distribution is embedded *exactly* in the largest shape:

* a width-``h`` layer is zero-padded to the largest width. A padded unit has zero weights in and
  out, so it outputs ``tanh(0) = 0``, receives zero gradient, and stays zero through any number of
  SGD steps: the padded network computes, and trains, exactly like the narrow one;
* a depth-``d`` learner carries the largest number of hidden layers and skips layers ``>= d``
  (``h <- h`` instead of ``h <- tanh(hW + b)``). Skipped layers do not touch the output, so their
  gradient is zero and the learner is the depth-``d`` network.

So 1000 learners of a random-architecture distribution are sampled, trained and evaluated in one
compiled, vmapped call whatever architectures are drawn.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp

from jaxdistill.learn.dataset import SyntheticDataset
from jaxdistill.learn.inner import ONE_STEP, InnerTraining, inner_train
from jaxdistill.nets.networks import _ACTIVATIONS, LearnerSpec
from jaxdistill.rl import normalize


@dataclasses.dataclass(frozen=True)
class LearnerDistribution:
    name: str
    """Short id used on the command line and in tables."""
    base: LearnerSpec = LearnerSpec()
    """Activation, init scheme and gains; its hidden sizes apply when no widths/depths are drawn."""
    widths: tuple[int, ...] = ()
    """If set, each learner's hidden width (shared by its hidden layers) is drawn uniformly from these."""
    depths: tuple[int, ...] = ()
    """If set, each learner's number of hidden layers is drawn uniformly from these (each >= 1)."""
    label: str = ""
    """Human-readable name for tables."""

    def __post_init__(self):
        if any(d < 1 for d in self.depths):
            raise ValueError("random depths must be >= 1 (a linear learner is its own distribution)")
        if len(set(self.base.hidden_sizes)) > 1:
            raise ValueError(
                f"{self.name}: hidden layers of different widths {self.base.hidden_sizes} are not a "
                "distribution here; evaluate such a spec with eval.kshot.FreshLearners")

    @property
    def max_depth(self) -> int:
        return max(self.depths) if self.depths else len(self.base.hidden_sizes)

    @property
    def max_width(self) -> int:
        if self.widths:
            return max(self.widths)
        return max(self.base.hidden_sizes, default=0)


def table1_distributions() -> dict[str, LearnerDistribution]:
    """The columns of the paper's Table 1."""
    lam = LearnerSpec()
    return {
        "lambda": LearnerDistribution("lambda", lam, label="Λ"),
        "ortho_std1": LearnerDistribution(
            "ortho_std1", dataclasses.replace(lam, hidden_gain=1.0, output_gain=1.0), label="α_c: Ortho std=1"),
        "xavier": LearnerDistribution(
            "xavier", dataclasses.replace(lam, init="xavier_uniform"), label="α_c: Xe"),
        "xavier_std1": LearnerDistribution(
            "xavier_std1", dataclasses.replace(lam, init="xavier_uniform", hidden_gain=1.0, output_gain=1.0),
            label="α_c: Xe std=1"),
        "random_h": LearnerDistribution("random_h", lam, widths=tuple(range(32, 257)), label="Random h"),
        "random_l": LearnerDistribution(
            "random_l", dataclasses.replace(lam, hidden_sizes=(64,)), depths=(1, 2, 3, 4, 5, 6), label="Random L"),
    }


def grid_distribution(depth: int, width: int) -> LearnerDistribution:
    """One cell of the paper's Table 6: ``depth`` hidden layers of ``width`` units, Λ's init."""
    return LearnerDistribution(
        f"L{depth}_h{width}", LearnerSpec(hidden_sizes=(width,) * depth), label=f"L={depth}, h={width}")


def get_distribution(name: str) -> LearnerDistribution:
    dists = table1_distributions()
    if name in dists:
        return dists[name]
    if name.startswith("L") and "_h" in name:
        depth, width = name[1:].split("_h", 1)
        if not (depth.isdigit() and width.isdigit() and int(width) >= 1):
            raise ValueError(f"learner distribution {name!r}: 'L<depth>_h<width>' takes a depth >= 0 and a width "
                             ">= 1, both integers (for example L2_h64)")
        return grid_distribution(int(depth), int(width))
    raise ValueError(f"unknown learner distribution {name!r}; known: {sorted(dists)} and 'L<depth>_h<width>'")


def _padded_weight(key, spec: LearnerSpec, gain: float, shape: tuple[int, int], active: tuple) -> jax.Array:
    """A ``shape`` matrix whose top-left ``active`` block is drawn from ``spec.init`` and the rest is 0.

    ``active`` entries may be traced. Orthogonal blocks come from a QR of a masked Gaussian: QR is
    causal in the columns, so the first columns of Q are exactly the QR of the active block."""
    rows, cols = shape
    r_act, c_act = active
    mask = (jnp.arange(rows)[:, None] < r_act) & (jnp.arange(cols)[None, :] < c_act)
    if spec.init == "orthogonal":
        tall = rows >= cols
        big, small = (rows, cols) if tall else (cols, rows)
        big_act, small_act = (r_act, c_act) if tall else (c_act, r_act)
        a = jax.random.normal(key, (big, small), jnp.float32)
        a = jnp.where((jnp.arange(big)[:, None] < big_act) & (jnp.arange(small)[None, :] < small_act), a, 0.0)
        q, r = jnp.linalg.qr(a)
        q = q * jnp.where(jnp.diagonal(r) < 0, -1.0, 1.0)
        w = q if tall else q.T
        return jnp.where(mask, gain * w, 0.0)
    fan_avg = (r_act + c_act) / 2.0
    std = gain / jnp.sqrt(fan_avg)
    if spec.init == "xavier_uniform":
        w = jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0) * std * math.sqrt(3.0)
    else:  # xavier_normal: truncated at 2 std, rescaled to unit variance as in jax's variance_scaling
        w = jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32) * std / 0.87962566103423978
    return jnp.where(mask, w, 0.0)


def check_padding_fits(dist: LearnerDistribution, in_dim: int, out_dim: int) -> None:
    """Padded orthogonal blocks need every sampled layer to keep the padded layer's orientation
    (tall or wide), i.e. observation and action sizes no larger than the narrowest width."""
    if dist.max_depth == 0 or not dist.widths:
        return
    narrowest = min(dist.widths)
    if dist.base.init == "orthogonal" and (in_dim > narrowest or out_dim > narrowest):
        raise ValueError(
            f"{dist.name}: widths down to {narrowest} are narrower than the observation ({in_dim}) or action "
            f"({out_dim}) size; padded orthogonal init needs widths >= both")


def init_padded(key, dist: LearnerDistribution, in_dim: int, out_dim: int, width, depth) -> list[dict]:
    """Parameters of a ``depth`` x ``width`` learner embedded in the distribution's largest shape."""
    W, D = dist.max_width, dist.max_depth
    base = dist.base
    keys = jax.random.split(key, D + 1)
    layers = []
    for i in range(D):
        shape = (in_dim if i == 0 else W, W)
        active = (in_dim if i == 0 else width, width)
        w = _padded_weight(keys[i], base, base.hidden_gain, shape, active)
        layers.append({"w": w, "b": jnp.zeros((W,), jnp.float32)})
    out_in = W if D > 0 else in_dim
    w = _padded_weight(keys[D], base, base.output_gain, (out_in, out_dim), (width if D > 0 else in_dim, out_dim))
    layers.append({"w": w, "b": jnp.zeros((out_dim,), jnp.float32)})
    return layers


def padded_apply(params: list[dict], x: jax.Array, depth, activation: str = "tanh") -> jax.Array:
    """Forward pass of a padded learner that uses only its first ``depth`` hidden layers."""
    act = _ACTIVATIONS[activation]
    for i, layer in enumerate(params[:-1]):
        h = act(x @ layer["w"] + layer["b"])
        x = h if i == 0 else jnp.where(i < depth, h, x)
    return x @ params[-1]["w"] + params[-1]["b"]


def sample_architectures(key, dist: LearnerDistribution, num: int) -> tuple[jax.Array, jax.Array]:
    """Per-learner ``(widths, depths)`` drawn from the distribution, shape ``(num,)`` each."""
    k_w, k_d = jax.random.split(key)
    if dist.widths:
        widths = jnp.asarray(dist.widths)[jax.random.randint(k_w, (num,), 0, len(dist.widths))]
    else:
        widths = jnp.full((num,), dist.max_width)
    if dist.depths:
        depths = jnp.asarray(dist.depths)[jax.random.randint(k_d, (num,), 0, len(dist.depths))]
    else:
        depths = jnp.full((num,), dist.max_depth)
    return widths, depths


@dataclasses.dataclass(frozen=True, eq=False)
class PaddedLearners:
    """The learner family of a :class:`LearnerDistribution` for :func:`jaxdistill.eval.kshot.make_kshot_evaluate`:
    architectures drawn per learner, every learner embedded exactly in the largest shape."""

    dist_def: LearnerDistribution
    in_dim: int
    dist: Any  # the action distribution (categorical or Gaussian)
    inner: InnerTraining = ONE_STEP  # how every learner trains on the dataset

    def __post_init__(self):
        check_padding_fits(self.dist_def, self.in_dim, self.dist.num_outputs)

    def sample(self, key, dataset: SyntheticDataset, num: int):
        """``(trained params, widths, depths)`` of ``num`` learners after their inner step."""
        dist_def, out_dim = self.dist_def, self.dist.num_outputs
        activation = dist_def.base.activation
        k_arch, k_init = jax.random.split(key)
        widths, depths = sample_architectures(k_arch, dist_def, num)
        inits = jax.vmap(lambda k, w, d: init_padded(k, dist_def, self.in_dim, out_dim, w, d))(
            jax.random.split(k_init, num), widths, depths)

        def train_one(params, depth):
            return inner_train(params, dataset, lambda p, x: padded_apply(p, x, depth, activation), self.dist,
                               self.inner)

        return jax.vmap(train_one)(inits, depths), widths, depths

    def train(self, key, dataset: SyntheticDataset, encoder_params, num: int):
        if encoder_params:
            raise ValueError("learner distributions are MLPs without an encoder")
        trained, _, depths = self.sample(key, dataset, num)
        return trained, depths

    def policy(self, params, obs):
        (trained, depths), _, log_std, obs_norm = params
        activation = self.dist_def.base.activation
        obs = normalize.apply(obs_norm, obs)
        outputs = jax.vmap(lambda p, o, d: padded_apply(p, o, d, activation))(trained, obs, depths)
        return self.dist.params(outputs, log_std)


def padded_learners(env, dist_def: LearnerDistribution, inner: InnerTraining = ONE_STEP) -> PaddedLearners:
    """The family of ``dist_def`` on ``env`` (vector observations), trained by ``inner``."""
    from jaxdistill.policy.distributions import for_spec

    if len(env.spec.obs_shape) != 1:
        raise ValueError("learner distributions take vector observations")
    return PaddedLearners(dist_def, env.spec.obs_shape[0], for_spec(env.spec), inner)
