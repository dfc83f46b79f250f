"""Environments: one :class:`EnvSpec` and two ways to run (in the graph, on the host); ``make(id)`` builds one."""

import importlib
import importlib.util
import sys
import types


class _LoadOnUse(types.ModuleType):
    """Stands in ``sys.modules`` for a module until one of its attributes is read, then imports the real one.

    gymnax's package imports every environment, and its Pong imports seaborn (and with it scipy.stats) for
    rendering only: a second of every process's start (3.1 s -> 2.1 s for the cart-pole CLI), for a module no run
    uses. Whoever renders Pong, or imports seaborn themselves, gets the real module. (importlib's LazyLoader does
    not help: the ``import`` statement reads the module's ``__spec__``, which loads it.)"""

    def __getattr__(self, attr: str):
        real = sys.modules.get(self.__name__)
        if real is self or real is None:
            sys.modules.pop(self.__name__, None)
            real = importlib.import_module(self.__name__)
        return getattr(real, attr)


def _import_on_use(name: str) -> None:
    if name not in sys.modules and importlib.util.find_spec(name) is not None:
        sys.modules[name] = _LoadOnUse(name)


_import_on_use("seaborn")

from jaxdistill.envs.core import GymnaxEnv, HostEnv, HostStep, HostVecEnv, JaxEnv, Step, host_seed
from jaxdistill.envs.gymnax_envs import MINATAR_GAMES, cartpole_id, minatar_id
from jaxdistill.envs.registry import known, make, register
from jaxdistill.envs.spec import Box, Discrete, EnvSpec

__all__ = ["MINATAR_GAMES", "Box", "Discrete", "EnvSpec", "GymnaxEnv", "HostEnv", "HostStep", "HostVecEnv", "JaxEnv",
           "Step", "cartpole_id", "host_seed", "known", "make", "minatar_id", "register"]
