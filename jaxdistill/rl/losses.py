"""Pure loss functions of PPO (and PPMO's outer loop): GAE, the clipped policy loss, the value loss.

The policy loss takes an action distribution (:mod:`jaxdistill.policy.distributions`) and its
parameters, so the same loss serves categorical and Gaussian policies."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def compute_gae(
    rewards: jax.Array,
    values: jax.Array,
    dones: jax.Array,
    last_value: jax.Array,
    gamma: float,
    gae_lambda: float,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation over a time-major rollout.

    ``rewards``, ``values`` and ``dones`` are ``(T, ...)``; ``dones[t]`` means the episode ended
    with step ``t`` (so ``values[t + 1]`` belongs to a new episode and is not bootstrapped from).
    ``last_value`` is V of the observation after the last step. Returns ``(advantages, returns)``.
    """
    next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)
    not_done = 1.0 - dones.astype(jnp.float32)
    deltas = rewards + gamma * next_values * not_done - values

    def step(carry, inp):
        delta, nd = inp
        adv = delta + gamma * gae_lambda * nd * carry
        return adv, adv

    _, advantages = jax.lax.scan(step, jnp.zeros_like(last_value), (deltas, not_done), reverse=True)
    return advantages, advantages + values


def standardize_advantages(advantages: jax.Array) -> jax.Array:
    """Zero mean, unit std over every element (PPO's per-minibatch advantage normalisation)."""
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def ppo_policy_loss(
    dist,
    dist_params,
    actions: jax.Array,
    old_log_probs: jax.Array,
    advantages: jax.Array,
    clip_eps: float,
    ent_coef: float = 0.0,
    normalize_advantages: bool = True,
) -> tuple[jax.Array, dict]:
    """Clipped surrogate objective (to minimise) minus an entropy bonus."""
    if normalize_advantages:
        advantages = standardize_advantages(advantages)
    log_probs = dist.log_prob(dist_params, actions)
    log_ratio = log_probs - old_log_probs
    ratio = jnp.exp(log_ratio)
    surrogate = jnp.minimum(ratio * advantages, jnp.clip(ratio, 1 - clip_eps, 1 + clip_eps) * advantages)
    entropy = dist.entropy(dist_params).mean()
    loss = -surrogate.mean() - ent_coef * entropy
    info = {
        "entropy": entropy,
        "approx_kl": jnp.mean((ratio - 1) - log_ratio),
        "clip_frac": jnp.mean((jnp.abs(ratio - 1) > clip_eps).astype(jnp.float32)),
    }
    return loss, info


def value_loss(values: jax.Array, targets: jax.Array, old_values: jax.Array | None = None,
               clip_eps: float = 0.2) -> jax.Array:
    """0.5 * MSE to the GAE returns; with ``old_values`` (the values at rollout time), PPO's clipped
    form: the larger of the plain error and the error of the value moved at most ``clip_eps`` from
    the old one (the paper turns this off; CleanRL and PureJaxRL keep it)."""
    if old_values is None:
        return 0.5 * jnp.mean(jnp.square(values - targets))
    clipped = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
    return 0.5 * jnp.mean(jnp.maximum(jnp.square(values - targets), jnp.square(clipped - targets)))
