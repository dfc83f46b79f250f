"""Image learners: the CNN split into encoder and learner, encoder rollback in PPMO, MinAtar end to end."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdistill.distill.ppmo import PPMOConfig, make_ppmo, meta_policy_loss
from jaxdistill.learn.dataset import init_dataset, load_dataset, load_encoder, save_dataset
from jaxdistill.nets.networks import MINATAR_CONVS, NATURE_CONVS, ConvSpec, conv2d
from tests.conftest import tree_equal

TINY_CNN = ConvSpec(convs=((4, 3, 1), (4, 3, 2)), dense=(8,))


def test_conv2d_matches_lax_convolution():
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 13, 11, 5))
    w = jax.random.normal(jax.random.PRNGKey(1), (4, 4, 5, 7))
    want = jax.lax.conv_general_dilated(x, w, (2, 2), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(conv2d(x, w, 2), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("channels_first", [False, True])
def test_encoder_then_learner_is_the_whole_network_at_every_split(channels_first):
    obs_shape = (4, 36, 36) if channels_first else (10, 10, 4)
    convs = NATURE_CONVS if channels_first else MINATAR_CONVS
    full = ConvSpec(convs=convs, dense=(32,), channels_first=channels_first)
    obs = jax.random.uniform(jax.random.PRNGKey(0), (2, 3, *obs_shape))
    key = jax.random.PRNGKey(1)
    want = full.apply(full.init_params(key, obs_shape, 5), obs)
    assert want.shape == (2, 3, 5)
    for layers in range(full.num_layers + 1):
        spec = dataclasses.replace(full, encoder_layers=layers)
        encoder, learner = spec.init_encoder(key, obs_shape, 5), spec.init_params(key, obs_shape, 5)
        assert len(encoder) == layers and len(learner) == full.num_layers - layers
        np.testing.assert_allclose(spec.apply(learner, spec.encode(encoder, obs)), want, rtol=1e-5, atol=1e-6)


def test_nature_cnn_shapes_and_orthogonal_init():
    spec = ConvSpec(channels_first=True)
    assert spec.num_layers == 5
    assert spec.layer_input_shapes((4, 84, 84)) == [(84, 84, 4), (20, 20, 32), (9, 9, 64), (3136,), (512,)]
    params = spec.init_params(jax.random.PRNGKey(0), (4, 84, 84), 6)
    w = np.asarray(params[3]["w"])  # 3136 x 512, orthogonal columns with gain sqrt(2)
    np.testing.assert_allclose(w.T @ w, 2.0 * np.eye(512), atol=1e-4)
    out = np.asarray(params[4]["w"])
    np.testing.assert_allclose(out.T @ out, 1e-4 * np.eye(6), atol=1e-7)
    with pytest.raises(ValueError, match="encoder_layers"):
        ConvSpec(encoder_layers=6)


def test_meta_gradient_reaches_the_encoder_and_matches_finite_differences():
    jax.config.update("jax_enable_x64", True)
    try:
        spec = dataclasses.replace(TINY_CNN, encoder_layers=1)
        obs_shape, A, L, B = (7, 7, 2), 3, 2, 6
        keys = jax.random.split(jax.random.PRNGKey(3), 6)
        to64 = lambda t: jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), t)  # noqa: E731
        encoder = to64(spec.init_encoder(keys[0], obs_shape, A))
        inits = to64(jax.vmap(lambda k: spec.init_params(k, obs_shape, A))(jax.random.split(keys[1], L)))
        data = to64(init_dataset(keys[2], 3, obs_shape, A, inner_lr=0.5))
        obs = jax.random.normal(keys[3], (L, B, *obs_shape), jnp.float64)
        actions = jax.random.randint(keys[4], (L, B), 0, A)
        adv = jax.random.normal(keys[5], (L, B), jnp.float64)
        old = jnp.full((L, B), -np.log(A), jnp.float64)

        @jax.jit  # one compilation serves every finite difference
        def f(data, encoder):
            return meta_policy_loss(data, inits, obs, actions, old, adv, spec.apply, 0.2, 0.0, encoder, spec.encode)[0]

        g_data, g_enc = jax.grad(f, argnums=(0, 1))(data, encoder)
        eps = 1e-6
        for idx in [(0, 0, 0, 0), (0, 1, 0, 2), (1, 0, 1, 3)]:
            w = np.asarray(encoder[0]["w"])
            plus, minus = w.copy(), w.copy()
            plus[idx] += eps
            minus[idx] -= eps
            fd = (f(data, [{"w": jnp.asarray(plus), "b": encoder[0]["b"]}])
                  - f(data, [{"w": jnp.asarray(minus), "b": encoder[0]["b"]}])) / (2 * eps)
            np.testing.assert_allclose(float(g_enc[0]["w"][idx]), float(fd), rtol=1e-5, atol=1e-9)
        assert np.abs(np.asarray(g_enc[0]["w"])).max() > 1e-6
        assert np.abs(np.asarray(g_data.x)).max() > 1e-6
    finally:
        jax.config.update("jax_enable_x64", False)


TINY_CONVS = ((4, 3, 1), (4, 3, 1), (4, 3, 1))  # five layers like the real CNNs, so l = 4 is the output layer
TINY_MINATAR = PPMOConfig(
    k=3, learner=ConvSpec(convs=TINY_CONVS, dense=(16,)),
    critic=ConvSpec(convs=((4, 3, 1),), dense=(16,), output_gain=1.0), num_learners=2, num_envs=2,
    num_steps=16, num_minibatches=2, update_epochs=1,
)


@pytest.mark.parametrize("encoder_layers", [0, 4])
def test_encoder_rollback_trains_the_encoder_and_resamples_the_learner(encoder_layers, tmp_path):
    """Algorithm 2: the encoder persists and moves under the outer loss; the learners are fresh each meta-epoch; a
    checkpoint of the run's state brings the encoder back as it was saved (a resume starts from it)."""
    config = dataclasses.replace(
        TINY_MINATAR, learner=dataclasses.replace(TINY_MINATAR.learner, encoder_layers=encoder_layers))
    from jaxdistill.envs import make
    from jaxdistill.run.driver import init_state, iteration

    env = make("Breakout-MinAtar")
    ppmo = make_ppmo(config, env.spec).agent
    state = jax.jit(lambda k: init_state(env, ppmo, k))(jax.random.PRNGKey(0))
    step = jax.jit(lambda s: iteration(env, ppmo, s))
    new, metrics = step(state)
    new2, _ = step(new)
    from jaxdistill.core.checkpoint import Checkpointer

    checkpoints = Checkpointer(tmp_path / "checkpoints", interval_seconds=0)
    checkpoints.save(1, new, {"iteration": 1})
    restored, _ = checkpoints.restore(state)  # the fresh state as the template, as a resume does
    checkpoints.close()
    assert tree_equal(restored, new) and type(restored.agent.encoder_params) is type(new.agent.encoder_params)
    key_a, key_b = (jax.random.split(s.key, 4)[1] for s in (new, new2))
    state, new, new2 = state.agent, new.agent, new2.agent
    assert len(state.encoder_params) == encoder_layers
    assert np.isfinite(float(metrics["policy_loss"]))
    assert not np.allclose(new.dataset.x, state.dataset.x)  # the images are learned
    if encoder_layers:
        for before, after in zip(state.encoder_params, new.encoder_params):
            assert not np.allclose(before["w"], after["w"])  # the outer loss trains the encoder
    # The learner part is re-sampled: different meta-epochs draw different initialisations,
    # shaped for the layers after the encoder.
    inits_a, policies_a = ppmo.actors(key_a, new)
    inits_b, _ = ppmo.actors(key_b, new)
    assert len(inits_a) == config.learner.num_layers - encoder_layers
    assert not np.allclose(inits_a[-1]["w"], inits_b[-1]["w"])
    assert not tree_equal(inits_a, policies_a)  # and trained one step on the encoded images


