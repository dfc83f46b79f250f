"""One training iteration, written once per kind of environment, for every :class:`~jaxdistill.rl.agent.Agent`.

* In the graph (:class:`~jaxdistill.envs.core.JaxEnv`): a chunk of iterations is one jitted
  ``lax.scan``; the environments' state is part of :class:`TrainState`.
* On the host (:class:`~jaxdistill.envs.core.HostEnv`): the same iteration with the rollout stepped in
  Python; the agent's pieces are jitted. The host environments' own state (emulators, frame stacks)
  is not part of a checkpoint: a resumed run restarts its games.

:func:`make_trainer` picks the driver from the environment object's class (``singledispatch``). The
key-split order of a run lives here and nowhere else: :func:`init_keys` and :func:`iteration_keys`.
"""

from __future__ import annotations

import functools
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxdistill.core.trainer import ScanTrainer, Trainer, check_stop
from jaxdistill.envs.core import HostEnv, JaxEnv, host_seed
from jaxdistill.rl.agent import Agent
from jaxdistill.rl.host_rollout import episode_metrics, host_rollout
from jaxdistill.rl.rollout import collect_rollout, reset_runner


@struct.dataclass
class TrainState:
    agent: Any  # the agent's own state (PPOState, PPMOState)
    runner: Any  # in-graph environments, batched (groups, envs); () for host environments
    key: jax.Array
    iteration: jax.Array  # iterations done (PPMO: meta-epochs; PPO: updates)


def init_keys(key: jax.Array):
    """``(agent_key, critic_key, env_key, loop_key)`` of a run's training key."""
    return tuple(jax.random.split(key, 4))


def iteration_keys(key: jax.Array):
    """``(next_key, actors_key, rollout_key, learn_key)`` of one iteration."""
    return tuple(jax.random.split(key, 4))


def init_state(env: JaxEnv, agent: Agent, key: jax.Array) -> TrainState:
    """A fresh run (pure): the agent's state and ``num_groups x num_envs`` reset environments."""
    k_agent, k_critic, k_env, key = init_keys(key)
    runner = jax.vmap(lambda k: reset_runner(k, env, agent.num_envs))(jax.random.split(k_env, agent.num_groups))
    return TrainState(agent.init(k_agent, k_critic), runner, key, jnp.zeros((), jnp.int32))


def iteration(env: JaxEnv, agent: Agent, state: TrainState) -> tuple[TrainState, dict]:
    """One in-graph iteration (pure): actors, one rollout per group, the agent's update."""
    key, k_actors, k_roll, k_learn = iteration_keys(state.key)
    actors = agent.actors(k_actors, state.agent)

    def rollout(key, actor, runner):
        return collect_rollout(key, env, agent.dist, partial(agent.policy, state.agent, actor), runner,
                               agent.num_steps)

    runner, traj = jax.vmap(rollout)(jax.random.split(k_roll, agent.num_groups), actors, state.runner)
    agent_state, metrics = agent.learn(state.agent, k_learn, actors, traj, runner.obs)
    return TrainState(agent_state, runner, key, state.iteration + 1), metrics


def iterations(env: JaxEnv, agent: Agent, num: int) -> Callable[[TrainState], tuple[TrainState, dict]]:
    """``run(state) -> (state, stacked metrics)``: ``num`` in-graph iterations in one scan (pure, vmappable)."""

    def run(state: TrainState):
        return jax.lax.scan(lambda s, _: iteration(env, agent, s), state, None, length=num)

    return run


def make_train(env: JaxEnv, agent: Agent, num_iterations: int) -> Callable[[jax.Array], tuple[TrainState, dict]]:
    """``train(key) -> (final TrainState, per-iteration metrics)``: a whole run, pure and jittable."""
    run = iterations(env, agent, num_iterations)
    return lambda key: run(init_state(env, agent, key))


class InGraphTrainer(ScanTrainer):
    """The in-graph driver: a chunk of agent iterations (actors, rollouts, learning) in one scan."""

    def __init__(self, env: JaxEnv, agent: Agent, per_chunk: int):
        self.env, self.agent = env, agent
        super().__init__(partial(init_state, env, agent), partial(iteration, env, agent), per_chunk)


class HostTrainer(Trainer):
    """The host-stepped driver: group i acts in environments [i E, (i + 1) E) of one vector env."""

    def __init__(self, env: HostEnv, agent: Agent, per_chunk: int):
        self.env, self.agent, self.per_chunk = env, agent, per_chunk
        def init(key):
            k_agent, k_critic, _, key = init_keys(key)  # the env key seeds the host environments (see init)
            return TrainState(agent.init(k_agent, k_critic), (), key, jnp.zeros((), jnp.int32))

        self._init = jax.jit(init)
        self._actors = jax.jit(agent.actors)
        self._learn = jax.jit(agent.learn)
        dist = agent.dist

        def act(agent_state, actors, key, obs):
            params = jax.vmap(agent.policy, (None, 0, 0))(agent_state, actors, obs)
            actions = dist.sample(key, params)
            return actions, dist.log_prob(params, actions)

        self._act = jax.jit(act)
        self.vec_env = None
        self.obs = None
        self.last_returns = None

    def init(self, key: jax.Array) -> TrainState:
        """The fresh state, and the environments seeded from the run's environment key."""
        if self.vec_env is not None:
            self.vec_env.close()
        num = self.agent.num_groups * self.agent.num_envs
        self.vec_env = self.env.vector(num, seed=host_seed(init_keys(key)[2]), training=True)
        self.obs = self.vec_env.reset()
        self.last_returns = np.zeros(num)
        return self._init(key)

    def _iteration(self, state: TrainState):
        key, k_actors, k_roll, k_learn = iteration_keys(state.key)
        actors = self._actors(k_actors, state.agent)
        act = functools.partial(self._act, state.agent, actors)
        traj, last_obs, self.obs, episodes = host_rollout(self.vec_env, self.obs, act, k_roll, self.agent.num_steps,
                                                          self.agent.num_groups, self.last_returns)
        agent_state, metrics = self._learn(state.agent, k_learn, actors, traj, last_obs)
        state = TrainState(agent_state, (), key, state.iteration + 1)
        return state, {**jax.device_get(metrics), **episode_metrics(episodes)}

    def chunk(self, state: TrainState, length: int | None = None):
        rows = []
        for _ in range(self.per_chunk if length is None else length):
            state, row = self._iteration(state)
            rows.append(row)
            if self.on_iteration is not None:
                self.on_iteration(int(state.iteration))
            check_stop(self)
        return state, {k: np.asarray([r[k] for r in rows]) for k in rows[0]}


@functools.singledispatch
def make_trainer(env, agent: Agent, per_chunk: int) -> Trainer:
    """The driver for ``env``'s kind: :class:`InGraphTrainer` or :class:`HostTrainer`."""
    raise TypeError(f"no training driver for {type(env).__name__}: environments are JaxEnv or HostEnv")


make_trainer.register(JaxEnv, InGraphTrainer)
make_trainer.register(HostEnv, HostTrainer)
