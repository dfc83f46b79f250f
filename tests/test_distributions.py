"""The action-distribution seam against scipy, and one evaluator for in-graph and host environments."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxdistill.policy.distributions import Categorical, DiagGaussian


def test_gaussian_log_prob_entropy_and_samples_match_scipy():
    dist = DiagGaussian(3)
    mean = jnp.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.2]])
    log_std = jnp.array([-0.3, 0.2, 0.0])
    params = dist.params(mean, log_std)
    actions = jnp.array([[0.1, -0.5, 2.5], [1.0, 0.0, 0.0]])
    want = stats.norm(np.asarray(mean), np.exp(np.asarray(log_std))).logpdf(np.asarray(actions)).sum(-1)
    np.testing.assert_allclose(dist.log_prob(params, actions), want, rtol=1e-5)
    want_h = stats.norm(0.0, np.exp(np.asarray(log_std))).entropy().sum()
    np.testing.assert_allclose(dist.entropy(params), [want_h, want_h], rtol=1e-5)
    np.testing.assert_array_equal(dist.mode(params), mean)
    samples = dist.sample(jax.random.PRNGKey(0), dist.params(jnp.zeros((20000, 3)), log_std))
    np.testing.assert_allclose(samples.std(0), np.exp(np.asarray(log_std)), rtol=0.03)
    assert dist.init_extra().shape == (3,) and dist.num_outputs == 3


def test_categorical_log_prob_and_entropy_match_scipy():
    dist = Categorical(4)
    logits = jnp.array([[0.1, 2.0, -1.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    p = np.asarray(jax.nn.softmax(logits))
    np.testing.assert_allclose(dist.log_prob(logits, jnp.array([1, 3])), np.log([p[0, 1], p[1, 3]]), rtol=1e-6)
    np.testing.assert_allclose(dist.entropy(logits), [stats.entropy(p[0]), stats.entropy(p[1])], rtol=1e-5)
    np.testing.assert_array_equal(dist.mode(logits), [1, 0])


def test_gaussian_actions_are_clipped_at_the_environment_boundary():
    from jaxdistill.envs import make

    env = make("Pendulum-v1")
    obs, state = env.reset(jax.random.PRNGKey(0), env.params)
    _, big = env.step(jax.random.PRNGKey(1), state, jnp.array([50.0]), env.params)
    _, bound = env.step(jax.random.PRNGKey(1), state, jnp.array([2.0]), env.params)
    np.testing.assert_array_equal(big.obs, bound.obs)  # 50 acted as the bound 2
    assert float(big.reward) == float(bound.reward)


def _numpy_vec_env_classes():
    """A host vector env of N-D cart-pole stepped in NumPy through the gymnax step (one env at a time)."""
    from jaxdistill.envs import HostEnv, HostStep, HostVecEnv, make

    inner = make("CartPole1D-v1")
    step = jax.jit(inner.step)
    reset = jax.jit(inner.reset)

    class Vec(HostVecEnv):
        def __init__(self, num, seed):
            self.spec, self.num_envs = inner.spec, num
            self._key = jax.random.PRNGKey(seed)
            self._ret = np.zeros(num)

        def reset(self):
            keys = jax.random.split(self._key, self.num_envs)
            self._states = [reset(k, inner.params)[1] for k in keys]
            self._ret[:] = 0
            return np.stack([np.asarray(reset(k, inner.params)[0]) for k in keys])

        def step(self, actions):
            outs = []
            for i, a in enumerate(actions):
                self._key, k = jax.random.split(self._key)
                self._states[i], out = step(k, self._states[i], jnp.asarray(a), inner.params)
                outs.append(jax.device_get(out))
            done = np.array([bool(o.terminated or o.truncated) for o in outs])
            self._ret += np.array([float(o.reward) for o in outs])
            ret = np.where(done, self._ret, np.nan)
            self._ret[done] = 0
            return HostStep(obs=np.stack([o.obs for o in outs]), final_obs=np.stack([o.final_obs for o in outs]),
                            reward=np.array([o.reward for o in outs], np.float32),
                            terminated=np.array([bool(o.terminated) for o in outs]),
                            truncated=np.array([bool(o.truncated) for o in outs]), episode_return=ret,
                            episode_length=np.zeros(len(outs), int))

        def running_returns(self):
            return self._ret.copy()

    class Host(HostEnv):
        spec = inner.spec

        def vector(self, num_envs, seed, training=True):
            return Vec(num_envs, seed)

    return inner, Host()


@pytest.mark.timeout(120)
def test_one_kshot_evaluator_serves_an_in_graph_and_a_host_environment():
    """The same evaluator call on cart-pole in the graph and on the host: a good dataset scores high on both,
    a useless one (inner lr 0) low on both."""
    from pathlib import Path

    from jaxdistill.eval.kshot import fresh_learners, make_kshot_evaluate
    from jaxdistill.learn.dataset import load_dataset
    from jaxdistill.nets.networks import LearnerSpec

    in_graph, host = _numpy_vec_env_classes()
    root = Path(__file__).resolve().parents[1] / "experiments/results/cartpole1d_k2_ppmo_s0/dataset"
    dataset, _ = load_dataset(root)
    useless = dataset.replace(inner_lr=jnp.asarray(0.0))
    for env in (in_graph, host):
        evaluate = make_kshot_evaluate(env, fresh_learners(env, LearnerSpec()), 4, max_steps=200)
        good = np.asarray(evaluate(jax.random.PRNGKey(0), dataset))
        bad = np.asarray(evaluate(jax.random.PRNGKey(0), useless))
        assert good.shape == (4,) and np.all(good == 200.0), (env, good)  # balanced for the whole 200 steps
        assert bad.mean() < 100.0, (env, bad)
