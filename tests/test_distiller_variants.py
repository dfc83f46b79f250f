"""The paper script's options (several inner steps, hard labels, fixed init, real-state init, a linear
encoder), HaDES' BC inner training, and the evolution-strategies distiller."""

from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY_PPMO, assert_dataset_gradient_matches_central_differences, replace
from test_inner_and_metagrad import numpy_one_step

from jaxdistill.distill.ppmo import make_ppmo, meta_policy_loss
from jaxdistill.envs import cartpole_id, make
from jaxdistill.eval.kshot import FreshLearners
from jaxdistill.learn.dataset import (
    DatasetFileError,
    SyntheticDataset,
    hard_labels,
    init_dataset,
    load_dataset,
    load_encoder,
    save_dataset,
)
from jaxdistill.learn.inner import InnerTraining, inner_train, train_fresh_learners
from jaxdistill.nets.networks import LearnerSpec, init_mlp, mlp_apply, sample_learners
from jaxdistill.policy.distributions import Categorical
from jaxdistill.run.driver import init_state, iteration

ENV = make(cartpole_id(1))


@pytest.mark.parametrize("per_step", [False, True])
def test_three_inner_steps_meta_gradient_matches_finite_differences(per_step):
    """n = 3 SGD steps, all differentiated through: the meta-gradient in X, Y and the inner lr (one shared rate, or
    one per step) against float64 central differences, and the loss really differs from the one-step one."""
    with jax.enable_x64(True):
        spec, inner = LearnerSpec(hidden_sizes=(16,)), InnerTraining(steps=3, per_step_lr=per_step)
        L, B, obs_dim, A, k = 2, 16, 4, 2, 3
        keys = jax.random.split(jax.random.PRNGKey(3), 6)
        inits = jax.tree_util.tree_map(lambda w: w.astype(jnp.float64), sample_learners(keys[0], spec, (obs_dim,), A, L))
        data = SyntheticDataset(x=jax.random.normal(keys[1], (k, obs_dim), jnp.float64),
                                y=jax.random.normal(keys[2], (k, A), jnp.float64),
                                inner_lr=jnp.asarray([0.4, 0.15, 0.7] if per_step else 0.4, jnp.float64))
        obs = jax.random.normal(keys[3], (L, B, obs_dim), jnp.float64)
        actions = jax.random.randint(keys[4], (L, B), 0, A)
        advantages = jax.random.normal(keys[5], (L, B), jnp.float64)
        old = jax.vmap(lambda p, o, a: jax.nn.log_softmax(mlp_apply(inner_train(p, data, mlp_apply, None, inner), o))[
            jnp.arange(B), a])(inits, obs, actions) + 0.1 * jax.random.normal(jax.random.PRNGKey(9), (L, B), jnp.float64)
        loss = partial(meta_policy_loss, learner_inits=inits, obs=obs, actions=actions, old_log_probs=old,
                       advantages=advantages, apply=mlp_apply, clip_eps=0.2)
        f = jax.jit(lambda d: loss(d, inner=inner)[0])
        one_step = float(loss(data.replace(inner_lr=data.inner_lr.reshape(-1)[0]))[0])
        assert abs(float(f(data)) - one_step) > 1e-4  # three steps are not one
        assert_dataset_gradient_matches_central_differences(f, data, ("x", "y", "inner_lr"), per_field=5)
        if per_step:  # the steps' rates are used each at its own step: permuting them changes the loss
            assert abs(float(f(data.replace(inner_lr=data.inner_lr[::-1]))) - float(f(data))) > 1e-6


