"""Environments: ``make_env(env_id)`` returns a gymnax-style ``(env, env_params)`` pair."""

from __future__ import annotations

import re

from jaxdistill.envs.cartpole_nd import CartPoleND, EnvParams, EnvState

_CARTPOLE_ID = re.compile(r"^CartPole(\d+)D-v1$")


def cartpole_id(n_dims: int) -> str:
    return f"CartPole{n_dims}D-v1"


MINATAR_GAMES = ("Asterix", "Breakout", "Freeway", "SpaceInvaders")
"""MinAtar games in gymnax (``<Game>-MinAtar``): 10x10 images with one channel per object type."""


def minatar_id(game: str) -> str:
    return f"{game}-MinAtar"


MINATAR_ACTIONS = ("noop", "left", "up", "right", "down", "fire")
"""MinAtar's full action set; each game acts with a subset, in gymnax as ``env.action_set``."""


def minatar_action_names(env) -> list[str]:
    """Names of a gymnax MinAtar game's actions, in the order of its action indices."""
    return [MINATAR_ACTIONS[int(a)] for a in env.action_set]


def make_env(env_id: str):
    """Build an environment by id: ``CartPole<N>D-v1`` (ours) or ``<Game>-MinAtar`` (gymnax), both
    pure-functional; or ``<Game>-v5`` (Atari through EnvPool), for which this returns the game's
    :class:`~jaxdistill.envs.atari.AtariSpec` and ``None``: its environments live on the host."""
    match = _CARTPOLE_ID.match(env_id)
    if match:
        env = CartPoleND(int(match.group(1)))
        return env, env.default_params
    if env_id.endswith("-v5"):
        from jaxdistill.envs.atari import atari_spec

        return atari_spec(env_id), None  # stepped on the host: see jaxdistill.host_loop
    if env_id.endswith("-MinAtar") and env_id[: -len("-MinAtar")] in MINATAR_GAMES:
        import gymnax

        env, env_params = gymnax.make(env_id)
        return env, env_params
    raise ValueError(
        f"unknown environment id {env_id!r}; known: 'CartPole<N>D-v1' with N >= 1 (e.g. 'CartPole1D-v1') and "
        + ", ".join(repr(minatar_id(g)) for g in MINATAR_GAMES) + " and Atari games as '<Game>-v5'"
    )


__all__ = ["MINATAR_GAMES", "CartPoleND", "EnvParams", "EnvState", "cartpole_id", "make_env", "minatar_action_names",
           "minatar_id"]
