"""k-shot evaluation: fresh learners, one SGD step on the dataset, one full episode each.

One evaluator for every environment kind and every learner family:
``make_kshot_evaluate(env, learners, num_learners) -> evaluate(key, dataset, encoder_params=(), obs_norm=())
-> returns``. A learner family (:class:`FreshLearners` here, :class:`~jaxdistill.learn.learners.PaddedLearners`
for the paper's random-architecture distributions) says how to draw and train ``num`` learners and how a
trained one acts: ``policy((trained, encoder_params, log_std, obs_norm), obs)`` with the dataset's
``log_std`` (a Gaussian's, ``()`` for discrete actions) and frozen observation statistics (``()``: raw).
"""

from __future__ import annotations

import dataclasses

import jax

from jaxdistill.core.sharding import constrain_population, padded_size, replicate
from jaxdistill.eval.episodes import play_episodes, staged
from jaxdistill.learn.dataset import SyntheticDataset
from jaxdistill.learn.inner import ONE_STEP, InnerTraining, train_fresh_learners
from jaxdistill.nets.networks import ConvSpec, LearnerSpec
from jaxdistill.policy.distributions import ActionDist
from jaxdistill.rl import normalize


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: host evaluators cache its jitted policy
class FreshLearners:
    """Learners of one architecture (``spec``), after the encoder when the spec has one, trained on the
    dataset by ``inner`` (the dataset's own protocol: :meth:`InnerTraining.from_metadata`)."""

    spec: LearnerSpec | ConvSpec
    obs_shape: tuple[int, ...]
    dist: ActionDist
    inner: InnerTraining = ONE_STEP

    def train(self, key: jax.Array, dataset: SyntheticDataset, encoder_params, num: int):
        return train_fresh_learners(key, self.spec, self.obs_shape, self.dist.num_outputs, num, dataset,
                                    encoder_params, self.dist, self.inner)[1]

    def policy(self, params, obs: jax.Array):
        trained, encoder_params, log_std, obs_norm = params
        features = self.spec.encode(encoder_params, normalize.apply(obs_norm, obs))
        return self.dist.params(jax.vmap(self.spec.apply)(trained, features), log_std)


def make_kshot_evaluate(env, learners, num_learners: int = 1000, greedy: bool = True, mesh=None,
                        max_steps: int | None = None):
    """``evaluate(key, dataset, encoder_params=(), obs_norm=()) -> returns (num_learners,)``: ``learners.train`` draws and
    trains ``num_learners`` learners on the dataset, each plays one episode of ``env``.

    The dataset and encoder are traced (one compilation serves every dataset). Learners with an
    encoder share the given trained encoder. With a ``mesh`` (:func:`jaxdistill.core.sharding.population_mesh`)
    the learners are split over its devices, every device of every process. They are padded to a multiple of
    the device count and the extra learners dropped. Learner i draws the same numbers whatever the padding, so
    the returns are the same on any number of devices and processes."""
    padded = padded_size(num_learners, mesh)
    train = jax.jit(learners.train, static_argnums=3)
    policy = learners.policy

    def evaluate(key: jax.Array, dataset: SyntheticDataset, encoder_params=(), obs_norm=()) -> jax.Array:
        k_init, k_run = jax.random.split(key)
        trained = constrain_population(train(k_init, dataset, encoder_params, padded), mesh)
        returns = play_episodes(env, k_run, policy, (trained, encoder_params, dataset.log_std, obs_norm), padded,
                                learners.dist, greedy, mesh, max_steps)
        if padded == num_learners:
            return returns
        # A slice of a sharded axis has no even split; hand the few returns back replicated.
        return replicate(returns[:num_learners], mesh)

    compiled = staged(env, evaluate)

    def evaluate_any(key: jax.Array, dataset: SyntheticDataset, encoder_params=(), obs_norm=()) -> jax.Array:
        # A run's state holds its encoder layers in a list, a caller's default and a reloaded file give a tuple:
        # one pytree structure for both, or the same evaluation is traced and compiled twice.
        return compiled(key, dataset, tuple(encoder_params), obs_norm)

    return evaluate_any


def fresh_learners(env, spec: LearnerSpec | ConvSpec, dist: ActionDist | None = None,
                   inner: InnerTraining = ONE_STEP) -> FreshLearners:
    """The learner family of ``spec`` on ``env`` (its action distribution by default), trained by ``inner``."""
    from jaxdistill.policy.distributions import for_spec

    dist = dist or for_spec(env.spec)
    inner.check(dist)
    return FreshLearners(spec, env.spec.obs_shape, dist, inner)
