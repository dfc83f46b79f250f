"""k-shot evaluation: fresh learners, one SGD step on the dataset, one full episode each."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdistill.dataset import SyntheticDataset
from jaxdistill.inner import train_fresh_learners
from jaxdistill.networks import ConvSpec, LearnerSpec
from jaxdistill.sharding import check_divisible, constrain_population


def run_episodes(key: jax.Array, env, env_params, policy_logits_batch, num_episodes: int, greedy: bool,
                 mesh=None):
    """One full episode per policy; ``policy_logits_batch(obs (M, obs)) -> logits (M, A)``.

    Returns the undiscounted episode returns, shape ``(num_episodes,)``. With a ``mesh`` the
    episodes are split over its devices (see :mod:`jaxdistill.sharding`).
    """
    k_reset, k_run = jax.random.split(key)
    obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(k_reset, num_episodes), env_params)

    def step(carry, key):
        obs, state, total, alive = carry
        k_act, k_env = jax.random.split(key)
        logits = policy_logits_batch(obs)
        if greedy:
            action = jnp.argmax(logits, axis=-1)
        else:
            action = jax.random.categorical(k_act, logits)
        obs, state, reward, terminated, truncated, _ = jax.vmap(env.step, (0, 0, 0, None))(
            jax.random.split(k_env, num_episodes), state, action, env_params
        )
        total = total + reward * alive
        alive = alive * (1.0 - jnp.logical_or(terminated, truncated))
        return constrain_population((obs, state, total, alive), mesh), None

    init = constrain_population((obs, state, jnp.zeros((num_episodes,)), jnp.ones((num_episodes,))), mesh)
    (_, _, total, _), _ = jax.lax.scan(
        step, init, jax.random.split(k_run, env_params.max_steps_in_episode)
    )
    return total


def make_kshot_evaluate(env, env_params, spec: LearnerSpec | ConvSpec, num_learners: int = 1000,
                        greedy: bool = True, mesh=None):
    """``evaluate(key, dataset, encoder_params=()) -> returns (num_learners,)``, jitted; dataset and
    encoder are traced.

    Learners with an encoder (``spec.encoder_layers > 0``) share the given trained encoder and draw
    fresh layers after it. With a ``mesh`` (:func:`jaxdistill.sharding.population_mesh`) the
    learners are split over its devices; the returns are the same as on one device.
    """
    apply = spec.apply
    check_divisible(num_learners, mesh)

    @jax.jit
    def evaluate(key: jax.Array, dataset: SyntheticDataset, encoder_params=()) -> jax.Array:
        k_init, k_run = jax.random.split(key)
        _, trained = train_fresh_learners(k_init, spec, env.obs_shape, env.num_actions, num_learners, dataset,
                                          encoder_params)
        trained = constrain_population(trained, mesh)
        return run_episodes(
            k_run, env, env_params, lambda obs: jax.vmap(apply)(trained, spec.encode(encoder_params, obs)),
            num_learners, greedy, mesh,
        )

    return evaluate
