"""Environments: one :class:`EnvSpec` and two ways to run (in the graph, on the host); ``make(id)`` builds one."""

from jaxdistill.envs.core import GymnaxEnv, HostEnv, HostStep, HostVecEnv, JaxEnv, Step, host_seed
from jaxdistill.envs.gymnax_envs import MINATAR_GAMES, cartpole_id, minatar_id
from jaxdistill.envs.registry import known, make, register
from jaxdistill.envs.spec import Box, Discrete, EnvSpec

__all__ = ["MINATAR_GAMES", "Box", "Discrete", "EnvSpec", "GymnaxEnv", "HostEnv", "HostStep", "HostVecEnv", "JaxEnv",
           "Step", "cartpole_id", "host_seed", "known", "make", "minatar_id", "register"]