@pytest.mark.parametrize("per_step", [False, True])
def test_a_three_step_dataset_file_trains_learners_by_the_readme_recipe(tmp_path, per_step):
    """A file written with inner_steps = 3: the dataset file's recipe (docs/dataset-format.md) (n plain SGD steps on the MSE from
    metadata.json's inner_steps, step i at inner_lr[i] with per-step rates, here by hand in NumPy) gives the learners
    the library's evaluator trains."""
    inner = InnerTraining(steps=3, per_step_lr=per_step)
    data = init_dataset(jax.random.PRNGKey(1), 2, (4,), 2, inner_lr=[0.3, 0.1, 0.5] if per_step else 0.3)
    save_dataset(tmp_path, data, env_spec=ENV.spec, learner_spec=LearnerSpec(), extra=inner.metadata(),
                 inner_step=inner.describe())
    loaded, meta = load_dataset(tmp_path)
    assert meta["inner_steps"] == 3 and InnerTraining.from_metadata(meta) == inner
    key = jax.random.PRNGKey(5)
    family = FreshLearners(LearnerSpec(), (4,), Categorical(2), InnerTraining.from_metadata(meta))
    trained = family.train(key, loaded, (), 2)
    inits = sample_learners(key, LearnerSpec(), (4,), 2, 2)
    x, y, lr = (np.asarray(a, np.float64) for a in (np.load(tmp_path / "dataset.npz")["x"],
                                                      np.load(tmp_path / "dataset.npz")["y"], meta["inner_lr"]))
    assert lr.shape == ((3,) if per_step else ())
    for i in range(2):
        by_hand = [{k: np.asarray(v[i], np.float64) for k, v in layer.items()} for layer in inits]
        for step in range(meta["inner_steps"]):
            by_hand = numpy_one_step(by_hand, x, y, float(lr[step] if per_step else lr))
        for got, want in zip(trained, by_hand):
            np.testing.assert_allclose(got["w"][i], want["w"], rtol=1e-4, atol=1e-4 * np.abs(want["w"]).max())
    # One step (what a reader ignoring inner_steps would do) gives other learners.
    one = numpy_one_step([{k: np.asarray(v[0], np.float64) for k, v in layer.items()} for layer in inits], x, y,
                         float(lr.reshape(-1)[0]))
    assert np.abs(np.asarray(trained[-1]["w"][0]) - one[-1]["w"]).max() > 1e-3
    if per_step:  # rates that do not fit the steps the file names are refused
        import json

        meta["inner_steps"] = 4
        (tmp_path / "metadata.json").write_text(json.dumps(meta))
        with pytest.raises(DatasetFileError, match=r"one rate per inner step, shape \(4,\), got shape \(3,\)"):
            load_dataset(tmp_path)


def test_hard_labels_use_cross_entropy_stay_fixed_and_only_x_learns():
    params = init_mlp(jax.random.PRNGKey(0), LearnerSpec(hidden_sizes=(8,)), 4, 3)
    data = SyntheticDataset(x=jax.random.normal(jax.random.PRNGKey(1), (4, 4)), y=hard_labels(4, 3),
                            inner_lr=jnp.asarray(0.5))
    np.testing.assert_array_equal(np.argmax(data.y, -1), [0, 1, 2, 0])  # balanced classes
    trained = inner_train(params, data, mlp_apply, Categorical(3), InnerTraining(labels="hard"))
    ce = lambda p: -jnp.mean(jnp.sum(data.y * jax.nn.log_softmax(mlp_apply(p, data.x)), -1))
    want = jax.tree_util.tree_map(lambda p, g: p - 0.5 * g, params, jax.grad(ce)(params))
    np.testing.assert_allclose(trained[-1]["w"], want[-1]["w"], rtol=1e-5, atol=1e-7)
    mse_step = inner_train(params, data, mlp_apply, Categorical(3))
    assert np.abs(np.asarray(mse_step[-1]["w"]) - np.asarray(want[-1]["w"])).max() > 1e-4
    with pytest.raises(ValueError, match="discrete"):
        InnerTraining(labels="hard").loss(None)


def test_fixed_init_trains_the_same_learners_every_meta_epoch():
    for fixed in (True, False):
        ppmo = make_ppmo(replace(TINY_PPMO, fixed_init=fixed), ENV.spec)
        state = ppmo.agent.init(jax.random.PRNGKey(0), jax.random.PRNGKey(1))
        a, b = (ppmo.agent.actors(jax.random.PRNGKey(s), state)[0] for s in (10, 11))
        same = all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))
        assert same == fixed


