"""Continuous control: normalisation statistics, the continuous dataset file, the log-std learning rate,
host rollouts, and the Brax route end to end with an injected NaN (the EnvPool route's end-to-end test is
in ``test_mujoco_envpool.py``)."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdistill.distill.ppmo import PPMOConfig, make_ppmo
from jaxdistill.envs.spec import Box, Discrete, EnvSpec
from jaxdistill.learn.dataset import (
    DatasetFileError,
    init_dataset,
    load_dataset,
    load_obs_norm,
    save_dataset,
)
from jaxdistill.nets.networks import LearnerSpec
from jaxdistill.rl import normalize
from jaxdistill.rl.rollout import Transition
from tests.conftest import tree_equal


def test_running_statistics_match_numpy_over_batches():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, (n, 4)).astype(np.float32) for n in (7, 50, 1, 200)]
    stats = normalize.init_stats((4,))
    for b in batches:
        stats = normalize.merge(stats, jnp.asarray(b))
    everything = np.concatenate(batches)
    np.testing.assert_allclose(stats.mean, everything.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats.var, everything.var(0), rtol=1e-3)
    obs_norm = normalize.frozen_obs(normalize.NormConfig(obs=True, obs_clip=1.5), normalize.Normalizer(stats, (), ()))
    z = np.asarray(obs_norm(jnp.asarray(everything)))
    expected = np.clip((everything - everything.mean(0)) / np.sqrt(everything.var(0) + 1e-8), -1.5, 1.5)
    np.testing.assert_allclose(z, expected, atol=2e-3)


def test_reward_scale_uses_the_discounted_return_of_each_environment():
    """The return accumulator against a NumPy loop over (groups, T, E), with episode ends and a carried state."""
    rng = np.random.default_rng(1)
    G, T, E, gamma = 2, 9, 3, 0.9
    reward = rng.normal(size=(G, T, E)).astype(np.float32)
    done = rng.random((G, T, E)) < 0.2
    traj = Transition(obs=jnp.zeros((G, T, E, 1)), action=jnp.zeros((G, T, E, 1)), log_prob=jnp.zeros((G, T, E)),
                      reward=jnp.asarray(reward), terminated=jnp.asarray(done), truncated=jnp.zeros((G, T, E), bool),
                      final_obs=jnp.zeros((G, T, E, 1)), episode_return=jnp.zeros((G, T, E)),
                      episode_length=jnp.zeros((G, T, E), jnp.int32), last_return=jnp.zeros((G, T, E)))
    config = normalize.NormConfig(reward=True)
    norm = normalize.init(config, (1,), G, E)
    norm = norm.replace(ret_acc=jnp.asarray(rng.normal(size=(G, E)), jnp.float32))
    acc = np.asarray(norm.ret_acc, np.float64).copy()
    returns = []
    for t in range(T):
        acc = gamma * acc + reward[:, t]
        returns.append(acc.copy())
        acc[done[:, t]] = 0.0
    new = normalize.update(config, norm, traj, gamma)
    np.testing.assert_allclose(new.ret_acc, acc, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new.ret.var, np.var(np.stack(returns)), rtol=1e-3)
    scaled = normalize.scale_rewards(config, new, jnp.asarray(reward))
    np.testing.assert_allclose(scaled, np.clip(reward / np.sqrt(np.var(np.stack(returns)) + 1e-8), -10, 10), rtol=1e-3)


def _box_spec(obs_dim=5, dim=2) -> EnvSpec:
    return EnvSpec("Toy-v4", (obs_dim,), Box((-1.0,) * dim, (1.0,) * dim), 100)


def test_continuous_dataset_file_round_trip_and_kind_checks(tmp_path):
    spec = _box_spec()
    ds = init_dataset(jax.random.PRNGKey(0), 64, (5,), 2, log_std=jnp.asarray([-0.3, 0.2], jnp.float32))
    obs_norm = normalize.ObsNorm(mean=jnp.arange(5.0), std=jnp.full((5,), 2.0), clip=5.0)
    save_dataset(tmp_path / "c", ds, env_spec=spec, learner_spec=LearnerSpec(), obs_norm=obs_norm)
    loaded, meta = load_dataset(tmp_path / "c", expect_obs_dim=5, expect_num_actions=2, expect_continuous=True)
    assert tree_equal(loaded, ds)
    assert meta["action_type"] == "box" and meta["action_low"] == [-1.0, -1.0] and meta["obs_clip"] == 5.0
    assert "exp(log_std)" in meta["inner_step"]
    norm = load_obs_norm(tmp_path / "c")
    np.testing.assert_array_equal(norm.mean, obs_norm.mean)
    assert norm.clip == 5.0
    with pytest.raises(DatasetFileError, match="continuous-action dataset .* discrete-action task"):
        load_dataset(tmp_path / "c", expect_continuous=False)

    discrete = EnvSpec("Toy-v1", (5,), Discrete(2), 100)
    save_dataset(tmp_path / "d", init_dataset(jax.random.PRNGKey(1), 3, (5,), 2), env_spec=discrete,
                 learner_spec=LearnerSpec())
    assert load_obs_norm(tmp_path / "d") == ()
    with pytest.raises(DatasetFileError, match="discrete-action dataset .* continuous-action task"):
        load_dataset(tmp_path / "d", expect_continuous=True)

    # A log_std of the wrong size, or half of the observation statistics, is refused.
    arrays = dict(np.load(tmp_path / "c" / "dataset.npz"))
    np.savez(tmp_path / "c" / "dataset.npz", **{**arrays, "log_std": np.zeros(3, np.float32)})
    with pytest.raises(DatasetFileError, match="log_std has shape"):
        load_dataset(tmp_path / "c")
    np.savez(tmp_path / "c" / "dataset.npz", **{k: v for k, v in arrays.items() if k != "obs_std"})
    with pytest.raises(DatasetFileError, match="come together"):
        load_dataset(tmp_path / "c")


# --- Brax, in the graph ---------------------------------------------------------------------------------

TINY_CONTINUOUS = PPMOConfig(k=8, num_learners=2, num_envs=4, num_steps=16, num_minibatches=2, update_epochs=2,
                             learner=LearnerSpec(hidden_sizes=(16,)), normalize_obs=True, normalize_reward=True,
                             advantage_norm="minibatch")


def _nan_injecting_brax():
    """Brax's inverted pendulum whose physics sometimes returns a NaN observation and reward (as Brax does
    on bad contacts): about one step in eight, decided by the state itself so runs stay reproducible."""
    from jaxdistill.envs.brax_envs import BraxEnv

    env = BraxEnv("inverted_pendulum")
    real_step = env.env.step

    def step(state, action):
        nxt = real_step(state, action)
        bad = jnp.abs(jnp.sin(1e4 * nxt.obs.sum())) < 0.125
        return nxt.replace(obs=jnp.where(bad, jnp.nan, nxt.obs), reward=jnp.where(bad, jnp.nan, nxt.reward))

    env.env.step = step  # this instance only
    return env


@functools.lru_cache
def _brax_functions():
    from jaxdistill.eval.kshot import fresh_learners, make_kshot_evaluate
    from jaxdistill.run.driver import make_trainer

    env = _nan_injecting_brax()
    ppmo = make_ppmo(TINY_CONTINUOUS, env.spec)
    evaluate = make_kshot_evaluate(env, fresh_learners(env, TINY_CONTINUOUS.learner), 8, max_steps=50)
    return env, ppmo, make_trainer(env, ppmo.agent, 2), lambda k, s: evaluate(k, *ppmo.artefact(s.agent)), evaluate


def _brax_run(functions, run_dir, **kw):
    """One run through ``train_loop``; the compiled functions are shared by the test's three runs (built anew, each
    run would compile its chunk again)."""
    from jaxdistill.core.loop import train_loop

    _, ppmo, trainer, evaluate, _ = functions
    return train_loop(trainer=trainer, evaluate_fn=evaluate, total_iterations=4, chunk=2,
                      env_steps_per_iteration=ppmo.agent.env_steps_per_iteration, run_dir=run_dir, seed=5,
                      config={"k": 8}, progress=False, tensorboard=False, **kw)


def test_brax_route_end_to_end_with_injected_nans_checkpoint_resume_and_reload(tmp_path):
    functions = _brax_functions()
    env, ppmo, _, _, evaluate = functions
    full = _brax_run(functions, tmp_path / "full")
    rows = full.rows
    assert sum(r["nan_resets"] for r in rows) > 0, "the injected NaNs were not counted"
    dataset, _, obs_norm = ppmo.artefact(full.state.agent)
    for leaf in jax.tree_util.tree_leaves((dataset, obs_norm, full.state.agent.critic_params, full.state.agent.norm)):
        assert np.isfinite(np.asarray(leaf)).all()
    assert all(np.isfinite(r["policy_loss"]) and np.isfinite(r["value_loss"]) for r in rows)
    assert dataset.log_std.shape == (1,) and dataset.x.shape == (8, env.spec.obs_shape[0])
    assert not np.allclose(obs_norm.mean, 0.0), "observation statistics were never updated"

    # A run killed after 2 meta-epochs and resumed ends with exactly the uninterrupted dataset.
    killed = _brax_run(functions, tmp_path / "resumed", stop_after=2)
    assert int(killed.state.iteration) == 2
    resumed = _brax_run(functions, tmp_path / "resumed", resume=True)
    assert tree_equal(full.state.agent.dataset, resumed.state.agent.dataset)
    assert tree_equal(full.state.agent.norm, resumed.state.agent.norm)

    # The saved file trains the same learners: the same returns from the reloaded dataset and statistics.
    save_dataset(tmp_path / "ds", dataset, env_spec=env.spec, learner_spec=TINY_CONTINUOUS.learner, obs_norm=obs_norm)
    loaded, _ = load_dataset(tmp_path / "ds", expect_continuous=True, expect_obs_dim=env.spec.obs_shape[0])
    key = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(evaluate(key, dataset, (), obs_norm),
                                  evaluate(key, loaded, (), load_obs_norm(tmp_path / "ds")))


def test_brax_env_resets_to_fresh_random_states_and_truncates_at_its_limit():
    """Every episode starts from a new random state (Brax's AutoResetWrapper would repeat the first one)."""
    from jaxdistill.envs.brax_envs import BraxEnv

    env = BraxEnv("inverted_pendulum", max_episode_steps=5)
    step = jax.jit(env.step)
    obs, state = env.reset(jax.random.PRNGKey(0), ())
    firsts, truncations = [obs], 0
    for i in range(15):
        state, out = step(jax.random.PRNGKey(i + 1), state, jnp.zeros(1), ())
        if out.truncated or out.terminated:
            firsts.append(out.obs)
            truncations += int(out.truncated)
    assert truncations == 3
    firsts = np.stack(firsts)
    assert len({tuple(np.round(f, 6)) for f in firsts}) == len(firsts)


def test_host_rollout_stores_the_observation_each_action_was_taken_in():
    """A counter environment (the observation is the step count): traj.obs[t] must be t, final_obs t + 1.
    The host rollout once stored the *next* observation as ``obs`` (every host-stepped run learned from
    observations one step late)."""
    from jaxdistill.envs.core import HostStep, HostVecEnv
    from jaxdistill.rl.host_rollout import host_rollout

    class Counter(HostVecEnv):
        num_envs = 4

        def __init__(self):
            self.t = np.zeros(4, np.float32)

        def reset(self):
            return self.t[:, None].copy()

        def step(self, actions):
            assert actions.shape == (4, 1)
            self.t += 1
            return HostStep(obs=self.t[:, None].copy(), final_obs=self.t[:, None].copy(),
                            reward=actions[:, 0].astype(np.float32), terminated=np.zeros(4, bool),
                            truncated=np.zeros(4, bool), episode_return=np.full(4, np.nan), episode_length=np.zeros(4))

        def running_returns(self):
            return np.zeros(4)

    env = Counter()
    act = jax.jit(lambda key, obs: (obs * 10.0, jnp.zeros(obs.shape[:2])))  # the action echoes its observation
    traj, last_obs, _, _ = host_rollout(env, env.reset(), act, jax.random.PRNGKey(0), 5, 2, np.zeros(4))
    assert traj.obs.shape == (2, 5, 2, 1)
    np.testing.assert_array_equal(traj.obs[0, :, 0, 0], np.arange(5))
    np.testing.assert_array_equal(traj.action[1, :, 1, 0], 10.0 * np.arange(5))
    np.testing.assert_array_equal(traj.final_obs[0, :, 0, 0], np.arange(1, 6))
    np.testing.assert_array_equal(last_obs[:, :, 0], 5.0)


def test_log_std_learning_rate_scales_only_the_log_std_steps():
    from jaxdistill.distill.ppmo import distiller_optimizer
    from jaxdistill.policy.distributions import Categorical, DiagGaussian

    ds = init_dataset(jax.random.PRNGKey(0), 4, (3,), 2, log_std=jnp.zeros(2))
    grads = jax.tree_util.tree_map(lambda x: 1e-3 * jnp.ones_like(x), ds)  # small: no global-norm clipping
    config = PPMOConfig(distiller_lr=1e-3, log_std_lr=1e-5)
    opt = distiller_optimizer(config, DiagGaussian(2))
    updates, _ = opt.update(grads, opt.init(ds), ds)
    np.testing.assert_allclose(updates.y, -1e-3, rtol=2e-2)  # Adam's first step: about lr x sign
    np.testing.assert_allclose(updates.log_std, -1e-5, rtol=2e-2)
    # Categorical datasets keep the plain optimiser (discrete runs are unchanged).
    plain = distiller_optimizer(config, Categorical(2))
    assert jax.tree_util.tree_structure(plain.init(ds.replace(log_std=()))) == jax.tree_util.tree_structure(
        distiller_optimizer(dataclasses.replace(config, log_std_lr=None), Categorical(2)).init(ds.replace(log_std=())))


def test_anneal_lr_decays_the_distillers_steps_linearly_to_zero_over_the_run():
    from jaxdistill.distill.ppmo import distiller_optimizer
    from jaxdistill.policy.distributions import DiagGaussian

    ds = init_dataset(jax.random.PRNGKey(0), 4, (3,), 2, log_std=jnp.zeros(2))
    grads = jax.tree_util.tree_map(lambda x: 1e-3 * jnp.ones_like(x), ds)
    # 2 meta-epochs x 1 epoch x 2 minibatches = 4 Adam steps: rates 1, 3/4, 1/2, 1/4 of lr, then 0.
    config = PPMOConfig(distiller_lr=1e-3, log_std_lr=1e-5, anneal_lr=True, meta_epochs=2, update_epochs=1,
                        num_minibatches=2)
    opt = distiller_optimizer(config, DiagGaussian(2))
    state = opt.init(ds)
    steps = []
    for _ in range(5):
        updates, state = opt.update(grads, state, ds)
        steps.append((float(updates.y[0, 0]), float(updates.log_std[0])))
    np.testing.assert_allclose([y for y, _ in steps], [-1e-3, -7.5e-4, -5e-4, -2.5e-4, 0.0], rtol=2e-2, atol=1e-9)
    np.testing.assert_allclose([s for _, s in steps], [-1e-5, -7.5e-6, -5e-6, -2.5e-6, 0.0], rtol=2e-2, atol=1e-11)
