"""Offline distillation: the gradient-matching loss, students, percentile BC and offline data files."""

from pathlib import Path

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdistill.distill.gradient_matching import (
    GMConfig,
    gradient_distance,
    group_by_class,
    init_synthetic,
    make_gradient_matching,
    matching_loss,
    matching_value_and_grad,
)
from jaxdistill.envs.spec import Discrete, EnvSpec
from jaxdistill.learn.students import StudentTraining, minibatches, train_student, train_students
from jaxdistill.nets.networks import LearnerSpec, sample_learners
from jaxdistill.offline.data import (
    Episode,
    OfflineData,
    OfflineDataError,
    read_minari,
    validate,
    write_minari,
)
from jaxdistill.policy.distributions import Categorical

SPEC = LearnerSpec(hidden_sizes=(8,), output_gain=1.0)
DIST = Categorical(3)


def _real_batches(key, n_classes=3, batch=5, obs_dim=4, students=2):
    x = jax.random.normal(key, (students, n_classes, batch, obs_dim))
    targets = jnp.broadcast_to(jnp.arange(n_classes)[None, :, None], (students, n_classes, batch))
    return x, targets


@pytest.mark.parametrize("distance", ["l2", "cosine"])
def test_matching_loss_is_zero_when_the_synthetic_set_is_the_real_batch(distance):
    key = jax.random.PRNGKey(0)
    students = sample_learners(key, SPEC, (4,), 3, 1)
    real_x, real_t = _real_batches(jax.random.PRNGKey(1), students=1)
    syn_x = real_x[0].reshape(-1, 4)  # the real batch of every class, in class order
    syn_class = jnp.repeat(jnp.arange(3), 5)
    syn_y = jax.nn.one_hot(syn_class, 3)
    loss = jax.jit(lambda x: matching_loss(x, syn_y, syn_class, students, real_x, real_t, jnp.arange(3), SPEC.apply,
                                           DIST, distance))
    assert abs(float(loss(syn_x))) < 1e-5
    assert float(loss(syn_x + 0.5)) > 1e-3  # ... and clearly positive once the synthetic states move


def test_matching_loss_gradient_in_the_synthetic_states_matches_central_differences():
    with jax.enable_x64(True):
        key = jax.random.PRNGKey(2)
        students = jax.tree_util.tree_map(lambda w: w.astype(jnp.float64), sample_learners(key, SPEC, (4,), 3, 2))
        real_x, real_t = _real_batches(jax.random.PRNGKey(3))
        real_x = real_x.astype(jnp.float64)
        syn_class = jnp.array([0, 0, 1, 2, 2, 1])
        syn_y = jax.nn.one_hot(syn_class, 3, dtype=jnp.float64)
        x = jax.random.normal(jax.random.PRNGKey(4), (6, 4), jnp.float64)
        real_class = jnp.array([0, -1, 2])  # class 1 has no real samples: skipped
        for distance in ("l2", "cosine"):
            f = jax.jit(lambda x, distance=distance: matching_loss(x, syn_y, syn_class, students, real_x, real_t,
                                                                   real_class, SPEC.apply, DIST, distance))
            grad = jax.jit(jax.grad(f))(x)
            direction = jax.random.normal(jax.random.PRNGKey(5), x.shape, jnp.float64)
            eps = 1e-5
            fd = (f(x + eps * direction) - f(x - eps * direction)) / (2 * eps)
            np.testing.assert_allclose(float(jnp.sum(grad * direction)), float(fd), rtol=1e-6, atol=1e-9)
            assert float(jnp.abs(grad[jnp.array([2, 5])]).sum()) == 0.0  # class 1's rows: nothing to match
            assert float(jnp.abs(grad).sum()) > 0.0
            # The distiller's memory-saving scan over (student, class) terms gives the same value and gradient.
            value, (scanned, scanned_y) = jax.jit(lambda x, distance=distance: matching_value_and_grad(
                x, syn_y, syn_class, students, real_x, real_t, real_class, SPEC.apply, DIST, distance))(x)
            np.testing.assert_allclose(float(value), float(f(x)), rtol=1e-10)
            np.testing.assert_allclose(np.asarray(scanned), np.asarray(grad), rtol=1e-8, atol=1e-12)
            # ... and in the labels (learned soft labels), against central differences too.
            g = lambda y, distance=distance: matching_loss(x, y, syn_class, students, real_x, real_t, real_class,
                                                           SPEC.apply, DIST, distance)
            dy = jax.random.normal(jax.random.PRNGKey(6), syn_y.shape, jnp.float64)
            fd_y = (g(syn_y + eps * dy) - g(syn_y - eps * dy)) / (2 * eps)
            np.testing.assert_allclose(float(jnp.sum(scanned_y * dy)), float(fd_y), rtol=1e-6, atol=1e-9)
            assert float(jnp.abs(scanned_y).sum()) > 0.0