def test_x_starts_from_recorded_real_states(tmp_path):
    from experiments.record_states import Args, main

    path = main(Args(env=cartpole_id(2), out=tmp_path / "states.npy", num_envs=4, num_steps=32))
    states = np.load(path)
    assert states.shape == (128, 8) and np.unique(states, axis=0).shape[0] > 100  # a rollout, not one state
    env2 = make(cartpole_id(2))
    ppmo = make_ppmo(replace(TINY_PPMO, k=3, x_init_states=str(path)), env2.spec)
    x = np.asarray(ppmo.agent.init(jax.random.PRNGKey(0), jax.random.PRNGKey(1)).dataset.x)
    assert all(any(np.array_equal(row, s) for s in states) for row in x)
    gaussian = make_ppmo(replace(TINY_PPMO, k=3), env2.spec).agent.init(jax.random.PRNGKey(0), jax.random.PRNGKey(1))
    np.testing.assert_array_equal(
        gaussian.dataset.y, ppmo.agent.init(jax.random.PRNGKey(0), jax.random.PRNGKey(1)).dataset.y)
    with pytest.raises(ValueError, match="do not fit"):
        make_ppmo(replace(TINY_PPMO, x_init_states=str(path)), ENV.spec)  # 8 features for 1-D's 4


L4_BREAKOUT = Path(__file__).resolve().parents[1] / "experiments/results/minatar_breakout_k16_l4_ppmo_s0/dataset"


def test_a_rollback_stage_starts_from_the_previous_stages_set_and_its_first_l_encoder_layers():
    """``init_from``: l = 2 from the committed l = 4 Breakout run, for PPMO (set and encoder) and ES (the mean)."""
    from jax.flatten_util import ravel_pytree

    from jaxdistill.distill.es import ESConfig, make_es
    from jaxdistill.presets import minatar_learner

    env = make("Breakout-MinAtar")
    saved, _ = load_dataset(L4_BREAKOUT)
    encoder = load_encoder(L4_BREAKOUT)
    assert len(encoder) == 4
    config = replace(TINY_PPMO, k=16, learner=minatar_learner(2), critic=minatar_learner(0, output_gain=1.0),
                     init_from=str(L4_BREAKOUT))
    state = make_ppmo(config, env.spec).agent.init(jax.random.PRNGKey(0), jax.random.PRNGKey(1))
    for name in ("x", "y", "inner_lr"):
        np.testing.assert_array_equal(getattr(state.dataset, name), getattr(saved, name))
    assert len(state.encoder_params) == 2
    for got, want in zip(state.encoder_params, encoder):
        np.testing.assert_array_equal(got["w"], want["w"])
        np.testing.assert_array_equal(got["b"], want["b"])
    # Fixed one-hot labels replace the file's soft ones; X still comes from the file.
    hard = make_ppmo(replace(config, inner=InnerTraining(labels="hard")), env.spec).agent.init(
        jax.random.PRNGKey(0), jax.random.PRNGKey(1))
    np.testing.assert_array_equal(hard.dataset.x, saved.x)
    np.testing.assert_array_equal(hard.dataset.y, np.eye(3)[np.arange(16) % 3])
    # ES (no encoder): the search distribution's mean starts at the file's set.
    es = make_es(ESConfig(k=16, population=2, learner=minatar_learner(0), init_from=str(L4_BREAKOUT)), env)
    start = {"x": saved.x, "y": saved.y, "log_inner_lr": jnp.log(saved.inner_lr)}
    np.testing.assert_array_equal(es.init(jax.random.PRNGKey(0)).es.mean, ravel_pytree(start)[0])
    # A stage cannot start with more encoder layers than the file trained, nor on another game.
    with pytest.raises(DatasetFileError, match="an encoder of 4 layer"):
        make_ppmo(replace(config, learner=minatar_learner(5)), env.spec)
    with pytest.raises(DatasetFileError, match="distilled on Breakout-MinAtar, this run is on Asterix-MinAtar"):
        make_ppmo(config, make("Asterix-MinAtar").spec)


