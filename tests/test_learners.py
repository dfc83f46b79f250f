"""Learner distributions: padded learners must compute and train exactly like their true shapes."""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdistill.envs import make
from jaxdistill.eval.kshot import fresh_learners, make_kshot_evaluate
from jaxdistill.learn.dataset import init_dataset
from jaxdistill.learn.inner import inner_train
from jaxdistill.learn.learners import (
    LearnerDistribution,
    get_distribution,
    init_padded,
    padded_apply,
    padded_learners,
    sample_architectures,
    table1_distributions,
)
from jaxdistill.nets.networks import LearnerSpec, mlp_apply


def _unpad(params, in_dim, width, depth):
    layers = []
    for i in range(depth):
        w = params[i]["w"][: (in_dim if i == 0 else width), :width]
        layers.append({"w": w, "b": params[i]["b"][:width]})
    last = params[-1]["w"][:width] if depth else params[-1]["w"]
    return layers + [{"w": last, "b": params[-1]["b"]}]


@pytest.mark.parametrize("name, width, depth", [("random_h", 40, 2), ("random_h", 256, 2), ("random_l", 64, 3),
                                                ("random_l", 64, 1), ("random_l", 64, 6)])
def test_padded_learner_trains_exactly_like_the_narrow_or_shallow_one(name, width, depth):
    dist = get_distribution(name)
    in_dim, out_dim = 12, 6
    params = init_padded(jax.random.PRNGKey(0), dist, in_dim, out_dim, width, depth)
    small = _unpad(params, in_dim, width, depth)
    assert [p["w"].shape for p in small] == [(in_dim, width)] + [(width, width)] * (depth - 1) + [(width, out_dim)]
    data = init_dataset(jax.random.PRNGKey(1), 7, (in_dim,), out_dim, inner_lr=0.5)
    trained_padded = inner_train(params, data, lambda p, x: padded_apply(p, x, depth))
    trained_small = inner_train(small, data, mlp_apply)
    obs = jax.random.normal(jax.random.PRNGKey(2), (32, in_dim))
    np.testing.assert_allclose(padded_apply(trained_padded, obs, depth), mlp_apply(trained_small, obs),
                               rtol=1e-5, atol=1e-6)
    # padding stays exactly zero, and skipped layers are untouched by the step
    w0 = np.asarray(trained_padded[0]["w"])
    assert np.all(w0[:, width:] == 0.0)
    for i in range(depth, dist.max_depth):
        np.testing.assert_array_equal(trained_padded[i]["w"], params[i]["w"])


@pytest.mark.parametrize("name", ["lambda", "ortho_std1"])
def test_padded_orthogonal_blocks_are_orthogonal_with_the_right_gain(name):
    dist = table1_distributions()[name]
    params = init_padded(jax.random.PRNGKey(3), dist, 8, 4, 64, 2)
    gain_h, gain_o = dist.base.hidden_gain, dist.base.output_gain
    w0, w1, w2 = (np.asarray(p["w"], np.float64) for p in params)
    np.testing.assert_allclose(w0 @ w0.T, gain_h**2 * np.eye(8), atol=1e-4)
    np.testing.assert_allclose(w1.T @ w1, gain_h**2 * np.eye(64), atol=1e-4)
    np.testing.assert_allclose(w2.T @ w2, gain_o**2 * np.eye(4), atol=1e-4 * max(gain_o**2, 1e-4))
    narrow = init_padded(jax.random.PRNGKey(3), get_distribution("random_h"), 8, 4, 40, 2)
    block = np.asarray(narrow[1]["w"], np.float64)[:40, :40]
    np.testing.assert_allclose(block.T @ block, 2.0 * np.eye(40), atol=1e-4)
    assert np.all(np.asarray(narrow[1]["w"])[40:] == 0) and np.all(np.asarray(narrow[1]["w"])[:, 40:] == 0)