def test_gradient_distances_against_numpy():
    rng = np.random.default_rng(0)
    a = [{"w": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}]
    b = [{"w": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}]
    l2 = np.sum((a[0]["w"] - b[0]["w"]) ** 2) + np.sum((a[0]["b"] - b[0]["b"]) ** 2)
    np.testing.assert_allclose(float(gradient_distance(a, b, "l2")), l2, rtol=1e-6)
    wa, wb = a[0]["w"].T, b[0]["w"].T  # one row per output unit
    cos = np.sum(wa * wb, 1) / (np.linalg.norm(wa, axis=1) * np.linalg.norm(wb, axis=1))
    np.testing.assert_allclose(float(gradient_distance(a, b, "cosine")), np.sum(1 - cos), rtol=1e-5)


def test_the_distiller_lowers_the_matching_loss_and_learns_soft_labels_only_when_asked():
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 3, 300)
    x = (rng.normal(size=(300, 4)) + 2.0 * np.eye(4)[actions]).astype(np.float32)
    real = group_by_class(x, actions, 3)
    dataset, classes = init_synthetic(jax.random.PRNGKey(0), real, 6, 3)
    runs = {}
    for label_lr, matches in ((0.0, 1), (0.5, 1), (0.0, 3)):  # (0.0, 3): matched along the students' training
        config = GMConfig(k=6, lr=0.05, students_per_epoch=2, real_batch=32, label_lr=label_lr,
                          matches_per_student=matches, steps_between_matches=2)
        trainer = make_gradient_matching(config, SPEC, DIST, real, dataset, classes, (4,), 20)
        state = trainer.init(jax.random.PRNGKey(1))
        losses = []
        for _ in range(5):
            state, metrics = trainer.chunk(state)
            losses.append(float(np.mean(metrics["matching_loss"])))
        runs[label_lr, matches] = (state, losses)
        assert losses[-1] < 0.7 * losses[0], losses  # the states move toward matching gradients
        assert not np.allclose(np.asarray(state.dataset.x), np.asarray(dataset.x))
    # The trainer ticks every epoch (progress bars) and stops within a chunk when the run loop asks it to.
    ticks = []
    trainer.on_iteration = ticks.append
    trainer.should_stop = lambda: len(ticks) >= 3
    with pytest.raises(Exception) as stopped:
        trainer.chunk(state)
    assert ticks == [101, 102, 103], ticks
    assert "asked to stop" in str(stopped.value) or "Interrupted" in repr(stopped.value)
    fixed, learned = runs[0.0, 1][0].dataset.y, runs[0.5, 1][0].dataset.y
    # Matching along the training moves the states elsewhere than matching at initialisation only.
    assert np.abs(np.asarray(runs[0.0, 3][0].dataset.x) - np.asarray(runs[0.0, 1][0].dataset.x)).max() > 1e-3
    np.testing.assert_array_equal(np.asarray(runs[0.0, 3][0].dataset.y), np.asarray(dataset.y))
    np.testing.assert_array_equal(np.asarray(fixed), np.asarray(dataset.y))  # label_lr 0: the one-hot labels
    y = np.asarray(learned)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)  # soft labels stay distributions
    assert np.abs(y - np.asarray(dataset.y)).max() > 1e-3  # ... and moved from (0.999-)one-hot
    assert (y.argmax(axis=1) == classes).mean() >= 0.5


def test_synthetic_states_start_from_real_states_split_evenly_over_the_classes_present():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    actions = np.array([0] * 10 + [2] * 10)  # action 1 never taken
    real = group_by_class(x, actions, 3)
    syn, classes = init_synthetic(jax.random.PRNGKey(0), real, 7, 3)
    assert sorted(classes.tolist()) == [0, 0, 0, 0, 2, 2, 2]
    rows = {tuple(r) for r in np.asarray(syn.x)}
    for row, c in zip(np.asarray(syn.x), classes):
        i = int(row[0]) // 2
        assert actions[i] == c and tuple(x[i]) == tuple(row)
    assert len(rows) == 7  # drawn without replacement
    np.testing.assert_array_equal(np.asarray(syn.y), np.eye(3)[classes])


