"""Behaviour matching (offline distillation through the students' training): the meta-gradient through T inner
steps against finite differences, the outer losses against NumPy, a toy whose answer is known, and a resumed run
bit for bit."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_dataset_gradient_matches_central_differences

from jaxdistill.distill import behaviour_matching as bm
from jaxdistill.envs.spec import Discrete, EnvSpec
from jaxdistill.learn.dataset import SyntheticDataset
from jaxdistill.learn.students import ensemble_outputs, train_students
from jaxdistill.nets.networks import LearnerSpec
from jaxdistill.offline.data import Episode, OfflineData
from jaxdistill.policy.distributions import Categorical, DiagGaussian

SPEC = LearnerSpec(hidden_sizes=(8,), output_gain=1.0)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_the_meta_gradient_through_t_inner_steps_matches_finite_differences(optimizer):
    """d(outer loss)/d(states, label logits) through 6 rematerialised inner steps, in float64."""
    with jax.enable_x64(True):
        dist = Categorical(3)
        config = bm.BMConfig(k=5, inner_steps=6, inner_optimizer=optimizer, inner_lr=0.05 if optimizer == "adam" else 0.5,
                             students_per_epoch=2, real_batch=16, outer_loss="avpbc", remat=True)
        keys = jax.random.split(jax.random.PRNGKey(0), 5)
        real = bm.RealBatchSource(x=jax.random.normal(keys[0], (40, 3), jnp.float64),
                                  actions=jax.random.randint(keys[1], (40,), 0, 3),
                                  target=jax.nn.softmax(2 * jax.random.normal(keys[2], (40, 3), jnp.float64)),
                                  weight=jax.random.uniform(keys[3], (40,), jnp.float64, 0.5, 1.5))
        loss = bm.make_outer_loss(config, SPEC, dist, (3,))
        data = SyntheticDataset(x=jax.random.normal(keys[4], (5, 3), jnp.float64),
                                y=jnp.log(jax.nn.softmax(jax.random.normal(keys[1], (5, 3), jnp.float64))),
                                inner_lr=jnp.zeros((), jnp.float64))
        f = jax.jit(lambda d: loss(d.x, d.y, jax.random.PRNGKey(7), real)[0])
        assert_dataset_gradient_matches_central_differences(f, data, ("x", "y"), per_field=6)


def test_outer_losses_against_numpy():
    rng = np.random.default_rng(0)
    outputs, expert = rng.normal(size=(6, 4)), rng.dirichlet(np.ones(4), size=6)
    expert[0] = [1.0, 0.0, 0.0, 0.0]  # a deterministic expert: 0 log 0 counts 0
    actions = rng.integers(0, 4, 6)
    log_p = outputs - np.log(np.exp(outputs).sum(1, keepdims=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.nansum(np.where(expert > 0, expert * (np.log(expert) - log_p), 0.0), axis=1)
    got = bm.per_state_distance(Categorical(4), jnp.asarray(outputs), jnp.asarray(expert), "pbc")
    np.testing.assert_allclose(got, kl, rtol=1e-5)
    got = bm.per_state_distance(Categorical(4), jnp.asarray(outputs), jnp.asarray(actions), "dbc")
    np.testing.assert_allclose(got, -log_p[np.arange(6), actions], rtol=1e-5)
    got = bm.per_state_distance(DiagGaussian(4), jnp.asarray(outputs), jnp.asarray(expert), "pbc")
    np.testing.assert_allclose(got, ((outputs - expert) ** 2).sum(1), rtol=1e-5)
    # avpbc: the weighted mean of the same terms.
    w = np.array([0.0, 1.0, 2.0, 0.5, 0.5, 2.0], np.float32)
    batch = bm.RealBatchSource(x=jnp.asarray(outputs, jnp.float32), actions=jnp.asarray(actions),
                               target=jnp.asarray(expert, jnp.float32), weight=jnp.asarray(w))
    identity = lambda params, x: x  # noqa: E731  (the "student" outputs its input)
    np.testing.assert_allclose(bm.outer_value(None, identity, Categorical(4), batch, "avpbc"),
                               (kl * w).sum() / w.sum(), rtol=1e-5)
    np.testing.assert_allclose(bm.outer_value(None, identity, Categorical(4), batch, "pbc"), kl.mean(), rtol=1e-5)


def test_returns_to_go_and_value_weights_against_a_numpy_loop():
    spec = EnvSpec(env_id="toy", obs_shape=(2,), action_space=Discrete(2), max_episode_steps=10)
    rewards = [np.array([1.0, 0.0, 2.0], np.float32), np.array([0.5, 0.5], np.float32)]
    episodes = [Episode(obs=np.zeros((len(r) + 1, 2), np.float32), actions=np.zeros(len(r), np.int64), rewards=r,
                        terminations=np.eye(len(r), dtype=bool)[-1], truncations=np.zeros(len(r), bool))
                for r in rewards]
    got = OfflineData(spec, episodes).returns_to_go(0.5)
    np.testing.assert_allclose(got, [1 + 0.5 * 0 + 0.25 * 2, 0 + 0.5 * 2, 2, 0.5 + 0.25, 0.5])
    w = bm.value_weights(got)
    np.testing.assert_allclose(w.mean(), 1.0, rtol=1e-6)
    assert w.min() == 0.0 and np.argmax(w) == np.argmax(got)
    np.testing.assert_array_equal(bm.value_weights(np.full(4, 3.0)), np.ones(4))


def test_an_ensemble_acts_by_its_members_mean_probabilities():
    members = jax.vmap(lambda k: SPEC.init_params(k, (3,), 4))(jax.random.split(jax.random.PRNGKey(1), 5))
    obs = jax.random.normal(jax.random.PRNGKey(2), (7, 3))
    probs = jax.vmap(lambda p: jax.nn.softmax(SPEC.apply(p, obs)))(members).mean(0)
    np.testing.assert_allclose(jax.nn.softmax(ensemble_outputs(SPEC, Categorical(4), members, obs)), probs, rtol=1e-5)
    means = jax.vmap(lambda p: SPEC.apply(p, obs))(members).mean(0)
    np.testing.assert_allclose(ensemble_outputs(SPEC, DiagGaussian(4), members, obs), means, rtol=1e-5)


def test_continuous_students_act_by_their_own_means_in_an_environment():
    """Each continuous student steers its own episode by its mean (no std: sampled equals greedy), as that student
    alone would; the student policy once handed the environment the first student's mean for every episode."""
    from jaxdistill.envs.registry import make
    from jaxdistill.eval.episodes import play_episodes
    from jaxdistill.eval.students import make_student_evaluate

    env = make("Pendulum-v1")
    dist = DiagGaussian(1)
    students = jax.vmap(lambda k: SPEC.init_params(k, (3,), 1))(jax.random.split(jax.random.PRNGKey(3), 3))
    students = jax.tree_util.tree_map(lambda p: p * 30.0, students)  # outputs far from zero: students differ
    key = jax.random.PRNGKey(4)
    sampled = make_student_evaluate(env, SPEC, dist, 3, 2, greedy=False, max_steps=50)(key, students)
    greedy = make_student_evaluate(env, SPEC, dist, 3, 2, greedy=True, max_steps=50)(key, students)
    assert sampled.shape == (3, 2)
    np.testing.assert_array_equal(np.asarray(sampled), np.asarray(greedy))
    repeated = jax.tree_util.tree_map(lambda p: jnp.repeat(p, 2, axis=0), students)
    by_hand = play_episodes(env, key, lambda p, o: (jax.vmap(SPEC.apply)(p, o), jnp.full((6, 1), -jnp.inf)),
                            repeated, 6, dist, True, None, 50)
    np.testing.assert_allclose(np.asarray(sampled).reshape(-1), np.asarray(by_hand), rtol=1e-6)
    assert len(np.unique(np.round(np.asarray(sampled)[:, 0], 3))) == 3