def test_ppmo_with_hard_labels_and_a_linear_encoder_learns_x_and_the_encoder_but_not_y(tmp_path):
    """One meta-epoch with ``--inner.labels hard`` and ``--encoder-dim 3`` (one compilation for both): the
    labels stay the balanced one-hot classes, X and the encoder move, and the encoder is saved and used."""
    spec = LearnerSpec(hidden_sizes=(16,), encoder_dim=3)
    assert spec.encoder_layers == 1 and spec.init_params(jax.random.PRNGKey(0), (4,), 2)[0]["w"].shape == (3, 16)
    ppmo = make_ppmo(replace(TINY_PPMO, learner=spec, inner=InnerTraining(labels="hard")), ENV.spec)
    state = jax.jit(partial(init_state, ENV, ppmo.agent))(jax.random.PRNGKey(0))
    after, _ = jax.jit(partial(iteration, ENV, ppmo.agent))(state)
    np.testing.assert_array_equal(state.agent.dataset.y, hard_labels(2, 2))
    np.testing.assert_array_equal(after.agent.dataset.y, state.agent.dataset.y)
    assert np.abs(np.asarray(after.agent.dataset.x - state.agent.dataset.x)).max() > 0
    enc0, enc1 = state.agent.encoder_params, after.agent.encoder_params
    assert enc0[0]["w"].shape == (4, 3) and np.abs(np.asarray(enc1[0]["w"] - enc0[0]["w"])).max() > 0
    dataset, encoder, _ = ppmo.artefact(after.agent)
    save_dataset(tmp_path, dataset, env_spec=ENV.spec, learner_spec=spec, encoder_params=encoder)
    loaded = load_encoder(tmp_path)
    np.testing.assert_array_equal(loaded[0]["w"], encoder[0]["w"])
    # The learners train on encoded instances and act on encoded observations.
    trained = train_fresh_learners(jax.random.PRNGKey(2), spec, (4,), 2, 1, dataset, loaded, Categorical(2),
                                   InnerTraining(labels="hard"))[1]
    x_enc = dataset.x @ loaded[0]["w"] + loaded[0]["b"]
    init = sample_learners(jax.random.PRNGKey(2), spec, (4,), 2, 1)
    want = inner_train(jax.tree_util.tree_map(lambda v: v[0], init), dataset.replace(x=x_enc), mlp_apply, Categorical(2),
                       InnerTraining(labels="hard"))
    np.testing.assert_allclose(trained[-1]["w"][0], want[-1]["w"], rtol=1e-5, atol=1e-7)


def test_bc_inner_training_is_adam_on_the_cross_entropy_to_softmax_labels():
    """HaDES' protocol: full-batch Adam steps (eps 1e-5) on -sum(softmax(y) log_softmax(f)), against NumPy Adam."""
    inner = InnerTraining(kind="bc", steps=4, bc_lr=0.05)
    params = init_mlp(jax.random.PRNGKey(0), LearnerSpec(hidden_sizes=(8,)), 4, 2)
    data = init_dataset(jax.random.PRNGKey(1), 3, (4,), 2)
    trained = inner_train(params, data, mlp_apply, Categorical(2), inner)
    target = jax.nn.softmax(data.y, -1)
    grad = jax.grad(lambda p: -jnp.mean(jnp.sum(target * jax.nn.log_softmax(mlp_apply(p, data.x)), -1)))
    p = [{k: np.asarray(v, np.float64) for k, v in layer.items()} for layer in params]
    m = jax.tree_util.tree_map(np.zeros_like, p)
    v = jax.tree_util.tree_map(np.zeros_like, p)
    for t in range(1, 5):
        g = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), grad(jax.tree_util.tree_map(jnp.asarray, p)))
        m = jax.tree_util.tree_map(lambda a, b: 0.9 * a + 0.1 * b, m, g)
        v = jax.tree_util.tree_map(lambda a, b: 0.999 * a + 0.001 * b * b, v, g)
        p = jax.tree_util.tree_map(
            lambda w, a, b, t=t: w - 0.05 * (a / (1 - 0.9**t)) / (np.sqrt(b / (1 - 0.999**t)) + 1e-5), p, m, v)
    for got, want in zip(trained, p):
        np.testing.assert_allclose(got["w"], want["w"], rtol=1e-4, atol=1e-5)