def test_students_are_one_vmapped_call_equal_to_training_each_alone_and_they_learn():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    actions = (x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 1).astype(np.int32)
    training = StudentTraining(steps=150, batch_size=16, lr=1e-2)
    key = jax.random.PRNGKey(3)
    students = jax.jit(train_students, static_argnums=(1, 2, 5, 6))(key, SPEC, DIST, jnp.asarray(x),
                                                                     jnp.asarray(actions), training, 3)
    k_init, k_train = jax.random.split(key)
    inits = sample_learners(k_init, SPEC, (4,), 3, 3)
    alone = jax.jit(lambda p, k: train_student(k, p, SPEC.apply, DIST, jnp.asarray(x), jnp.asarray(actions), training))(
        jax.tree_util.tree_map(lambda w: w[1], inits), jax.random.split(k_train, 3)[1])
    for a, b in zip(jax.tree_util.tree_leaves(alone), jax.tree_util.tree_leaves(students)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b)[1], rtol=1e-5, atol=1e-6)
    accuracy = np.mean(np.argmax(np.asarray(jax.vmap(SPEC.apply, (0, None))(students, jnp.asarray(x))), -1)
                       == actions[None], axis=1)
    assert np.all(accuracy > 0.9), accuracy


def _episodes(rng, lengths, spec):
    eps = []
    for i, t in enumerate(lengths):
        term = np.zeros(t, bool)
        term[-1] = True
        eps.append(Episode(obs=rng.normal(size=(t + 1, *spec.obs_shape)).astype(np.float32),
                           actions=rng.integers(0, spec.action_space.n, t).astype(np.int64),
                           rewards=np.full(t, float(i), np.float32), terminations=term,
                           truncations=np.zeros(t, bool), level_seed=100 + i))
    return eps


VEC_SPEC = EnvSpec(env_id="CartPole-v1", obs_shape=(4,), action_space=Discrete(2), max_episode_steps=500)


def test_minibatches_are_epochs_of_disjoint_shuffled_batches():
    idx = np.asarray(minibatches(jax.random.key(3), 10, 3, 7))  # 3 batches per epoch, 3 epochs, 7 steps kept
    assert idx.shape == (7, 3)
    for epoch in (idx[0:3], idx[3:6]):
        rows = epoch.ravel()
        assert len(set(rows.tolist())) == 9 and rows.min() >= 0 and rows.max() < 10  # disjoint within an epoch
    assert not np.array_equal(idx[0:3], idx[3:6])  # a fresh shuffle each epoch
    np.testing.assert_array_equal(np.asarray(minibatches(jax.random.key(0), 4, 8, 2)), [[0, 1, 2, 3]] * 2)
    # Over many epochs every row is drawn equally often (drop-last rotates over rows).
    counts = np.bincount(np.asarray(minibatches(jax.random.key(1), 10, 3, 3000)).ravel(), minlength=10)
    assert counts.sum() == 9000 and np.all(np.abs(counts - 900) < 120)


def test_percentile_bc_keeps_the_top_episodes_by_return():
    rng = np.random.default_rng(0)
    data = OfflineData(VEC_SPEC, _episodes(rng, [3, 5, 2, 4, 6, 1, 2, 3, 2, 2], VEC_SPEC))
    rng.shuffle(data.episodes)
    returns = data.returns
    for percent in (10, 25, 40, 100):
        kept = data.top_percent(percent)
        n = int(np.ceil(percent / 100 * 10))
        assert len(kept.episodes) == n
        np.testing.assert_array_equal(np.sort(kept.returns), np.sort(returns)[::-1][:n][::-1])
    x, a = data.top_percent(25).transitions()
    assert x.shape == (sum(len(e) for e in data.top_percent(25).episodes), 4) and a.shape == x.shape[:1]


