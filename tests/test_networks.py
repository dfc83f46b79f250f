import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdistill.nets.networks import LearnerSpec, init_mlp, mlp_apply, sample_learners


def test_lambda_is_2x64_orthogonal_with_paper_gains():
    params = init_mlp(jax.random.PRNGKey(0), LearnerSpec(), 8, 4)
    assert [p["w"].shape for p in params] == [(8, 64), (64, 64), (64, 4)]
    for p in params:
        np.testing.assert_array_equal(p["b"], 0.0)
    w0, w1, w2 = (np.asarray(p["w"], np.float64) for p in params)
    np.testing.assert_allclose(w0 @ w0.T, 2.0 * np.eye(8), atol=1e-4)  # rows orthogonal, gain sqrt(2)
    np.testing.assert_allclose(w1.T @ w1, 2.0 * np.eye(64), atol=1e-4)
    np.testing.assert_allclose(w2.T @ w2, 1e-4 * np.eye(4), atol=1e-8)  # output gain 0.01


def test_init_scheme_and_architecture_are_configuration():
    xavier = LearnerSpec(hidden_sizes=(256,), init="xavier_uniform", hidden_gain=1.0, output_gain=1.0)
    params = init_mlp(jax.random.PRNGKey(1), xavier, 64, 256)
    w = np.asarray(params[0]["w"])
    assert w.shape == (64, 256)
    np.testing.assert_allclose(w.var(), 2.0 / (64 + 256), rtol=0.1)  # Glorot variance
    deep = LearnerSpec(hidden_sizes=(32,) * 5)
    assert len(init_mlp(jax.random.PRNGKey(0), deep, 4, 2)) == 6
    linear = LearnerSpec(hidden_sizes=())
    out = mlp_apply(init_mlp(jax.random.PRNGKey(0), linear, 4, 2), jnp.ones((3, 4)))
    assert out.shape == (3, 2)
    with pytest.raises(ValueError):
        LearnerSpec(init="kaiming")
    with pytest.raises(ValueError):
        LearnerSpec(hidden_sizes=(0,))
    assert LearnerSpec.from_dict(LearnerSpec().to_dict()) == LearnerSpec()


def test_sampled_learners_are_distinct_fresh_initialisations():
    stacked = sample_learners(jax.random.PRNGKey(0), LearnerSpec(), (4,), 2, 5)
    w = np.asarray(stacked[0]["w"])
    assert w.shape == (5, 4, 64)
    assert not np.allclose(w[0], w[1])
    assert math.isclose(float(np.abs(stacked[-1]["w"]).max()), float(np.abs(stacked[-1]["w"]).max()))
