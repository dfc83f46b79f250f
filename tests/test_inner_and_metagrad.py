"""The inner SGD step against a NumPy reference, and PPMO's meta-gradient against finite differences."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_dataset_gradient_matches_central_differences

from jaxdistill.distill.ppmo import meta_policy_loss
from jaxdistill.learn.dataset import SyntheticDataset, init_dataset
from jaxdistill.learn.inner import inner_train
from jaxdistill.nets.networks import LearnerSpec, init_mlp, mlp_apply, sample_learners


def numpy_one_step(layers, x, y, lr):
    """The dataset file's recipe (docs/dataset-format.md), by hand: one SGD step on mean((f(x) - y)^2) for a tanh MLP."""
    acts = [x]
    for layer in layers[:-1]:
        acts.append(np.tanh(acts[-1] @ layer["w"] + layer["b"]))
    out = acts[-1] @ layers[-1]["w"] + layers[-1]["b"]
    delta = 2.0 * (out - y) / y.size
    new = [None] * len(layers)
    for i in reversed(range(len(layers))):
        gw, gb = acts[i].T @ delta, delta.sum(0)
        if i > 0:
            delta = (delta @ layers[i]["w"].T) * (1 - acts[i] ** 2)
        new[i] = {"w": layers[i]["w"] - lr * gw, "b": layers[i]["b"] - lr * gb}
    return new


