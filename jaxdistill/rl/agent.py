"""The interface an iteration driver composes: PPO and PPMO are both an :class:`Agent`.

One iteration, whatever the agent and wherever the environments run (:mod:`jaxdistill.run.driver`):

1. ``actors = agent.actors(k_actors, agent_state)``: the policies that act this iteration, stacked on a
   leading *group* axis (PPO: its one actor; PPMO: L fresh learners after their inner step);
2. every group acts in its own ``num_envs`` environments for ``num_steps`` steps, sampling actions
   from ``agent.dist`` with the parameters ``agent.policy(agent_state, actor, obs)``;
3. ``agent.learn(agent_state, k_learn, actors, traj, last_obs)``: the update on the rollout of shape
   (groups, T, E, ...).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from jaxdistill.policy.distributions import ActionDist


class Agent(NamedTuple):
    dist: ActionDist
    """How the policy's outputs become actions (categorical or Gaussian)."""
    num_groups: int
    """Policies acting per iteration (PPO: 1; PPMO: learners per meta-epoch)."""
    num_envs: int
    """Environments per group."""
    num_steps: int
    """Rollout length per environment and iteration."""
    init: Callable[[Any, Any], Any]
    """``init(key, critic_key) -> agent_state``."""
    actors: Callable[[Any, Any], Any]
    """``actors(key, agent_state) -> actors`` (a pytree with a leading group axis)."""
    policy: Callable[[Any, Any, Any], Any]
    """``policy(agent_state, actor, obs) -> distribution parameters`` for one group's actor."""
    learn: Callable[..., tuple[Any, dict]]
    """``learn(agent_state, key, actors, traj, last_obs) -> (agent_state, metrics)``."""

    @property
    def env_steps_per_iteration(self) -> int:
        return self.num_groups * self.num_envs * self.num_steps
