"""Environments: ``make_env(env_id)`` returns a gymnax-style ``(env, env_params)`` pair."""

from __future__ import annotations

import re

from jaxdistill.envs.cartpole_nd import CartPoleND, EnvParams, EnvState

_CARTPOLE_ID = re.compile(r"^CartPole(\d+)D-v1$")


def cartpole_id(n_dims: int) -> str:
    return f"CartPole{n_dims}D-v1"


def make_env(env_id: str):
    """Build a pure-functional environment by id, e.g. ``CartPole2D-v1``."""
    match = _CARTPOLE_ID.match(env_id)
    if match:
        env = CartPoleND(int(match.group(1)))
        return env, env.default_params
    raise ValueError(
        f"unknown environment id {env_id!r}; known: 'CartPole<N>D-v1' with N >= 1 "
        "(e.g. 'CartPole1D-v1')"
    )


__all__ = ["CartPoleND", "EnvParams", "EnvState", "cartpole_id", "make_env"]