def test_es_generation_scores_the_population_in_one_call_and_moves_toward_the_fitter_candidates():
    """One generation: the vmapped population's fitness equals each candidate scored alone with the
    generation's learners and seeds (common random numbers), and the mean's first Adam step points, per
    coordinate, along the centred-rank-weighted sum of the perturbations (a flipped fitness sign fails)."""
    from jax.flatten_util import ravel_pytree
    from scipy.stats import rankdata

    from jaxdistill.distill.es import ESConfig, make_es

    config = ESConfig(k=2, population=8, sigma=0.5, lr=0.1, learners_per_candidate=2, max_steps=60, greedy=True)
    es = make_es(config, ENV)
    state = jax.jit(es.init)(jax.random.PRNGKey(0))
    new, metrics = jax.jit(es.generation)(state)
    assert int(new.iteration) == 1 and 0 < float(new.alive_steps) <= 8 * 2 * 60
    _, k_ask, k_learners, k_env, _ = jax.random.split(state.key, 5)
    population, _ = es.strategy.ask(k_ask, state.es, es.es_params)
    fitness = np.asarray(metrics["episode_return"])
    candidates = [jax.tree_util.tree_map(lambda v, i=i: v[i], population) for i in range(8)]
    alone = [float(es.fitness(k_learners, k_env, c)[0]) for c in candidates]
    np.testing.assert_allclose(fitness, alone, rtol=1e-6)
    assert len(set(fitness.tolist())) > 1  # the candidates differ, so the update has a direction
    flat = np.stack([np.asarray(ravel_pytree(c)[0]) for c in candidates])
    ranks = rankdata(fitness) - 1
    direction = (ranks / (len(ranks) - 1) - 0.5) @ (flat - np.asarray(state.es.mean))
    step = np.asarray(new.es.mean - state.es.mean)
    big = np.abs(direction) > 1e-3 * np.abs(direction).max()
    np.testing.assert_array_equal(np.sign(step[big]), np.sign(direction[big]))


def test_snes_generation_steps_mean_and_std_by_the_rank_utilities():
    """``strategy = "snes"``: one generation moves the mean by lr * std * sum(u_i z_i) and the std by
    exp(lr_std / 2 * sum(u_i (z_i^2 - 1))), with SNES' rank utilities u (best first) written out in NumPy."""
    from jax.flatten_util import ravel_pytree

    from jaxdistill.distill.es import ESConfig, make_es

    pop, lr, sigma = 6, 0.7, 0.4
    es = make_es(ESConfig(k=2, population=pop, sigma=sigma, lr=lr, strategy="snes", learners_per_candidate=2,
                          max_steps=80), ENV)
    state = jax.jit(es.init)(jax.random.PRNGKey(0))  # a seed whose six fitnesses differ
    new, metrics = jax.jit(es.generation)(state)
    _, k_ask, _, _, _ = jax.random.split(state.key, 5)
    population, _ = es.strategy.ask(k_ask, state.es, es.es_params)
    flat = np.stack([np.asarray(ravel_pytree(jax.tree_util.tree_map(lambda v, i=i: v[i], population))[0])
                     for i in range(pop)])
    fitness = np.asarray(metrics["episode_return"])
    assert len(set(fitness.tolist())) == pop  # no ties: the ranking is unambiguous
    mean, std = np.asarray(state.es.mean), np.asarray(state.es.std)
    np.testing.assert_allclose(std, sigma)
    z = (flat - mean) / std
    utility = np.maximum(0.0, np.log(pop / 2 + 1) - np.log(np.arange(1, pop + 1)))
    utility = utility / utility.sum() - 1 / pop
    u = np.empty(pop)
    u[np.argsort(-fitness)] = utility  # the fittest candidate gets the largest utility
    lr_std = (3 + np.log(mean.size)) / (5 * np.sqrt(mean.size))
    np.testing.assert_allclose(new.es.mean, mean + lr * std * (u @ z), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new.es.std, std * np.exp(0.5 * lr_std * (u @ (z**2 - 1))), rtol=1e-4)


