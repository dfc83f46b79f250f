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


def test_impala_cnn_against_a_lax_reference_and_its_known_size():
    from jaxdistill.nets.networks import ImpalaSpec, max_pool, num_params, spec_from_dict

    spec = ImpalaSpec(channels_first=True)
    params = spec.init_params(jax.random.PRNGKey(0), (3, 64, 64), 15)
    assert num_params(params) == 625_999  # 16/32/32 stacks and 256 hidden on Procgen's 3x64x64, 15 actions
    assert spec_from_dict(spec.to_dict()) == spec

    # Max pooling 3x3 / 2 SAME against a NumPy loop (TensorFlow's SAME: total padding (out-1)*2+3-in, the
    # odd row after): 7 rows pad one each side, 6 columns pad one after.
    x = np.random.default_rng(0).normal(size=(1, 7, 6, 2)).astype(np.float32)
    ref = np.full((1, 4, 3, 2), -np.inf, np.float32)
    for i in range(4):
        for j in range(3):
            r0, c0 = max(2 * i - 1, 0), 2 * j
            ref[0, i, j] = x[0, r0: 2 * i + 2, c0: c0 + 3].reshape(-1, 2).max(0)
    np.testing.assert_array_equal(np.asarray(max_pool(jnp.asarray(x))), ref)

    # The forward pass against an independent one built on lax.conv_general_dilated.
    small = ImpalaSpec(channels=(4, 6), dense=(8,), output_gain=1.0)
    p = small.init_params(jax.random.PRNGKey(1), (9, 9, 3), 5)
    obs = jax.random.uniform(jax.random.PRNGKey(2), (2, 9, 9, 3))

    def conv(layer, x):
        return jax.lax.conv_general_dilated(x, layer["w"], (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC")) + layer["b"]

    x, i = obs, 0
    for _ in small.channels:
        x = jax.lax.reduce_window(conv(p[i], x), -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1), "SAME")
        for blk in range(2):
            a, b = p[i + 1 + 2 * blk], p[i + 2 + 2 * blk]
            x = x + conv(b, jax.nn.relu(conv(a, jax.nn.relu(x))))
        i += 5
    x = jax.nn.relu(jax.nn.relu(x).reshape(2, -1) @ p[i]["w"] + p[i]["b"])
    expected = x @ p[i + 1]["w"] + p[i + 1]["b"]
    np.testing.assert_allclose(np.asarray(small.apply(p, obs)), np.asarray(expected), rtol=1e-4, atol=1e-5)
    # Channels-first observations give the same outputs as their channels-last transposes.
    first = ImpalaSpec(channels=(4, 6), dense=(8,), output_gain=1.0, channels_first=True)
    np.testing.assert_allclose(np.asarray(first.apply(p, jnp.moveaxis(obs, -1, 1))), np.asarray(expected),
                               rtol=1e-4, atol=1e-5)
