"""Pure loss functions: the inner MSE objective, GAE, and PPO's policy and value losses."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def inner_mse_loss(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean over all k x num_actions elements of the squared error (the inner objective)."""
    return jnp.mean(jnp.square(outputs - labels))


def categorical_log_prob(logits: jax.Array, actions: jax.Array) -> jax.Array:
    log_p = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(log_p, actions[..., None].astype(jnp.int32), axis=-1)[..., 0]


def categorical_entropy(logits: jax.Array) -> jax.Array:
    log_p = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)


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


def ppo_policy_loss(
    logits: jax.Array,
    actions: jax.Array,
    old_log_probs: jax.Array,
    advantages: jax.Array,
    clip_eps: float,
    ent_coef: float = 0.0,
    normalize_advantages: bool = True,
) -> tuple[jax.Array, dict]:
    """Clipped surrogate objective (to minimise) minus an entropy bonus."""
    if normalize_advantages:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    log_probs = categorical_log_prob(logits, actions)
    log_ratio = log_probs - old_log_probs
    ratio = jnp.exp(log_ratio)
    surrogate = jnp.minimum(ratio * advantages, jnp.clip(ratio, 1 - clip_eps, 1 + clip_eps) * advantages)
    entropy = categorical_entropy(logits).mean()
    loss = -surrogate.mean() - ent_coef * entropy
    info = {
        "entropy": entropy,
        "approx_kl": jnp.mean((ratio - 1) - log_ratio),
        "clip_frac": jnp.mean((jnp.abs(ratio - 1) > clip_eps).astype(jnp.float32)),
    }
    return loss, info


def value_loss(values: jax.Array, targets: jax.Array) -> jax.Array:
    """0.5 * MSE to the GAE returns (no value clipping, as in the paper)."""
    return 0.5 * jnp.mean(jnp.square(values - targets))