def test_image_dataset_round_trips_with_its_encoder(tmp_path):
    spec = dataclasses.replace(TINY_CNN, encoder_layers=2)
    encoder = spec.init_encoder(jax.random.PRNGKey(0), (10, 10, 4), 3)
    data = init_dataset(jax.random.PRNGKey(1), 3, (10, 10, 4), 3)
    from jaxdistill.envs import make

    save_dataset(tmp_path / "d", data, env_spec=make("Breakout-MinAtar").spec, learner_spec=spec,
                 encoder_params=encoder)
    loaded, meta = load_dataset(tmp_path / "d", expect_obs_shape=(10, 10, 4), expect_num_actions=3)
    assert meta["obs_shape"] == [10, 10, 4] and meta["encoder_layers"] == 2
    np.testing.assert_array_equal(loaded.x, data.x)
    assert tree_equal(load_encoder(tmp_path / "d"), encoder)
    from jaxdistill.learn.dataset import DatasetFileError

    with pytest.raises(DatasetFileError, match="shape"):
        load_dataset(tmp_path / "d", expect_obs_shape=(10, 10, 6))
    (tmp_path / "d" / "encoder.npz").unlink()
    with pytest.raises(DatasetFileError, match="encoder.npz"):
        load_encoder(tmp_path / "d")