def _toy():
    """A 2-D state, 2 actions, an expert that takes action 1 where x0 + x1 > 0; the real data is 400 states."""
    x = np.random.default_rng(0).normal(size=(400, 2)).astype(np.float32)
    expert = np.where((x[:, 0] + x[:, 1] > 0)[:, None], [0.02, 0.98], [0.98, 0.02]).astype(np.float32)
    return x, expert


def test_behaviour_matching_lowers_its_outer_loss_and_teaches_the_expert_on_a_toy():
    """Two synthetic states, both labelled wrong and placed badly: the distiller must move them (and the labels)
    until students trained on them for 10 momentum steps agree with the expert on most real states."""
    x, expert = _toy()
    dist = Categorical(2)
    config = bm.BMConfig(k=2, epochs=150, inner_steps=10, inner_optimizer="momentum", inner_lr=0.3,
                         students_per_epoch=4, real_batch=128, lr_decay=1.0,
                         lr=0.05, label_lr=0.1, outer_loss="pbc")
    real = bm.real_source(x, expert.argmax(1), expert, None, True)
    start = SyntheticDataset(x=jnp.asarray([[0.3, 0.1], [0.2, 0.3]]), y=jnp.asarray([[0.9, 0.1], [0.9, 0.1]]),
                             inner_lr=jnp.zeros(()))
    trainer = bm.make_behaviour_matching(config, SPEC, dist, real, start, (2,), 150)
    state, metrics = trainer.chunk(trainer.init(jax.random.PRNGKey(0)))
    loss = np.asarray(metrics["outer_loss"])
    assert loss[-20:].mean() < 0.5 * loss[:5].mean()
    students = train_students(jax.random.PRNGKey(9), SPEC, dist, state.dataset.x, state.dataset.y, config.training(), 16)
    greedy = np.asarray(jnp.argmax(jax.vmap(lambda p: SPEC.apply(p, jnp.asarray(x)))(students), -1))
    assert (greedy == expert.argmax(1)).mean() > 0.9
    before = train_students(jax.random.PRNGKey(9), SPEC, dist, start.x, start.y, config.training(), 16)
    assert (np.asarray(jnp.argmax(jax.vmap(lambda p: SPEC.apply(p, jnp.asarray(x)))(before), -1))
            == expert.argmax(1)).mean() < 0.7


