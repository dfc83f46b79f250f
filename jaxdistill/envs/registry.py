"""Environment ids to environments: ``make(env_id) -> JaxEnv | HostEnv``.

Each family registers a matcher; the first that claims an id builds it. New environments plug in
with :func:`register` (for example Brax or EnvPool MuJoCo) without touching any algorithm.
"""

from __future__ import annotations

import re
from typing import Callable

from jaxdistill.envs.core import HostEnv, JaxEnv

_FAMILIES: list[tuple[str, Callable[[str], bool], Callable[[str], JaxEnv | HostEnv]]] = []


def register(description: str, claims: Callable[[str], bool], build: Callable[[str], JaxEnv | HostEnv]) -> None:
    """Add an environment family: ``claims(env_id)`` says whether ``build(env_id)`` makes it."""
    _FAMILIES.append((description, claims, build))


def make(env_id: str) -> JaxEnv | HostEnv:
    """The environment with this id (in the graph or on the host; see :mod:`jaxdistill.envs.core`)."""
    for _, claims, build in _FAMILIES:
        if claims(env_id):
            return build(env_id)
    raise ValueError(f"unknown environment id {env_id!r}; known: " + "; ".join(d for d, _, _ in _FAMILIES))


def known() -> list[str]:
    return [d for d, _, _ in _FAMILIES]


_CARTPOLE_ID = re.compile(r"^CartPole(\d+)D-v1$")


def _gymnax_ids() -> list[str]:
    import gymnax

    return list(gymnax.registered_envs)


def _build_cartpole(env_id: str):
    from jaxdistill.envs.gymnax_envs import make_cartpole

    return make_cartpole(int(_CARTPOLE_ID.match(env_id).group(1)))


def _build_gymnax(env_id: str):
    from jaxdistill.envs.gymnax_envs import make_gymnax

    return make_gymnax(env_id)


def _claims_atari(env_id: str) -> bool:
    return env_id.endswith("-v5") and env_id[:1].isupper()


def _build_atari(env_id: str):
    from jaxdistill.envs.atari import AtariEnv

    return AtariEnv(env_id)


def _claims_brax(env_id: str) -> bool:
    from jaxdistill.envs.brax_envs import claims

    return claims(env_id)


def _build_brax(env_id: str):
    from jaxdistill.envs.brax_envs import make_brax

    return make_brax(env_id)


def _claims_mujoco(env_id: str) -> bool:
    return env_id.endswith("-v4") and env_id[:1].isupper()


def _build_mujoco(env_id: str):
    from jaxdistill.envs.mujoco import MujocoEnv

    return MujocoEnv(env_id)


register("'CartPole<N>D-v1' with N >= 1 (N-D cart-pole, in the graph)",
         lambda i: bool(_CARTPOLE_ID.match(i)) and int(_CARTPOLE_ID.match(i).group(1)) >= 1, _build_cartpole)
register("every gymnax id (e.g. 'Acrobot-v1', 'Pendulum-v1', 'Breakout-MinAtar', 'Catch-bsuite'; in the graph)",
         lambda i: i in _gymnax_ids(), _build_gymnax)
register("Atari games as '<Game>-v5' (EnvPool, on the host)", _claims_atari, _build_atari)
register("Brax robots as '<name>[:<backend>]' (e.g. 'hopper', 'ant:generalized'; in the graph)", _claims_brax,
         _build_brax)
register("Gymnasium MuJoCo-v4 tasks as '<Task>-v4' (e.g. 'Hopper-v4'; EnvPool, on the host)", _claims_mujoco,
         _build_mujoco)


def _claims_procgen(env_id: str) -> bool:
    from jaxdistill.envs.procgen import claims

    return claims(env_id)


def _build_procgen(env_id: str):
    from jaxdistill.envs.procgen import ProcgenEnv

    return ProcgenEnv(env_id)


register("Procgen games as '<Game><Mode>-v0[:levels=FIRST-END|all]' (e.g. 'BigfishEasy-v0', levels 0-200 by default; "
         "EnvPool, on the host)", _claims_procgen, _build_procgen)