def test_minatar_action_names_follow_each_games_action_set():
    from jaxdistill.envs import make

    names = {g: list(make(f"{g}-MinAtar").spec.action_names) for g in ("Breakout", "Freeway", "SpaceInvaders")}
    assert names == {"Breakout": ["noop", "left", "right"], "Freeway": ["noop", "up", "down"],
                     "SpaceInvaders": ["noop", "left", "right", "fire"]}


def test_minatar_cli_runs_and_writes_its_outputs(tmp_path):
    from experiments.minatar import main, parse

    args = parse(["--env", "Breakout", "--preset", "cpu", "--k", "3", "--encoder-layers", "3", "--meta-epochs", "2",
                  "--num-learners", "2", "--num-envs", "2", "--num-steps", "16", "--num-minibatches", "2",
                  "--update-epochs", "1", "--eval-every", "2", "--eval-learners", "4", "--final-eval-learners", "8",
                  "--eval-max-steps", "50", "--run-dir", str(tmp_path / "run"), "--no-progress", "--no-tensorboard"])
    assert args.ppmo.distiller_lr == 1e-3 and args.run.eval_policy == "sampled"  # the MinAtar defaults
    assert parse(["--preset", "cpu"]).ppmo.num_learners == 4 and parse([]).ppmo.num_learners == 32  # typed presets
    result = main(args)
    assert result["meta_epochs"] == 2 and result["env_steps"] == 2 * 2 * 2 * 16
    for name in ("dataset/dataset.npz", "dataset/encoder.npz", "dataset.png", "learning_curve.png", "results.md",
                 "checkpoints"):
        assert (tmp_path / "run" / name).exists(), name
    rows = [r for r in result["kshot"] if r["policy"] == "sampled"]
    assert rows[-1]["learners"] == "uniformly random policy" and rows[-1]["n"] == 8
    with pytest.raises(SystemExit, match="encoder-layers"):
        main(dataclasses.replace(args, encoder_layers=7))


def test_atari_vec_env_resets_games_not_lives_and_scores_whole_games():
    from jaxdistill.envs import make

    assert make("Centipede-v5").spec.num_actions == 18 and make("Pong-v5").spec.num_actions == 6
    with pytest.raises(ValueError, match="unknown Atari game"):
        make("NoSuchGame-v5")
    env = make("Breakout-v5").vector(2, seed=0, training=True)
    obs = env.reset()
    assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.float32 and 0.0 <= obs.min() and obs.max() <= 1.0
    rng = np.random.default_rng(0)
    lives_lost, games = 0, []
    for _ in range(1500):
        out = env.step(rng.integers(0, 4, 2))
        lives_lost += int(out.terminated.sum())
        games += [g for g in out.episode_return if not np.isnan(g)]
        assert np.all(out.reward <= 1.0)  # clipped for training
    # Breakout has 5 lives: a lost life ends the learner's episode but not the game.
    assert len(games) >= 2 and lives_lost >= 4 * len(games)


@pytest.mark.optimized
def test_atari_cli_runs_and_writes_its_dataset_and_encoder(tmp_path):
    """The Atari route end to end, once. A resume of a host-stepped EnvPool run is tested on MuJoCo-v4
    (tests/test_mujoco_envpool.py) and a checkpoint of a state that holds an encoder in the rollback test above: a
    resume here compiled the Nature-CNN training chunk a second time (about 10 s of the suite)."""
    from experiments.atari import main, parse

    args = parse(["--env", "Pong", "--preset", "cpu", "--encoder-layers", "4", "--meta-epochs", "2", "--num-learners",
                  "1", "--num-envs", "2", "--num-steps", "8", "--num-minibatches", "2", "--update-epochs", "1",
                  "--eval-every", "1", "--eval-learners", "1", "--final-eval-learners", "2", "--eval-max-steps", "20",
                  "--run-dir", str(tmp_path / "run"), "--no-progress", "--no-tensorboard"])
    assert args.ppmo.clip_eps == 0.1 and args.ppo.clip_eps == 0.1  # CleanRL's Atari clip range
    result = main(args)
    assert result["k"] == 4 and result["meta_epochs"] == 2 and result["env_steps"] == 2 * 1 * 2 * 8
    for name in ("dataset/dataset.npz", "dataset/encoder.npz", "checkpoints", "dataset.png", "results.md"):
        assert (tmp_path / "run" / name).exists(), name
    _, meta = load_dataset(tmp_path / "run" / "dataset", expect_obs_shape=(4, 84, 84), expect_num_actions=6)
    assert meta["env_id"] == "Pong-v5" and meta["encoder_layers"] == 4
    assert [layer["w"].shape for layer in load_encoder(tmp_path / "run" / "dataset")][-1] == (3136, 512)
    with pytest.raises(SystemExit, match="unknown Atari game"):
        main(dataclasses.replace(args, env="NoSuchGame"))