def test_label_lr_zero_keeps_the_labels_and_the_evaluation_students_are_the_inner_loops(tmp_path):
    x, expert = _toy()
    dist = Categorical(2)
    config = bm.BMConfig(k=2, inner_steps=4, students_per_epoch=2, real_batch=16, label_lr=0.0, outer_loss="pbc")
    real = bm.real_source(x, expert.argmax(1), expert, None, True)
    start = SyntheticDataset(x=jnp.asarray([[0.3, 0.1], [0.2, 0.3]]), y=jnp.asarray([[0.7, 0.3], [0.2, 0.8]]),
                             inner_lr=jnp.zeros(()))
    trainer = bm.make_behaviour_matching(config, SPEC, dist, real, start, (2,), 3)
    state, _ = trainer.chunk(trainer.init(jax.random.PRNGKey(0)))
    np.testing.assert_allclose(state.dataset.y, start.y, rtol=1e-6)
    assert not np.allclose(state.dataset.x, start.x)
    training = config.training()
    assert (training.steps, training.batch_size, training.optimizer, training.lr) == (4, 2, "adam", config.inner_lr)


def test_lr_decay_scales_the_outer_steps_from_its_epoch_on():
    """A decay of 1e-6 from epoch 2 freezes the set there: four epochs end where two undecayed ones did, and
    the two epochs before the decay are the undecayed run's."""
    x, expert = _toy()
    dist = Categorical(2)
    real = bm.real_source(x, expert.argmax(1), expert, None, True)
    start = SyntheticDataset(x=jnp.asarray([[0.3, 0.1], [0.2, 0.3]]), y=jnp.asarray([[0.7, 0.3], [0.2, 0.8]]),
                             inner_lr=jnp.zeros(()))

    def run(epochs, **decay):
        config = bm.BMConfig(k=2, inner_steps=4, students_per_epoch=2, real_batch=16, lr=0.05, **decay)
        trainer = bm.make_behaviour_matching(config, SPEC, dist, real, start, (2,), epochs)
        return trainer.chunk(trainer.init(jax.random.PRNGKey(0)))[0].dataset

    two, four = run(2), run(4)
    frozen = run(4, lr_decay=1e-6, lr_decay_at=2)
    np.testing.assert_allclose(frozen.x, two.x, atol=1e-6)
    np.testing.assert_allclose(frozen.y, two.y, atol=1e-6)
    assert np.abs(np.asarray(four.x) - np.asarray(two.x)).max() > 1e-3
    assert bm.config_problems(bm.BMConfig(lr_decay=0.0, lr_decay_at=-1)) == [
        "--bm.lr-decay must lie in (0, 1] (got 0.0)", "--bm.lr-decay-at must be >= 0 (got -1)"]


def _study_data(spec, rng):
    lengths = [9, 7, 8, 6]
    episodes = [Episode(obs=rng.normal(size=(t + 1, 4)).astype(np.float32),
                        actions=rng.integers(0, 2, t).astype(np.int64), rewards=np.ones(t, np.float32),
                        terminations=np.eye(t, dtype=bool)[-1], truncations=np.zeros(t, bool)) for t in lengths]
    return OfflineData(spec, episodes)


def test_a_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path):
    from jaxdistill.offline import pipeline

    spec = EnvSpec(env_id="CartPole-v1", obs_shape=(4,), action_space=Discrete(2), max_episode_steps=500)
    data = _study_data(spec, np.random.default_rng(3))
    study = pipeline.StudyConfig(method="bm", eval_every=2,
                                 bm=bm.BMConfig(k=4, epochs=6, inner_steps=3, students_per_epoch=2, real_batch=8,
                                                outer_loss="dbc"))
    straight, result, initial = pipeline.run_distill(tmp_path / "a", data, SPEC, study, 0, False, progress=False)
    assert result["epochs"] == 6 and result["method"] == "behaviour matching (dbc)"
    assert not np.array_equal(np.asarray(straight.x), np.asarray(initial.x))
    short = dataclasses.replace(study, bm=dataclasses.replace(study.bm, epochs=4))
    pipeline.run_distill(tmp_path / "b", data, SPEC, short, 0, False, progress=False)
    resumed, result, _ = pipeline.run_distill(tmp_path / "b", data, SPEC, study, 0, True, progress=False)
    assert result["epochs"] == 6
    np.testing.assert_array_equal(np.asarray(resumed.x), np.asarray(straight.x))
    np.testing.assert_array_equal(np.asarray(resumed.y), np.asarray(straight.y))
    import json

    meta = json.loads((tmp_path / "a" / "distill" / "dataset" / "metadata.json").read_text())
    assert meta["student_training"] == study.bm.training().to_dict()  # evaluation repeats the inner loop


