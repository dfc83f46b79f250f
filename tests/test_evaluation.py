from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdistill.envs import make
from jaxdistill.eval.episodes import play_episodes
from jaxdistill.eval.kshot import fresh_learners, make_kshot_evaluate
from jaxdistill.learn.dataset import SyntheticDataset, load_dataset
from jaxdistill.nets.networks import LearnerSpec
from jaxdistill.policy.distributions import Categorical

COMMITTED_1D = Path(__file__).resolve().parents[1] / "experiments/results/cartpole1d_k2_ppmo_s0/dataset"


def test_run_episodes_counts_one_full_episode_per_policy():
    wrapped = make("CartPole1D-v1")
    env, params = wrapped.env, wrapped.params
    always_right = lambda _, obs: jnp.tile(jnp.array([0.0, 1.0]), (obs.shape[0], 1))  # noqa: E731
    returns = np.asarray(play_episodes(wrapped, jax.random.PRNGKey(0), always_right, (), 50, Categorical(2), True))
    # Pushing one way topples the pole within a few dozen steps, never reaching 500.
    assert returns.shape == (50,) and np.all(returns >= 8) and np.all(returns <= 60)
    # Manual reference for one episode with the same start.
    obs, state = env.reset(jax.random.split(jax.random.split(jax.random.PRNGKey(0))[0], 50)[0], params)
    total, done = 0.0, False
    while not done:
        obs, state, r, term, trunc = env.step_env(jax.random.PRNGKey(0), state, 1, params)[:5]
        total += float(r)
        done = bool(term)
    assert returns[0] == total


def test_committed_1d_dataset_trains_fresh_lambda_learners_sampled_and_evaluated_in_one_call():
    """The main job's committed output on fresh Λ learners (a key its run never used), against the same learners
    untrained. 250 learners, as the Table 1 rows below: the jax 0.10.0-0.10.2 deadlock on ~1000 vmapped orthogonal
    initialisations is guarded by the main job's own 1000-learner evaluation (test_cli) and by 1000 Random-L learners
    (test_learners); 1000 here cost about 5 s of the suite for nothing more."""
    env = make("CartPole1D-v1")
    dataset, _ = load_dataset(COMMITTED_1D)
    evaluate = make_kshot_evaluate(env, fresh_learners(env, LearnerSpec()), num_learners=250)
    returns = np.asarray(evaluate(jax.random.PRNGKey(123), dataset))
    assert returns.shape == (250,)
    assert returns.mean() >= 495.0  # fresh learners, a key never used in training

    untrained = SyntheticDataset(x=dataset.x, y=dataset.y, inner_lr=jnp.asarray(0.0))
    baseline = np.asarray(evaluate(jax.random.PRNGKey(123), untrained))
    assert baseline.mean() < 150.0  # without the inner step random learners average ~60

    sampled = make_kshot_evaluate(env, fresh_learners(env, LearnerSpec()), num_learners=250, greedy=False)
    assert np.asarray(sampled(jax.random.PRNGKey(1), dataset)).mean() > 100.0


@pytest.mark.parametrize("n_dims, k, paper_mean", [(2, 3, 364.0), (3, 4, 261.0), (4, 5, 128.0), (5, 6, 88.4),
                                                  (1, 512, 500.0), (3, 512, 245.0), (5, 512, 85.4)])
def test_committed_datasets_match_or_beat_the_papers_table1(n_dims, k, paper_mean):
    """The datasets committed under experiments/results, re-evaluated on 250 fresh Λ learners with a key their runs
    never used. (Their runs measured 1000, in each run's results.json: 497.9-500.0 against the paper's 85.4-364 for
    N > 1, so 250 learners, a standard error under 1.1, decide the same. The 1-D k = 2 row is the test
    above.)"""
    root = Path(__file__).resolve().parents[1] / f"experiments/results/cartpole{n_dims}d_k{k}_ppmo_s0/dataset"
    env = make(f"CartPole{n_dims}D-v1")
    dataset, meta = load_dataset(root, expect_obs_dim=4 * n_dims, expect_num_actions=2 * n_dims)
    assert meta["k"] == k
    returns = np.asarray(make_kshot_evaluate(env, fresh_learners(env, LearnerSpec()), 250)(jax.random.PRNGKey(2024),
                                                                                            dataset))
    # 1-D: the paper's 500 ± 0 is the cap, reproduced as >= 495; every other row must be beaten.
    if n_dims == 1:
        assert returns.mean() >= 495.0
    else:
        assert returns.mean() > paper_mean


def test_an_encoder_given_as_a_list_or_a_tuple_reaches_one_compiled_evaluation():
    """A run's state holds encoder layers in a list; a caller's default and a reloaded file give a tuple. Both must
    reach the same compiled program: the Brax test compiled its evaluation twice (10 s) before this held."""
    env = make("CartPole1D-v1")
    evaluate = make_kshot_evaluate(env, fresh_learners(env, LearnerSpec(hidden_sizes=(4,))), 2, max_steps=5)
    dataset = SyntheticDataset(x=jnp.ones((2, 4)), y=jnp.eye(2), inner_lr=jnp.asarray(0.1, jnp.float32))
    first = evaluate(jax.random.PRNGKey(0), dataset, [])
    traced = []
    jax.monitoring.register_event_duration_secs_listener(listener := lambda event, secs, **_: traced.append(event))
    try:
        again = evaluate(jax.random.PRNGKey(0), dataset, ())
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert not [e for e in traced if e.startswith("/jax/core/compile/")], traced
    np.testing.assert_array_equal(first, again)