def test_inner_train_is_one_sgd_step_on_the_mse():
    spec = LearnerSpec()
    params = init_mlp(jax.random.PRNGKey(0), spec, 8, 4)
    data = init_dataset(jax.random.PRNGKey(1), 5, (8,), 4, inner_lr=0.3)
    trained = inner_train(params, data, mlp_apply)
    ref = numpy_one_step(
        [{k: np.asarray(v, np.float64) for k, v in p.items()} for p in params],
        np.asarray(data.x, np.float64), np.asarray(data.y, np.float64), 0.3,
    )
    for got, want in zip(trained, ref):
        np.testing.assert_allclose(got["w"], want["w"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(got["b"], want["b"], rtol=1e-4, atol=1e-6)


def test_meta_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        spec = LearnerSpec(hidden_sizes=(16, 16))
        L, B, obs_dim, A, k = 2, 24, 4, 2, 3
        keys = jax.random.split(jax.random.PRNGKey(0), 6)
        inits = jax.tree_util.tree_map(
            lambda w: w.astype(jnp.float64), sample_learners(keys[0], spec, (obs_dim,), A, L)
        )
        data = SyntheticDataset(
            x=jax.random.normal(keys[1], (k, obs_dim), jnp.float64),
            y=jax.random.normal(keys[2], (k, A), jnp.float64),
            inner_lr=jnp.asarray(0.5, jnp.float64),
        )
        obs = jax.random.normal(keys[3], (L, B, obs_dim), jnp.float64)
        actions = jax.random.randint(keys[4], (L, B), 0, A)
        advantages = jax.random.normal(keys[5], (L, B), jnp.float64)
        # old log-probs from the current policy perturbed, so some samples are clipped and some not
        old = jax.vmap(lambda p, o, a: jax.nn.log_softmax(mlp_apply(inner_train(p, data, mlp_apply), o))[
            jnp.arange(B), a])(inits, obs, actions)
        old = old + 0.15 * jax.random.normal(jax.random.PRNGKey(9), old.shape, jnp.float64)

        loss = partial(meta_policy_loss, learner_inits=inits, obs=obs, actions=actions, old_log_probs=old,
                       advantages=advantages, apply=mlp_apply, clip_eps=0.2, ent_coef=0.01)
        f = jax.jit(lambda d: loss(d)[0])  # one compilation serves every finite difference
        _, info = loss(data)
        assert 0.0 < float(info["clip_frac"]) < 1.0  # both branches of the clip are exercised
        assert_dataset_gradient_matches_central_differences(f, data, ("x", "y", "inner_lr"), per_field=6)


def test_gaussian_meta_gradient_matches_finite_differences():
    """The same check through the diagonal Gaussian (continuous actions, the paper's Section 6): the
    meta-gradient reaches X, the mean targets Y, the learned log std and the inner lr."""
    from jaxdistill.policy.distributions import DiagGaussian

    with jax.enable_x64(True):
        spec = LearnerSpec(hidden_sizes=(16,))
        L, B, obs_dim, A, k = 2, 24, 3, 2, 3
        dist = DiagGaussian(A)
        log_std = jnp.full((A,), -0.5, jnp.float64)
        keys = jax.random.split(jax.random.PRNGKey(1), 6)
        inits = jax.tree_util.tree_map(lambda w: w.astype(jnp.float64), sample_learners(keys[0], spec, (obs_dim,), A, L))
        data = SyntheticDataset(x=jax.random.normal(keys[1], (k, obs_dim), jnp.float64),
                                y=jax.random.normal(keys[2], (k, A), jnp.float64), inner_lr=jnp.asarray(0.5, jnp.float64),
                                log_std=log_std)
        obs = jax.random.normal(keys[3], (L, B, obs_dim), jnp.float64)
        actions = jax.random.normal(keys[4], (L, B, A), jnp.float64) * 0.6
        advantages = jax.random.normal(keys[5], (L, B), jnp.float64)
        old = jax.vmap(lambda p, o, a: dist.log_prob(dist.params(mlp_apply(inner_train(p, data, mlp_apply), o), log_std),
                                                     a))(inits, obs, actions)
        old = old + 0.15 * jax.random.normal(jax.random.PRNGKey(9), old.shape, jnp.float64)
        loss = partial(meta_policy_loss, learner_inits=inits, obs=obs, actions=actions, old_log_probs=old,
                       advantages=advantages, apply=mlp_apply, clip_eps=0.2, ent_coef=0.01, dist=dist)
        f = jax.jit(lambda d: loss(d)[0])  # one compilation serves every finite difference
        assert 0.0 < float(loss(data)[1]["clip_frac"]) < 1.0
        assert_dataset_gradient_matches_central_differences(f, data, ("x", "y", "log_std", "inner_lr"), per_field=4)


def test_advantage_norm_standardises_per_learner_or_over_the_whole_minibatch():
    """Per learner, the meta-loss ignores each learner's advantage scale and offset; over the minibatch it
    standardises all learners' advantages together (a NumPy reference) and so does not."""
    from jaxdistill.policy.distributions import Categorical
    from jaxdistill.rl.losses import ppo_policy_loss

    spec = LearnerSpec(hidden_sizes=(8,))
    L, B, obs_dim, A = 3, 5, 4, 2
    keys = jax.random.split(jax.random.PRNGKey(4), 6)
    inits = sample_learners(keys[0], spec, (obs_dim,), A, L)
    data = init_dataset(keys[1], 3, (obs_dim,), A, inner_lr=0.5)
    obs = jax.random.normal(keys[2], (L, B, obs_dim))
    actions = jax.random.randint(keys[3], (L, B), 0, A)
    adv = np.asarray(jax.random.normal(keys[4], (L, B)))
    old = jnp.full((L, B), -0.8) + 0.2 * jax.random.normal(keys[5], (L, B))
    loss = jax.jit(partial(meta_policy_loss, data, inits, obs, actions, old, apply=mlp_apply, clip_eps=0.2),
                   static_argnames="advantage_norm")
    rescaled = adv.copy()
    rescaled[1] = 30.0 * rescaled[1] + 7.0  # one learner's advantages on another scale

    per_learner = [float(loss(jnp.asarray(a), advantage_norm="learner")[0]) for a in (adv, rescaled)]
    np.testing.assert_allclose(per_learner[0], per_learner[1], rtol=1e-5)
    joint = [float(loss(jnp.asarray(a), advantage_norm="minibatch")[0]) for a in (adv, rescaled)]
    assert abs(joint[0] - joint[1]) > 1e-3

    standardised = (rescaled - rescaled.mean()) / (rescaled.std() + 1e-8)
    trained = jax.vmap(lambda p: inner_train(p, data, mlp_apply))(inits)
    dist = Categorical(A)

    per = jax.vmap(lambda p, o, a, lp, adv: ppo_policy_loss(dist, mlp_apply(p, o), a, lp, adv, 0.2,
                                                           normalize_advantages=False)[0])
    want = float(np.mean(per(trained, obs, actions, old, jnp.asarray(standardised))))
    np.testing.assert_allclose(joint[1], want, rtol=1e-5)
    with pytest.raises(ValueError, match="advantage_norm"):
        loss(jnp.asarray(adv), advantage_norm="global")