def test_an_mlp_reads_images_flattened_and_constant_statistics_are_numpys():
    """HaDES' MinAtar students: ``input_shape`` flattens each image in C order (the same outputs as the MLP on
    the flattened vectors, for any leading batch axes); ``state_statistics`` is NumPy's mean and sqrt(var + eps)."""
    from jaxdistill.distill.real_states import state_statistics

    images = jax.random.normal(jax.random.PRNGKey(0), (3, 5, 2, 3, 2))
    flat_spec, image_spec = LearnerSpec(hidden_sizes=(7,), activation="relu"), LearnerSpec(
        hidden_sizes=(7,), activation="relu", input_shape=(2, 3, 2))
    params = image_spec.init_params(jax.random.PRNGKey(1), (2, 3, 2), 3)
    assert params[0]["w"].shape == (12, 7)
    np.testing.assert_allclose(image_spec.apply(params, images),
                               flat_spec.apply(params, np.asarray(images).reshape(3, 5, 12)), rtol=1e-6)
    with pytest.raises(ValueError, match=r"flattens observations of shape \(2, 3, 2\), got \(3, 2, 2\)"):
        image_spec.init_params(jax.random.PRNGKey(1), (3, 2, 2), 3)
    assert LearnerSpec.from_dict(image_spec.to_dict()) == image_spec and "input_shape" not in flat_spec.to_dict()
    assert "flattened in C (row-major) order to 12 features" in image_spec.recipe()["input"]
    states = np.random.default_rng(0).integers(0, 2, (50, 4, 3)).astype(np.float32)
    states[:, 0, 0] = 1.0  # an element the states never move
    norm = state_statistics(states)
    np.testing.assert_allclose(norm.mean, states.mean(0), rtol=1e-6)
    np.testing.assert_allclose(norm.std, np.sqrt(states.var(0) + 1e-8), rtol=1e-5)
    assert float(norm(np.zeros((4, 3), np.float32))[0, 0]) == -10.0  # clipped where the std is ~0


def test_hades_minatar_protocol_end_to_end(tmp_path):
    """``experiments.minatar --method es --learner mlp-half --es.hades-minatar --es.obs-stats-states``: SNES over a
    set for MLP students on flattened, constantly normalised observations, at toy sizes; the file carries the
    statistics, the flattening and the search's settings."""
    import json

    from experiments.minatar import main, parse
    from experiments.record_states import Args, main as record

    states = record(Args(env="Breakout-MinAtar", out=tmp_path / "states.npy", num_envs=4, num_steps=16))
    run_dir = tmp_path / "es"
    result = main(parse(["--method", "es", "--learner", "mlp-half", "--es.hades-minatar", "--es.population", "4",
                         "--es.obs-stats-states", str(states), "--es.generations", "2", "--es.max-steps", "20",
                         "--k", "3", "--inner.kind", "bc", "--inner.steps", "2", "--preset", "cpu", "--eval-every", "1",
                         "--eval-learners", "4", "--final-eval-learners", "4", "--eval-max-steps", "20",
                         "--run-dir", str(run_dir), "--no-progress", "--no-tensorboard"]))
    assert result["method"] == "es" and result["generations"] == 2
    meta = json.loads((run_dir / "dataset" / "metadata.json").read_text())
    assert meta["learner_spec"]["input_shape"] == [10, 10, 4] and meta["learner_spec"]["hidden_sizes"] == [256, 256]
    assert meta["config"]["strategy"] == "snes" and meta["config"]["sigma"] == 0.5
    with np.load(run_dir / "dataset" / "dataset.npz") as arrays:
        np.testing.assert_allclose(arrays["obs_mean"], np.load(states).mean(0), rtol=1e-5, atol=1e-7)

    # A later sitting goes on from the committed file: the search's mean starts as its X, through the same
    # statistics; other statistics, or none, are refused in one line before anything is compiled.
    from experiments.common import es_config
    from experiments.minatar import validate
    from jaxdistill.distill.es import make_es
    from jaxdistill.learn.dataset import load_dataset

    def going_on(*stats):
        return validate(parse(["--method", "es", "--learner", "mlp-half", "--es.hades-minatar", "--k", "3",
                               "--inner.kind", "bc", "--inner.labels", "hard", "--preset", "cpu", *stats,
                               "--init-from", str(run_dir / "dataset"), "--run-dir", str(tmp_path / "more")]))

    more = going_on("--es.obs-stats-states", str(states))
    es = make_es(es_config(more.es, more.ppmo), make("Breakout-MinAtar"))
    saved, _ = load_dataset(run_dir / "dataset")
    np.testing.assert_array_equal(es.artefact(jax.jit(es.init)(jax.random.PRNGKey(5))).x, saved.x)
    other = tmp_path / "other.npy"
    np.save(other, np.load(states)[::-1][:9])  # other states: other statistics
    with pytest.raises(SystemExit, match=r"was distilled through other observation statistics than this run's "
                                         r"--es.obs-stats-states \(the means differ: largest difference"):
        going_on("--es.obs-stats-states", str(other))
    with pytest.raises(SystemExit, match="was distilled on normalised observations, this run's learners see raw"):
        going_on()
    with pytest.raises(SystemExit, match="--learner mlp has no encoder layers"):
        main(parse(["--learner", "mlp", "--encoder-layers", "2", "--run-dir", str(tmp_path / "x")]))


