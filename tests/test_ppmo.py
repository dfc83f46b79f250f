import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdistill.distill.ppmo import PPMOConfig, make_ppmo
from jaxdistill.envs import make
from jaxdistill.run.driver import init_state, iteration, iteration_keys, iterations, make_train
from tests.conftest import TINY_PPMO, replace, tree_equal

ENV = make("CartPole1D-v1")


def _ppmo(cfg):
    return make_ppmo(cfg, ENV.spec).agent


@functools.lru_cache
def _tiny():
    """The tiny agent with its compiled init and meta-epoch, shared by the tests below (compiled once, not thrice)."""
    agent = _ppmo(TINY_PPMO)
    return agent, jax.jit(lambda k: init_state(ENV, agent, k)), jax.jit(lambda s: iteration(ENV, agent, s))


def test_meta_epoch_updates_dataset_and_critic():
    _, init, step = _tiny()
    state = init(jax.random.PRNGKey(0))
    new, metrics = step(state)
    assert int(new.iteration) == 1
    for field in ("x", "y", "inner_lr"):
        assert not np.allclose(getattr(state.agent.dataset, field), getattr(new.agent.dataset, field)), field
    assert not tree_equal(state.agent.critic_params, new.agent.critic_params)
    for name in ("policy_loss", "value_loss", "entropy", "approx_kl", "inner_lr"):
        assert np.isfinite(float(metrics[name])), name
    # The runner carries one set of environments per learner.
    assert new.runner.obs.shape == (2, 2, 4)


def test_the_dataset_is_traced_not_baked_into_the_compiled_function():
    _, init, step = _tiny()
    state = init(jax.random.PRNGKey(0))
    step(state)
    other = state.replace(agent=state.agent.replace(dataset=state.agent.dataset.replace(x=state.agent.dataset.x + 1.0)))
    out_a, _ = step(state)
    out_b, _ = step(other)
    assert step._cache_size() == 1  # one compilation serves any dataset
    assert not np.allclose(out_a.agent.dataset.x, out_b.agent.dataset.x)


def test_inner_lr_is_kept_positive(tiny_ppmo_config):
    cfg = replace(tiny_ppmo_config, inner_lr_init=1e-3, distiller_lr=0.05)
    agent = _ppmo(cfg)
    state, metrics = jax.jit(iterations(ENV, agent, 5))(init_state(ENV, agent, jax.random.PRNGKey(1)))
    assert np.all(np.asarray(metrics["inner_lr"]) >= cfg.min_inner_lr)


def test_whole_run_is_one_pure_function_vmappable_over_seeds(tiny_ppmo_config):
    train = jax.jit(jax.vmap(make_train(ENV, _ppmo(tiny_ppmo_config), 3)))
    state, metrics = train(jax.random.split(jax.random.PRNGKey(0), 3))
    assert state.agent.dataset.x.shape == (3, 2, 4)
    assert metrics["policy_loss"].shape == (3, 3)
    assert not np.allclose(state.agent.dataset.x[0], state.agent.dataset.x[1])
    again, _ = train(jax.random.split(jax.random.PRNGKey(0), 3))
    assert tree_equal(state.agent.dataset, again.agent.dataset)  # same key, same result


def test_ppmo_config_defaults_follow_the_paper():
    cfg = PPMOConfig()
    assert (cfg.distiller_lr, cfg.critic_lr, cfg.inner_lr_init, cfg.update_epochs, cfg.gamma) == (
        2.5e-4, 2.5e-4, 0.02, 4, 0.99)
    assert cfg.learner.hidden_sizes == (64, 64) and cfg.learner.output_gain == 0.01


def test_host_side_phases_compose_to_the_in_graph_iteration():
    """actors -> (any rollout) -> learn is what the host-stepped driver runs."""
    from functools import partial

    from jaxdistill.rl.rollout import collect_rollout

    cfg = TINY_PPMO  # the configuration of the shared agent
    agent, init, step = _tiny()
    state = init(jax.random.PRNGKey(4))
    expected, expected_metrics = step(state)

    key, k_actors, k_roll, k_learn = iteration_keys(state.key)
    actors = agent.actors(k_actors, state.agent)
    runner, traj = jax.vmap(
        lambda k, a, r: collect_rollout(k, ENV, agent.dist, partial(agent.policy, state.agent, a), r, cfg.num_steps)
    )(jax.random.split(k_roll, cfg.num_learners), actors, state.runner)
    got, metrics = jax.jit(agent.learn)(state.agent, k_learn, actors, traj, runner.obs)
    np.testing.assert_allclose(got.dataset.x, expected.agent.dataset.x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.dataset.y, expected.agent.dataset.y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(metrics["value_loss"]), float(expected_metrics["value_loss"]), rtol=1e-4)
    np.testing.assert_allclose(float(metrics["policy_loss"]), float(expected_metrics["policy_loss"]), atol=1e-6)


class _WithConstantDims:
    """Cart-pole whose observation carries two more dimensions that are always 0 (as 119 of Humanoid-v4's 376 are)."""

    def __init__(self, env):
        self.env, self.params = env, env.params
        self.spec = dataclasses.replace(env.spec, obs_shape=(env.spec.obs_shape[0] + 2,))

    @staticmethod
    def _pad(obs):
        return jnp.concatenate([obs, jnp.zeros(2)])

    def reset(self, key, params):
        obs, state = self.env.reset(key, params)
        return self._pad(obs), state

    def step(self, key, state, action, params):
        state, step = self.env.step(key, state, action, params)
        return state, step.replace(obs=self._pad(step.obs), final_obs=self._pad(step.final_obs))


def test_pinned_constant_dims_hold_x_at_the_normalised_constant():
    """``pin_constant_dims``: once the running statistics have seen the constant dimensions, X is 0 on them
    (every normalised observation is 0 there) and still learns on the others; without ``normalize_obs`` it is
    refused."""
    env = _WithConstantDims(ENV)
    cfg = replace(TINY_PPMO, normalize_obs=True, pin_constant_dims=True, num_steps=8)
    agent = make_ppmo(cfg, env.spec).agent
    state = init_state(env, agent, jax.random.PRNGKey(0))
    x0 = np.asarray(state.agent.dataset.x)
    assert np.all(np.abs(x0[:, 4:]) > 0)  # a Gaussian start
    step = jax.jit(iterations(env, agent, 1))
    state, _ = step(state)  # 32 observations: the constant dims' variance is still the prior's 1e-4 / 32
    assert np.all(np.asarray(state.agent.dataset.x)[:, 4:] != 0)  # not yet pinned
    var = np.asarray(state.agent.norm.obs.var)
    assert np.all(var[4:] > 1e-8) and np.all(var[:4] > 1e-5)
    # the statistics as after ~10^5 observations: the constant dims' variance below the eps, pinned next meta-epoch
    norm = state.agent.norm.replace(obs=state.agent.norm.obs.replace(var=var * np.array([1, 1, 1, 1, 1e-4, 1e-4])))
    state, _ = step(state.replace(agent=state.agent.replace(norm=norm)))
    x = np.asarray(state.agent.dataset.x)
    assert np.all(x[:, 4:] == 0), x
    assert np.all(x[:, :4] != 0) and not np.allclose(x[:, :4], x0[:, :4])
    with pytest.raises(ValueError, match="needs normalize_obs"):
        make_ppmo(replace(cfg, normalize_obs=False), env.spec)