def test_xavier_blocks_have_glorot_variance():
    dist = table1_distributions()["xavier_std1"]
    w = np.asarray(init_padded(jax.random.PRNGKey(0), dist, 64, 64, 64, 2)[1]["w"])
    np.testing.assert_allclose(w.var(), 1.0 / 64, rtol=0.1)  # gain 1: Var = 2 / (fan_in + fan_out)
    assert np.abs(w).max() <= np.sqrt(3.0 / 64) + 1e-6


def test_architectures_are_drawn_from_the_whole_range():
    widths, depths = sample_architectures(jax.random.PRNGKey(0), get_distribution("random_h"), 4000)
    assert int(widths.min()) == 32 and int(widths.max()) == 256 and np.all(np.asarray(depths) == 2)
    widths, depths = sample_architectures(jax.random.PRNGKey(0), get_distribution("random_l"), 600)
    assert set(np.asarray(depths).tolist()) == {1, 2, 3, 4, 5, 6} and np.all(np.asarray(widths) == 64)
    assert get_distribution("L0_h32").max_depth == 0 and get_distribution("L5_h128").max_width == 128
    with pytest.raises(ValueError, match="unknown learner distribution"):
        get_distribution("resnet")
    with pytest.raises(ValueError, match="different widths"):
        LearnerDistribution("mixed", LearnerSpec(hidden_sizes=(64, 32)))
    from jaxdistill.learn.learners import check_padding_fits

    check_padding_fits(get_distribution("random_h"), 20, 10)
    with pytest.raises(ValueError, match="narrower than the observation"):
        check_padding_fits(get_distribution("random_h"), 100, 6)


@pytest.mark.optimized
@pytest.mark.timeout(240)
def test_1000_random_l_learners_on_5d_cartpole_in_one_call_within_60s():
    env = make("CartPole5D-v1")
    family = padded_learners(env, get_distribution("random_l"))
    evaluate = make_kshot_evaluate(env, family, 1000)
    data = init_dataset(jax.random.PRNGKey(0), 6, env.spec.obs_shape, env.spec.num_actions)
    t0 = time.perf_counter()
    returns = jax.block_until_ready(evaluate(jax.random.PRNGKey(1), data))
    elapsed = time.perf_counter() - t0  # compilation included
    # The same learners' depths (jitted: eagerly, the 1000 padded inits took 5.7 s, jitted 2.2 s).
    _, depths = jax.jit(family.train, static_argnums=(2, 3))(jax.random.PRNGKey(1), data, (), 1000)
    assert returns.shape == depths.shape == (1000,)
    assert set(np.asarray(depths).tolist()) == {1, 2, 3, 4, 5, 6}
    assert elapsed < 60.0, elapsed


def test_distribution_evaluation_agrees_with_the_plain_lambda_evaluation():
    """Λ through the padded path and through make_kshot_evaluate: same distribution of returns (on the committed
    1-D dataset, the main job's output). 250 learners each: the means are 499-500 against 199 off-distribution."""
    from pathlib import Path

    from jaxdistill.learn.dataset import load_dataset
    env = make("CartPole1D-v1")
    dataset, _ = load_dataset(Path(__file__).resolve().parents[1] / "experiments/results/cartpole1d_k2_ppmo_s0/dataset")
    padded = make_kshot_evaluate(env, padded_learners(env, get_distribution("lambda")), 250)(
        jax.random.PRNGKey(7), dataset)
    plain = make_kshot_evaluate(env, fresh_learners(env, LearnerSpec()), 250)(jax.random.PRNGKey(7), dataset)
    assert float(jnp.mean(padded)) >= 495.0 and float(jnp.mean(plain)) >= 495.0
    # Off-distribution learners do worse on a Λ-distilled dataset (the paper's Table 1 pattern).
    xe = make_kshot_evaluate(env, padded_learners(env, get_distribution("xavier_std1")), 250)(
        jax.random.PRNGKey(7), dataset)
    assert float(jnp.mean(xe)) < float(jnp.mean(padded))
