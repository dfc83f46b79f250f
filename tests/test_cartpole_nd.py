import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments.classic_control.cartpole import CartPole

from jaxdistill.envs import make
from jaxdistill.envs.cartpole_nd import CartPoleND, EnvState


def make_env(env_id):
    """The gymnax environment behind our wrapper, and its parameters."""
    env = make(env_id)
    return env.env, env.params


def test_n1_reproduces_gymnax_cartpole_v1_step_for_step():
    ref, ref_params = CartPole(), CartPole().default_params
    env, params = make_env("CartPole1D-v1")
    key = jax.random.PRNGKey(3)
    ref_step, env_step = jax.jit(ref.step), jax.jit(env.step)
    o_ref, s_ref = ref.reset(key, ref_params)
    o, s = env.reset(key, params)
    np.testing.assert_array_equal(o_ref, o)
    actions = np.random.default_rng(0).integers(0, 2, size=400)
    dones = 0
    for t, a in enumerate(actions):
        k = jax.random.fold_in(key, t)
        o_ref, s_ref, r_ref, term_ref, trunc_ref, _ = ref_step(k, s_ref, a, ref_params)
        o, s, r, term, trunc, _ = env_step(k, s, a, params)
        np.testing.assert_array_equal(o_ref, o)
        for f in ("x", "x_dot", "theta", "theta_dot"):
            np.testing.assert_array_equal(getattr(s_ref, f), getattr(s, f)[0])
        assert (float(r_ref), bool(term_ref), bool(trunc_ref)) == (float(r), bool(term), bool(trunc))
        dones += bool(term)
    assert dones > 5  # the random policy crossed several terminations and auto-resets


@pytest.mark.parametrize("n_dims", [1, 2, 5])
def test_shapes_reset_range_and_spaces(n_dims):
    env, params = make_env(f"CartPole{n_dims}D-v1")
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    assert obs.shape == (4 * n_dims,) == env.obs_shape
    assert env.num_actions == 2 * n_dims == env.action_space(params).n
    assert np.all(np.abs(obs) <= 0.05)
    for i in range(n_dims):
        np.testing.assert_array_equal(
            obs[4 * i : 4 * i + 4], [state.x[i], state.x_dot[i], state.theta[i], state.theta_dot[i]]
        )


def _still_state(n):
    z = jnp.zeros((n,))
    return EnvState(x=z, x_dot=z, theta=z, theta_dot=z, time=0)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_action_pushes_only_its_axis(axis):
    env, params = make_env("CartPole3D-v1")
    key = jax.random.PRNGKey(0)
    for direction, sign in ((0, -1.0), (1, 1.0)):
        obs, state, reward, term, trunc, _ = env.step(key, _still_state(3), 2 * axis + direction, params)
        x_dot = np.asarray(state.x_dot)
        assert np.sign(x_dot[axis]) == sign
        assert np.all(x_dot[np.arange(3) != axis] == 0.0)
        # force +F pushes the cart +x and tips the pole towards -theta
        assert np.sign(state.theta_dot[axis]) == -sign
        assert float(reward) == 1.0 and not bool(term) and not bool(trunc)


def test_terminates_when_any_axis_fails_and_truncates_at_500():
    env, params = make_env("CartPole2D-v1")
    z = jnp.zeros((2,))
    key = jax.random.PRNGKey(0)
    tipped = EnvState(x=z, x_dot=z, theta=jnp.array([0.0, 0.3]), theta_dot=z, time=0)
    assert bool(env.step_env(key, tipped, 0, params)[3])
    off_track = EnvState(x=jnp.array([2.5, 0.0]), x_dot=z, theta=z, theta_dot=z, time=0)
    assert bool(env.step_env(key, off_track, 3, params)[3])
    last = EnvState(x=z, x_dot=z, theta=z, theta_dot=z, time=499)
    _, state, _, term, trunc, _ = env.step(key, last, 0, params)
    assert bool(trunc) and not bool(term)
    assert int(state.time) == 0  # auto-reset


def test_axes_evolve_independently():
    """An axis that gets no force moves exactly as a 1-D cart-pole would under gravity alone."""
    env3, params = make_env("CartPole3D-v1")
    key = jax.random.PRNGKey(7)
    _, s3 = env3.reset(key, params)
    # the same start for a pair of 1-D systems: axis 2 is pushed right every step, axis 0 never
    one = CartPoleND(1)

    def one_d(i):
        return EnvState(x=s3.x[i:i + 1], x_dot=s3.x_dot[i:i + 1], theta=s3.theta[i:i + 1],
                        theta_dot=s3.theta_dot[i:i + 1], time=0)

    s_push = one_d(2)
    for t in range(10):
        s3 = env3.step_env(key, s3, 5, params)[1]
        s_push = one.step_env(key, s_push, 1, params)[1]
    np.testing.assert_allclose(s3.x[2], s_push.x[0], rtol=1e-6)
    np.testing.assert_allclose(s3.theta_dot[2], s_push.theta_dot[0], rtol=1e-6)
    assert float(s3.theta_dot[2]) != float(s3.theta_dot[0])


def test_make_rejects_unknown_ids_and_builds_every_kind():
    with pytest.raises(ValueError, match="unknown environment id"):
        make("CartPole0D-v1")
    with pytest.raises(ValueError, match="unknown environment id"):
        make("NoSuchEnv-v0")
    spec = make("CartPole2D-v1").spec
    assert (spec.obs_shape, spec.num_actions, spec.max_episode_steps) == ((8,), 4, 500)
    assert spec.action_names == ("−x0", "+x0", "−x1", "+x1")
    pendulum = make("Pendulum-v1").spec
    assert not pendulum.discrete and pendulum.action_space.low == (-2.0,) and pendulum.num_actions == 1
    assert make("Catch-bsuite").spec.obs_shape == (50,)  # bsuite's 10x5 grid, flat for vector learners
    with pytest.raises(ValueError, match="n_dims must be >= 1"):
        CartPoleND(0)


def test_a_module_put_off_until_use_is_the_real_module_once_read():
    """How ``jaxdistill.envs`` keeps gymnax's seaborn import off every process's start (on a stdlib module here)."""
    import sys

    from jaxdistill import envs

    assert "seaborn" in sys.modules  # put off, or already loaded by something else: never re-imported by us
    saved = sys.modules.pop("colorsys", None)
    try:
        envs._import_on_use("colorsys")
        proxy = sys.modules["colorsys"]
        assert isinstance(proxy, envs._LoadOnUse)
        import colorsys  # the import statement alone does not load it

        assert colorsys is proxy
        assert colorsys.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)  # the first read loads the real module
        real = sys.modules["colorsys"]
        assert real is not proxy and real.__file__.endswith("colorsys.py")
        envs._import_on_use("colorsys")  # already loaded: left alone
        assert sys.modules["colorsys"] is real
    finally:
        sys.modules.pop("colorsys", None)
        if saved is not None:
            sys.modules["colorsys"] = saved