def test_an_outer_loss_that_needs_an_expert_is_refused_without_one(tmp_path):
    from jaxdistill.offline import pipeline

    spec = EnvSpec(env_id="CartPole-v1", obs_shape=(4,), action_space=Discrete(2), max_episode_steps=500)
    study = pipeline.StudyConfig(method="bm", bm=bm.BMConfig(k=4, outer_loss="pbc"))
    with pytest.raises(ValueError, match="--bm.outer-loss pbc needs the expert policy"):
        pipeline.run_distill(tmp_path, _study_data(spec, np.random.default_rng(0)), SPEC, study, 0, False)
    assert bm.config_problems(bm.BMConfig(inner_steps=0, real_batch=0, inner_momentum=1.0)) == [
        "--bm.inner-steps must lie in [1, 1000] (got 0)", "--bm.real-batch must be >= 1 (got 0)",
        "--bm.inner-momentum must lie in [0, 1) (got 1.0)"]


def test_a_nan_stops_the_run_naming_the_epoch_and_the_last_good_checkpoint(tmp_path):
    from jaxdistill.core.errors import NonFiniteError
    from jaxdistill.offline import pipeline

    spec = EnvSpec(env_id="CartPole-v1", obs_shape=(4,), action_space=Discrete(2), max_episode_steps=500)
    study = pipeline.StudyConfig(method="bm", eval_every=1, bm=bm.BMConfig(
        k=4, epochs=6, inner_steps=2, students_per_epoch=1, real_batch=8, outer_loss="dbc", lr=float("inf")))  # the first step overflows
    with pytest.raises(NonFiniteError, match=r"between iteration (\d) and \d.*iteration \1, is checkpointed in"):
        pipeline.run_distill(tmp_path, _study_data(spec, np.random.default_rng(0)), SPEC, study, 0, False,
                             progress=False)
    assert not (tmp_path / "distill" / "dataset").exists()


def test_the_offline_report_puts_every_variant_beside_bc_100(tmp_path):
    import json

    from experiments.offline_report import collect, format_table, variant_of

    def study(name, env_id, rows, greedy=False):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps({"env_id": env_id, "config": {"greedy": greedy},
            "methods": [{"method": m, "split": "id", "mean": mean, "std": 1.0, "dataset_size": size}
                        for m, mean, size in rows]}))
        return tmp_path / name

    runs = (study("offline_breakout-minatar_s0", "Breakout-MinAtar", [("bc100", 20.0, 999), ("synthetic", 2.0, 150)]),
            study("offline_breakout-minatar_bm_k16_s0", "Breakout-MinAtar", [("bc100", 20.0, 999), ("bm-pbc", 5.0, 16)]),
            study("offline_spaceinvaders-minatar_bm_s0", "SpaceInvaders-MinAtar", [("bc100", 40.0, 999),
                                                                                    ("bm-pbc", 30.0, 150)]))
    assert variant_of(runs[1], "Breakout-MinAtar") == "bm_k16" and variant_of(runs[0], "Breakout-MinAtar") == "gm"
    games, table = collect(runs, "id")
    assert games == ["Breakout-MinAtar", "SpaceInvaders-MinAtar"]
    assert list(table) == ["bc100", "synthetic [gm]", "bm-pbc [bm_k16]", "bm-pbc [bm]"]
    text = format_table(games, table)
    assert "| bm-pbc [bm_k16] | 5.00 ± 1.00 (25 %) | - |" in text
    assert "| bm-pbc [bm] | - | 30.00 ± 1.00 (75 %) |" in text
    # A greedy study is its own table, its shares against its own (greedy) BC-100 %.
    greedy = study("offline_breakout-minatar_bmg_s0", "Breakout-MinAtar", [("bc100", 25.0, 999), ("bm-pbc", 15.0, 150)],
                   greedy=True)
    games, table = collect((*runs, greedy), "id", "greedy")
    assert games == ["Breakout-MinAtar"] and list(table) == ["bc100", "bm-pbc [bmg]"]
    assert "| bm-pbc [bmg] | 15.00 ± 1.00 (60 %) |" in format_table(games, table)
    assert list(collect((*runs, greedy), "id")[1]) == ["bc100", "synthetic [gm]", "bm-pbc [bm_k16]", "bm-pbc [bm]"]