def test_es_cli_distils_writes_and_records_how_to_train(tmp_path):
    """``experiments.cartpole --method es`` end to end at toy sizes, with HaDES' BC inner training: the run
    writes the dataset (method, generations, inner training in its metadata), the curve and the table, and
    counts the agent steps of its fitness episodes."""
    import json

    from experiments.cartpole import main, parse

    run_dir = tmp_path / "es"
    result = main(parse(["--method", "es", "--run-dir", str(run_dir), "--no-progress", "--es.population", "4",
                         "--es.generations", "2", "--es.max-steps", "30", "--eval-every", "1", "--eval-learners", "4",
                         "--final-eval-learners", "4", "--inner.kind", "bc", "--inner.steps", "2", "--no-tensorboard"]))
    meta = json.loads((run_dir / "dataset" / "metadata.json").read_text())
    assert meta["method"] == "es" and meta["generations"] == 2 and meta["inner_steps"] == 2
    assert meta["inner_training"]["kind"] == "bc" and "Adam" in meta["inner_step"]
    assert 0 < result["env_steps"] <= 2 * 4 * 2 * 30 == result["computed_env_steps"]
    assert (run_dir / "learning_curve.png").is_file() and (run_dir / "results.json").is_file()
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3 and "fitness_mean" in rows[0]


def test_es_cli_shares_the_dataset_options_with_ppmo_and_offers_hades_settings():
    from experiments.cartpole import parse
    from experiments.common import es_config

    args = parse(["--method", "es", "--k", "3", "--inner.kind", "bc", "--fixed-init", "--es.hades"])
    config = es_config(args.es, args.ppmo)
    assert (config.population, config.sigma, config.lr, config.learners_per_candidate) == (2048, 0.03, 0.05, 2)
    assert config.k == 3 and config.inner.kind == "bc" and config.fixed_init
    assert es_config(parse(["--method", "es"]).es, args.ppmo).population == 128  # the CPU default without it


def test_es_runs_on_minatar_with_cnn_learners():
    """Image observations through the same ES (a MinAtar game, CNN learners), a generation at toy sizes."""
    from jaxdistill.distill.es import ESConfig, make_es
    from jaxdistill.envs import minatar_id
    from jaxdistill.nets.networks import ConvSpec

    env = make(minatar_id("Breakout"))
    es = make_es(ESConfig(k=2, population=2, learners_per_candidate=1, max_steps=8,
                          learner=ConvSpec(convs=((4, 3, 1),), dense=(8,))), env)
    state, metrics = jax.jit(es.generation)(jax.jit(es.init)(jax.random.PRNGKey(0)))
    assert es.artefact(state).x.shape == (2, *env.spec.obs_shape)
    assert np.isfinite(np.asarray(metrics["episode_return"])).all() and float(state.alive_steps) > 0
