"""Every gymnax environment, and our N-D cart-pole, as a :class:`~jaxdistill.envs.core.GymnaxEnv`."""

from __future__ import annotations

from jaxdistill.envs.cartpole_nd import CartPoleND
from jaxdistill.envs.core import GymnaxEnv
from jaxdistill.envs.spec import Box, Discrete, EnvSpec

MINATAR_GAMES = ("Asterix", "Breakout", "Freeway", "SpaceInvaders")
"""MinAtar games in gymnax (``<Game>-MinAtar``): 10x10 images with one channel per object type."""

MINATAR_ACTIONS = ("noop", "left", "up", "right", "down", "fire")
"""MinAtar's full action set; each game acts with a subset, in gymnax as ``env.action_set``."""

_CLASSIC_FEATURES = {
    "CartPole-v1": ("x", "ẋ", "θ", "θ̇"),
    "Pendulum-v1": ("cos θ", "sin θ", "θ̇"),
    "Acrobot-v1": ("cos θ1", "sin θ1", "cos θ2", "sin θ2", "θ̇1", "θ̇2"),
    "MountainCar-v0": ("x", "ẋ"),
    "MountainCarContinuous-v0": ("x", "ẋ"),
}
_CLASSIC_ACTIONS = {
    "CartPole-v1": ("left", "right"),
    "Acrobot-v1": ("−1", "0", "+1"),
    "MountainCar-v0": ("left", "none", "right"),
    "Pendulum-v1": ("torque",),
    "MountainCarContinuous-v0": ("force",),
}


def cartpole_id(n_dims: int) -> str:
    return f"CartPole{n_dims}D-v1"


def minatar_id(game: str) -> str:
    return f"{game}-MinAtar"


def minatar_action_names(env) -> tuple[str, ...]:
    """Names of a gymnax MinAtar game's actions, in the order of its action indices."""
    return tuple(MINATAR_ACTIONS[int(a)] for a in env.action_set)


def make_cartpole(n_dims: int) -> GymnaxEnv:
    env = CartPoleND(n_dims)
    params = env.default_params
    spec = EnvSpec(
        env_id=cartpole_id(n_dims), obs_shape=env.obs_shape, action_space=Discrete(env.num_actions),
        max_episode_steps=int(params.max_steps_in_episode), feature_names=env.feature_names(),
        action_names=env.action_names(),
        standard_env="Gymnasium CartPole-v1 (and gymnax CartPole-v1): same dynamics, bounds and 500-step limit"
        if n_dims == 1 else None,
        notes=("observations: float32, obs[4i:4i+4] = (x, x_dot, theta, theta_dot) of axis i",
               "action 2i pushes axis i towards -x, 2i+1 towards +x (1-D: 0 = left, 1 = right, as Gymnasium)"),
    )
    return GymnaxEnv(env, params, spec)


def make_gymnax(env_id: str) -> GymnaxEnv:
    """Any environment in ``gymnax.registered_envs`` by its gymnax id."""
    import gymnax
    from gymnax.environments import spaces

    env, params = gymnax.make(env_id)
    space = env.action_space(params)
    if isinstance(space, spaces.Discrete):
        action_space = Discrete(int(space.n))
    elif isinstance(space, spaces.Box):
        action_space = Box(space.low, space.high) if len(space.shape) <= 1 else None
    else:
        action_space = None
    if action_space is None:
        raise ValueError(f"{env_id}: action space {space} is neither Discrete nor a 1-D Box")
    obs_shape = tuple(env.observation_space(params).shape)
    flatten = len(obs_shape) == 2  # bsuite grids: vector learners see them flat
    notes = ["gymnax " + env_id + ": observations as gymnax returns them (float32)"]
    action_names = _CLASSIC_ACTIONS.get(env_id)
    if env_id.endswith("-MinAtar"):
        action_names = minatar_action_names(env)
        notes = [f"gymnax {env_id}: observations (10, 10, C) channels last, one 0/1 float channel per object "
                 "type; no sticky actions (unlike the original MinAtar)",
                 "actions: gymnax's minimal action set for the game, in its order (see action_names)"]
    spec = EnvSpec(
        env_id=env_id, obs_shape=(int(_prod(obs_shape)),) if flatten else obs_shape, action_space=action_space,
        max_episode_steps=int(getattr(params, "max_steps_in_episode", 1000)),
        feature_names=_CLASSIC_FEATURES.get(env_id), action_names=action_names,
        standard_env=f"Gymnasium {env_id}" if env_id in _CLASSIC_FEATURES else None, notes=tuple(notes),
    )
    return GymnaxEnv(env, params, spec, flatten_obs=flatten)


def _prod(shape) -> int:
    out = 1
    for d in shape:
        out *= int(d)
    return out
