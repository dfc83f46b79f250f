"""N-dimensional cart-pole (Appendix B of the PPMO paper) as a gymnax environment.

N independent cart-poles share one action: action ``2i`` pushes axis ``i`` towards -x and
``2i + 1`` towards +x with force ``force_mag``; every other axis gets no force. The episode
terminates as soon as any cart or pole leaves its bounds and is truncated at
``max_steps_in_episode``. ``obs[4i:4i+4]`` is axis ``i``'s (x, x_dot, theta, theta_dot).

With ``n_dims=1`` the dynamics, rewards and termination are those of gymnax's CartPole-v1,
step for step (including gymnax's reward of ``1 - terminal(previous state)``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class EnvState(environment.EnvState):
    x: jax.Array  # (N,)
    x_dot: jax.Array  # (N,)
    theta: jax.Array  # (N,)
    theta_dot: jax.Array  # (N,)
    time: int


@struct.dataclass
class EnvParams(environment.EnvParams):
    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    total_mass: float = 1.0 + 0.1
    length: float = 0.5
    polemass_length: float = 0.05
    force_mag: float = 10.0
    tau: float = 0.02
    theta_threshold_radians: float = 12 * 2 * jnp.pi / 360
    x_threshold: float = 2.4
    max_steps_in_episode: int = 500


class CartPoleND(environment.Environment[EnvState, EnvParams]):
    """N-D cart-pole; ``n_dims`` is static (it fixes the observation and action shapes)."""

    def __init__(self, n_dims: int = 1):
        super().__init__()
        if int(n_dims) < 1:
            raise ValueError(f"n_dims must be >= 1, got {n_dims}")
        self.n_dims = int(n_dims)
        self.obs_shape = (4 * self.n_dims,)

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def step_env(
        self, key: jax.Array, state: EnvState, action: int | jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict[Any, Any]]:
        prev_terminal = self.is_terminal(state, params)
        axis = action // 2
        direction = (action % 2) * 2 - 1  # 0 -> -1, 1 -> +1
        force = jnp.where(jnp.arange(self.n_dims) == axis, params.force_mag * direction, 0.0)

        costheta = jnp.cos(state.theta)
        sintheta = jnp.sin(state.theta)
        temp = (force + params.polemass_length * state.theta_dot**2 * sintheta) / params.total_mass
        thetaacc = (params.gravity * sintheta - costheta * temp) / (
            params.length * (4.0 / 3.0 - params.masspole * costheta**2 / params.total_mass)
        )
        xacc = temp - params.polemass_length * thetaacc * costheta / params.total_mass

        state = EnvState(
            x=state.x + params.tau * state.x_dot,
            x_dot=state.x_dot + params.tau * xacc,
            theta=state.theta + params.tau * state.theta_dot,
            theta_dot=state.theta_dot + params.tau * thetaacc,
            time=state.time + 1,
        )
        reward = 1.0 - prev_terminal
        done = self.is_terminal(state, params)
        return (
            jax.lax.stop_gradient(self.get_obs(state)),
            jax.lax.stop_gradient(state),
            jnp.asarray(reward, dtype=jnp.float32),
            done,
            {"discount": self.discount(state, params)},
        )

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        init = jax.random.uniform(key, minval=-0.05, maxval=0.05, shape=(self.n_dims, 4))
        state = EnvState(
            x=init[:, 0], x_dot=init[:, 1], theta=init[:, 2], theta_dot=init[:, 3], time=0
        )
        return self.get_obs(state), state

    def get_obs(self, state: EnvState, params=None, key=None) -> jax.Array:
        return jnp.stack([state.x, state.x_dot, state.theta, state.theta_dot], axis=-1).reshape(-1)

    def is_terminated(self, state: EnvState, params: EnvParams) -> jax.Array:
        out_x = jnp.abs(state.x) > params.x_threshold
        out_theta = jnp.abs(state.theta) > params.theta_threshold_radians
        return jnp.any(out_x | out_theta)

    @property
    def name(self) -> str:
        return f"CartPole{self.n_dims}D-v1"

    @property
    def num_actions(self) -> int:
        return 2 * self.n_dims

    def action_space(self, params: EnvParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(2 * self.n_dims)

    def feature_names(self) -> tuple[str, ...]:
        return tuple(f"{name}{i}" for i in range(self.n_dims) for name in ("x", "ẋ", "θ", "θ̇"))

    def action_names(self) -> tuple[str, ...]:
        return tuple(f"{sign}x{i}" for i in range(self.n_dims) for sign in ("−", "+"))

    def observation_space(self, params: EnvParams) -> spaces.Box:
        high = jnp.tile(
            jnp.array(
                [
                    params.x_threshold * 2,
                    jnp.finfo(jnp.float32).max,
                    params.theta_threshold_radians * 2,
                    jnp.finfo(jnp.float32).max,
                ]
            ),
            self.n_dims,
        )
        return spaces.Box(-high, high, self.obs_shape, dtype=jnp.float32)
