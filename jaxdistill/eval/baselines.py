"""The floor every method must clear: a uniformly random policy's returns on the same episodes."""

from __future__ import annotations

from jaxdistill.eval.episodes import play_episodes, staged


def random_policy_returns(env, key, episodes: int, max_steps: int | None = None):
    """Returns of a uniformly random policy over a discrete action space (the floor every method must clear)."""
    import jax.numpy as jnp

    from jaxdistill.policy.distributions import Categorical

    n = env.spec.num_actions

    def uniform(params, obs):
        return jnp.zeros((obs.shape[0], n))

    return staged(env, lambda k: play_episodes(env, k, uniform, (), episodes, Categorical(n), False, None,
                                               max_steps))(key)