def test_minari_dataset_roundtrip_and_minari_reads_it(tmp_path, monkeypatch):
    import minari

    rng = np.random.default_rng(2)
    data = OfflineData(VEC_SPEC, _episodes(rng, [4, 7, 3], VEC_SPEC))
    monkeypatch.chdir(tmp_path)  # a relative root, as the CLI's default runs/... gives
    path = write_minari(data, Path("minari"), "jaxdistill/test/expert-v0", description="test")
    assert path == Path("minari/jaxdistill/test/expert-v0") and (path / "data" / "main_data.hdf5").is_file()
    back = read_minari(path, VEC_SPEC)
    assert back.spec == VEC_SPEC
    for a, b in zip(data.episodes, back.episodes):
        for name in ("obs", "actions", "rewards", "terminations", "truncations"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert a.level_seed == b.level_seed
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    ds = minari.load_dataset("jaxdistill/test/expert-v0")
    assert ds.total_episodes == 3 and ds.total_steps == 14
    np.testing.assert_array_equal(next(iter(ds.iterate_episodes())).observations, data.episodes[0].obs)
    # A write that fails midway leaves no half dataset behind (a later run would read it as the data).
    def failing(dataset_id, *args, **kwargs):
        (Path("minari") / dataset_id / "data").mkdir(parents=True)
        raise RuntimeError("disk full")

    monkeypatch.setattr(minari, "create_dataset_from_buffers", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        write_minari(data, Path("minari"), "jaxdistill/test/failed-v0")
    assert not Path("minari/jaxdistill/test/failed-v0").exists() and path.is_dir()
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    # Never overwritten.
    with pytest.raises(OfflineDataError, match="not overwritten"):
        write_minari(data, Path("minari"), "jaxdistill/test/expert-v0")
    # Mismatched environment.
    other = EnvSpec(env_id="Acrobot-v1", obs_shape=(6,), action_space=Discrete(3), max_episode_steps=500)
    with pytest.raises(OfflineDataError, match="used with Acrobot-v1"):
        read_minari(path, other)


def test_corrupt_truncated_and_inconsistent_offline_data_fail_clearly(tmp_path):
    rng = np.random.default_rng(3)
    good = _episodes(rng, [4, 3], VEC_SPEC)
    path = write_minari(OfflineData(VEC_SPEC, good), tmp_path, "jaxdistill/t/bad-v0")
    hdf5 = path / "data" / "main_data.hdf5"
    # An episode whose end flag was lost: a cut-off episode.
    with h5py.File(hdf5, "r+") as f:
        term = f["episode_0/terminations"]
        term[-1] = False
    with pytest.raises(OfflineDataError, match="neither terminates nor truncates"):
        read_minari(path)
    # A truncated file.
    raw = hdf5.read_bytes()
    hdf5.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(OfflineDataError, match="bad-v0"):
        read_minari(path)
    # Inconsistent arrays, checked before anything is written.
    bad = _episodes(rng, [3], VEC_SPEC)
    bad[0].obs = bad[0].obs[:-1]
    with pytest.raises(OfflineDataError, match=r"observations have shape \(3, 4\), expected \(4, 4\)"):
        write_minari(OfflineData(VEC_SPEC, bad), tmp_path, "jaxdistill/t/other-v0")
    assert not (tmp_path / "jaxdistill/t/other-v0").exists()
    nan = _episodes(rng, [3], VEC_SPEC)
    nan[0].rewards[1] = np.nan
    with pytest.raises(OfflineDataError, match="rewards contain NaN"):
        validate(OfflineData(VEC_SPEC, nan))
    early = _episodes(rng, [3], VEC_SPEC)
    early[0].terminations[0] = True
    with pytest.raises(OfflineDataError, match="ends at step 0 before its last step"):
        validate(OfflineData(VEC_SPEC, early))
    with pytest.raises(OfflineDataError, match="neither a Minari dataset directory nor a local Minari dataset id"):
        read_minari("no/such-v0")


def test_procgen_plays_the_levels_its_id_names_and_unseen_levels_are_disjoint():
    from jaxdistill.envs import make
    from jaxdistill.envs.procgen import procgen_id
    from jaxdistill.offline.collect import record_episodes

    env = make(procgen_id("bigfish", levels=(5, 2)))
    assert env.spec.env_id == "BigfishEasy-v0:levels=5-7" and env.spec.obs_shape == (3, 64, 64)
    assert env.spec.frames_uint8 and env.spec.num_actions == 15
    data = record_episodes(env, jax.random.PRNGKey(0), lambda p, obs: jnp.zeros((obs.shape[0], 15)), (),
                           Categorical(15), 4, max_steps=50)
    assert {e.level_seed for e in data.episodes} <= {5, 6}
    assert all(e.obs.dtype == np.uint8 and e.obs.shape[1:] == (3, 64, 64) for e in data.episodes)
    assert all(e.truncations[-1] or e.terminations[-1] for e in data.episodes)
    assert env.unseen().levels == (7, 1_000_000) and make("BigfishEasy-v0").levels == (0, 200)
    with pytest.raises(ValueError, match="unknown Procgen task 'NosuchEasy-v0'"):
        make("NosuchEasy-v0")


def test_an_interrupted_distillation_is_never_saved_or_evaluated(tmp_path, monkeypatch):
    from jaxdistill.core.errors import RunInterrupted
    from jaxdistill.offline import pipeline

    data = OfflineData(VEC_SPEC, _episodes(np.random.default_rng(5), [6, 6], VEC_SPEC))

    def stopped(**kw):
        raise RunInterrupted("interrupted at iteration 7 of 10", run_dir=kw["run_dir"])

    monkeypatch.setattr(pipeline, "train_loop", stopped)
    config = pipeline.StudyConfig(gm=GMConfig(k=3, epochs=10))
    with pytest.raises(RunInterrupted, match="interrupted at iteration 7 of 10"):
        pipeline.run_distill(tmp_path, data, SPEC, config, 0, resume=False, progress=False)
    assert not (tmp_path / "distill" / "dataset").exists()
