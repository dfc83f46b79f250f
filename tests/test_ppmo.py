import jax
import numpy as np

from jaxdistill.ppmo import PPMOConfig, make_meta_epochs, make_ppmo, make_train
from tests.conftest import replace, tree_equal


def test_meta_epoch_updates_dataset_and_critic(tiny_ppmo_config):
    ppmo = make_ppmo(tiny_ppmo_config)
    init, meta_epoch = ppmo.init, ppmo.meta_epoch
    state = jax.jit(init)(jax.random.PRNGKey(0))
    new, metrics = jax.jit(meta_epoch)(state)
    assert int(new.meta_epoch) == 1
    for field in ("x", "y", "inner_lr"):
        assert not np.allclose(getattr(state.dataset, field), getattr(new.dataset, field)), field
    assert not tree_equal(state.critic_params, new.critic_params)
    for name in ("policy_loss", "value_loss", "entropy", "approx_kl", "inner_lr"):
        assert np.isfinite(float(metrics[name])), name
    # The runner carries one set of environments per learner.
    assert new.runner.obs.shape == (2, 2, 4)


def test_the_dataset_is_traced_not_baked_into_the_compiled_function(tiny_ppmo_config):
    ppmo = make_ppmo(tiny_ppmo_config)
    init, meta_epoch = ppmo.init, ppmo.meta_epoch
    step = jax.jit(meta_epoch)
    state = init(jax.random.PRNGKey(0))
    step(state)
    other = state.replace(dataset=state.dataset.replace(x=state.dataset.x + 1.0))
    out_a, _ = step(state)
    out_b, _ = step(other)
    assert step._cache_size() == 1  # one compilation serves any dataset
    assert not np.allclose(out_a.dataset.x, out_b.dataset.x)


def test_inner_lr_is_kept_positive(tiny_ppmo_config):
    cfg = replace(tiny_ppmo_config, inner_lr_init=1e-3, distiller_lr=0.05)
    init = make_ppmo(cfg).init
    state, metrics = jax.jit(make_meta_epochs(cfg, 5))(init(jax.random.PRNGKey(1)))
    assert np.all(np.asarray(metrics["inner_lr"]) >= cfg.min_inner_lr)


def test_whole_run_is_one_pure_function_vmappable_over_seeds(tiny_ppmo_config):
    cfg = replace(tiny_ppmo_config, num_meta_epochs=3)
    train = jax.jit(jax.vmap(make_train(cfg)))
    state, metrics = train(jax.random.split(jax.random.PRNGKey(0), 3))
    assert state.dataset.x.shape == (3, 2, 4)
    assert metrics["policy_loss"].shape == (3, 3)
    assert not np.allclose(state.dataset.x[0], state.dataset.x[1])
    again, _ = train(jax.random.split(jax.random.PRNGKey(0), 3))
    assert tree_equal(state.dataset, again.dataset)  # same key, same result


def test_ppmo_config_defaults_follow_the_paper():
    cfg = PPMOConfig()
    assert (cfg.distiller_lr, cfg.critic_lr, cfg.inner_lr_init, cfg.update_epochs, cfg.gamma) == (
        2.5e-4, 2.5e-4, 0.02, 4, 0.99)
    assert cfg.learner.hidden_sizes == (64, 64) and cfg.learner.output_gain == 0.01


def test_host_side_phases_compose_to_the_in_graph_meta_epoch(tiny_ppmo_config):
    """sample_policies -> (any rollout) -> update is what a host-stepped (EnvPool) loop runs."""
    from functools import partial

    from jaxdistill.envs import make_env
    from jaxdistill.rollout import collect_rollout

    cfg = tiny_ppmo_config
    ppmo = make_ppmo(cfg)
    env, env_params = make_env(cfg.env_id)
    state = ppmo.init(jax.random.PRNGKey(4))
    expected, expected_metrics = jax.jit(ppmo.meta_epoch)(state)

    key, k_learners, k_roll, k_epochs = jax.random.split(state.key, 4)
    inits, policies = ppmo.sample_policies(k_learners, state.dataset)
    runner, traj = jax.vmap(
        lambda k, p, r: collect_rollout(k, env, env_params, partial(cfg.learner.apply, p), r, cfg.num_steps)
    )(jax.random.split(k_roll, cfg.num_learners), policies, state.runner)
    got, metrics = jax.jit(ppmo.update)(state.replace(runner=runner, key=key), k_epochs, inits, traj, runner.obs)
    np.testing.assert_allclose(got.dataset.x, expected.dataset.x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.dataset.y, expected.dataset.y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(metrics["value_loss"]), float(expected_metrics["value_loss"]), rtol=1e-4)
    np.testing.assert_allclose(float(metrics["policy_loss"]), float(expected_metrics["policy_loss"]), atol=1e-6)
    assert int(got.meta_epoch) == 1
