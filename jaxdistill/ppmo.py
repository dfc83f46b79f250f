"""Proximal Policy Meta-Optimisation (PPMO, Algorithm 1 of the paper).

Each meta-epoch samples fresh learners from the learner distribution, trains each one SGD step on
the synthetic dataset, rolls the resulting policies out, and then runs PPO's epochs over shuffled
minibatches where the *policy is recomputed from the same initialisations on the current dataset*
and the clipped PPO loss is back-propagated through the inner SGD step into {X, Y, inner_lr}.
A separate critic is trained with PPO's value loss. With ``num_learners > 1`` the meta-gradient is
averaged over several learners (vmapped), each with its own rollout.

With a CNN learner split at ``encoder_layers = l`` (the paper's encoder rollback, Algorithm 2) the
first l layers form an *encoder* that is initialised once and trained by the same outer loss as
the dataset; only the remaining layers are re-sampled every meta-epoch and trained one step on the
encoded synthetic images. l = 0 is full distillation.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxdistill.dataset import SyntheticDataset, init_dataset
from jaxdistill.envs import make_env
from jaxdistill.inner import inner_train, train_fresh_learners
from jaxdistill.losses import ppo_policy_loss, value_loss
from jaxdistill.networks import CRITIC_SPEC, ConvSpec, LearnerSpec
from jaxdistill.ppo import critic_value
from jaxdistill.rollout import (
    RunnerState,
    Transition,
    advantages_and_targets,
    collect_rollout,
    episode_stats,
    minibatch_epochs,
    reset_runner,
    shuffled_minibatches,
)


@dataclasses.dataclass(frozen=True)
class PPMOConfig:
    env_id: str = "CartPole1D-v1"
    """Environment id (``CartPole<N>D-v1``)."""
    k: int = 2
    """Number of synthetic (state, soft label) pairs."""
    num_meta_epochs: int = 200
    """Meta-epochs (outer iterations) of a whole run."""
    learner: LearnerSpec | ConvSpec = LearnerSpec()
    """The training learner distribution (the paper's Λ by default); a ConvSpec with
    ``encoder_layers = l`` splits off an encoder trained by the outer loss."""
    critic: LearnerSpec | ConvSpec = CRITIC_SPEC
    """The critic's architecture (trained as in PPO)."""
    num_learners: int = 8
    """Learners sampled per meta-epoch; their meta-gradients are averaged (vmapped)."""
    num_envs: int = 2
    """Parallel environments per learner."""
    num_steps: int = 256
    """Rollout length per environment and meta-epoch."""
    num_minibatches: int = 16
    """Minibatches per policy epoch (per learner: num_envs * num_steps / num_minibatches). More,
    smaller Adam steps per rollout than the paper's batch of 512: with the paper's 2.5e-4 the
    dataset moves slowly, and this converges several times faster in wall time."""
    update_epochs: int = 4
    """Policy epochs per meta-epoch (the paper: 4)."""
    distiller_lr: float = 2.5e-4
    """Adam learning rate of the synthetic dataset (the paper: 2.5e-4)."""
    critic_lr: float = 2.5e-4
    """Adam learning rate of the critic (the paper: 2.5e-4)."""
    encoder_lr: float = 2.5e-4
    """Adam learning rate of the encoder (only with ``learner.encoder_layers > 0``)."""
    inner_lr_init: float = 0.02
    """Initial learned inner SGD learning rate (the paper: 0.02)."""
    x_init_scale: float = 1.0
    """Std of the Gaussian initial instances X."""
    y_init_scale: float = 1.0
    """Std of the Gaussian initial soft labels Y."""
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.0
    """Entropy bonus on the trained learner's policy inside the meta-loss."""
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    """Global-norm clip of the dataset's and the critic's gradients."""
    min_inner_lr: float | None = 1e-3
    """Project the learned inner lr to at least this after every update (None: unconstrained).
    Unconstrained, it can turn negative, making the inner step gradient *ascent* and the soft
    labels point away from the actions they teach."""

    @property
    def env_steps_per_meta_epoch(self) -> int:
        return self.num_learners * self.num_envs * self.num_steps


@struct.dataclass
class PPMOState:
    dataset: SyntheticDataset
    critic_params: Any
    distiller_opt_state: Any
    critic_opt_state: Any
    encoder_params: Any  # [] unless the learner has an encoder
    encoder_opt_state: Any
    runner: RunnerState  # batched over (num_learners, num_envs)
    key: jax.Array
    meta_epoch: jax.Array


def meta_policy_loss(
    dataset: SyntheticDataset,
    learner_inits,
    obs: jax.Array,
    actions: jax.Array,
    old_log_probs: jax.Array,
    advantages: jax.Array,
    apply,
    clip_eps: float,
    ent_coef: float = 0.0,
    encoder_params=(),
    encode: Callable | None = None,
):
    """PPMO's meta-loss: the clipped PPO loss of each learner after its inner step on ``dataset``.

    ``learner_inits`` and the batch arrays carry a leading learner axis ``L``; the loss is averaged
    over learners. Differentiating it in ``dataset`` back-propagates through :func:`inner_train`.
    With ``encode(encoder_params, x)``, the learners see encoded synthetic instances and encoded
    observations, and the loss is differentiable in ``encoder_params`` too.
    """
    if encode is not None:
        dataset = dataset.replace(x=encode(encoder_params, dataset.x))

    def learner_loss(learner_init, obs, actions, old_log_probs, advantages):
        policy = inner_train(learner_init, dataset, apply)
        features = obs if encode is None else encode(encoder_params, obs)
        return ppo_policy_loss(apply(policy, features), actions, old_log_probs, advantages, clip_eps, ent_coef)

    losses, info = jax.vmap(learner_loss)(learner_inits, obs, actions, old_log_probs, advantages)
    return losses.mean(), jax.tree_util.tree_map(jnp.mean, info)


def _optimizer(lr: float, max_grad_norm: float):
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(lr, eps=1e-5))


class PPMO(NamedTuple):
    """The pure functions of one PPMO configuration (all jittable; none closes over a dataset).

    ``meta_epoch`` is ``sample_policies`` + an in-graph rollout + ``update``. A loop that steps its
    environments on the host (EnvPool) calls ``sample_policies``, collects a time-major
    :class:`~jaxdistill.rollout.Transition` per learner itself, and then ``update``.
    """

    init: Callable[[jax.Array], PPMOState]
    """``init(key) -> PPMOState``."""
    sample_policies: Callable
    """``sample_policies(key, dataset, encoder_params) -> (learner_inits, policies)``: L fresh learners
    and their parameters after the inner step, both stacked on a leading learner axis."""
    policy_logits: Callable
    """``policy_logits(encoder_params, policy, obs) -> logits``: one trained learner acting."""
    update: Callable
    """``update(state, key, learner_inits, traj, last_obs) -> (state, metrics)``: the policy epochs
    over rollouts of shape (L, T, E, ...), updating the dataset (through the inner step) and critic."""
    meta_epoch: Callable[[PPMOState], tuple[PPMOState, dict]]
    """``meta_epoch(state) -> (state, metrics)``: one whole meta-epoch with in-graph environments."""


def make_ppmo(config: PPMOConfig) -> PPMO:
    """Build PPMO's pure functions for ``config``; the dataset travels inside the state as a traced
    argument, so one compilation serves every run and every dataset."""
    env, env_params = make_env(config.env_id)
    num_actions = env.num_actions
    spec = config.learner
    apply = spec.apply
    encode = spec.encode
    critic = partial(critic_value, spec=config.critic)
    distiller_opt = _optimizer(config.distiller_lr, config.max_grad_norm)
    critic_opt = _optimizer(config.critic_lr, config.max_grad_norm)
    encoder_opt = _optimizer(config.encoder_lr, config.max_grad_norm)
    L = config.num_learners

    def init(key: jax.Array) -> PPMOState:
        k_data, k_critic, k_env, key = jax.random.split(key, 4)
        dataset = init_dataset(
            k_data, config.k, env.obs_shape, num_actions, config.inner_lr_init,
            config.x_init_scale, config.y_init_scale,
        )
        critic_params = config.critic.init_params(k_critic, env.obs_shape, 1)
        # The encoder comes from its own fold of the data key, so adding it left cart-pole runs unchanged.
        encoder_params = spec.init_encoder(jax.random.fold_in(k_data, 1), env.obs_shape, num_actions)
        runner = None  # host-stepped environments (EnvPool) keep their own state
        if not getattr(env, "host_stepped", False):
            runner = jax.vmap(lambda k: reset_runner(k, env, env_params, config.num_envs))(jax.random.split(k_env, L))
        return PPMOState(
            dataset=dataset,
            critic_params=critic_params,
            distiller_opt_state=distiller_opt.init(dataset),
            critic_opt_state=critic_opt.init(critic_params),
            encoder_params=encoder_params,
            encoder_opt_state=encoder_opt.init(encoder_params),
            runner=runner,
            key=key,
            meta_epoch=jnp.zeros((), jnp.int32),
        )

    def sample_policies(key: jax.Array, dataset: SyntheticDataset, encoder_params=()):
        return train_fresh_learners(key, spec, env.obs_shape, num_actions, L, dataset, encoder_params)

    def policy_logits(encoder_params, policy, obs):
        return apply(policy, encode(encoder_params, obs))

    def per_learner_minibatches(key, batch, num_minibatches):
        # (L, T, E, ...) -> (M, L, B, ...): every learner's own rollout, shuffled alike.
        mbs = jax.vmap(lambda b: shuffled_minibatches(key, b, num_minibatches))(batch)
        return jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), mbs)

    def update(state: PPMOState, key: jax.Array, learner_inits, traj: Transition, last_obs: jax.Array):
        adv, targets = jax.vmap(
            lambda t, last: advantages_and_targets(
                partial(critic, state.critic_params), t, last, config.gamma, config.gae_lambda
            )
        )(traj, last_obs)
        batch = (traj.obs, traj.action, traj.log_prob, adv, targets)

        def update_minibatch(carry, mb):
            dataset, critic_params, encoder_params, d_opt_state, c_opt_state, e_opt_state = carry
            obs, action, old_log_prob, mb_adv, mb_targets = mb

            def loss_fn(dataset, critic_params, encoder_params):
                pl, info = meta_policy_loss(
                    dataset, learner_inits, obs, action, old_log_prob, mb_adv, apply,
                    config.clip_eps, config.ent_coef, encoder_params, encode,
                )
                vl = value_loss(critic(critic_params, obs), mb_targets)
                return pl + config.vf_coef * vl, {"policy_loss": pl, "value_loss": vl, **info}

            (d_grads, c_grads, e_grads), info = jax.grad(loss_fn, argnums=(0, 1, 2), has_aux=True)(
                dataset, critic_params, encoder_params)
            d_updates, d_opt_state = distiller_opt.update(d_grads, d_opt_state, dataset)
            c_updates, c_opt_state = critic_opt.update(c_grads, c_opt_state, critic_params)
            e_updates, e_opt_state = encoder_opt.update(e_grads, e_opt_state, encoder_params)
            dataset = optax.apply_updates(dataset, d_updates)
            if config.min_inner_lr is not None:
                dataset = dataset.replace(inner_lr=jnp.maximum(dataset.inner_lr, config.min_inner_lr))
            carry = (dataset, optax.apply_updates(critic_params, c_updates),
                     optax.apply_updates(encoder_params, e_updates), d_opt_state, c_opt_state, e_opt_state)
            return carry, info

        (dataset, critic_params, encoder_params, d_opt_state, c_opt_state, e_opt_state), info = minibatch_epochs(
            key,
            (state.dataset, state.critic_params, state.encoder_params, state.distiller_opt_state,
             state.critic_opt_state, state.encoder_opt_state),
            batch,
            update_minibatch,
            config.update_epochs,
            config.num_minibatches,
            per_learner_minibatches,
        )
        new_state = state.replace(
            dataset=dataset,
            critic_params=critic_params,
            distiller_opt_state=d_opt_state,
            critic_opt_state=c_opt_state,
            encoder_params=encoder_params,
            encoder_opt_state=e_opt_state,
            meta_epoch=state.meta_epoch + 1,
        )
        metrics = {**info, **episode_stats(traj), "inner_lr": dataset.inner_lr}
        return new_state, metrics

    def meta_epoch(state: PPMOState):
        key, k_learners, k_roll, k_epochs = jax.random.split(state.key, 4)
        learner_inits, policies = sample_policies(k_learners, state.dataset, state.encoder_params)

        def rollout(key, policy, runner):
            return collect_rollout(key, env, env_params, partial(policy_logits, state.encoder_params, policy),
                                   runner, config.num_steps)

        runner, traj = jax.vmap(rollout)(jax.random.split(k_roll, L), policies, state.runner)
        return update(state.replace(runner=runner, key=key), k_epochs, learner_inits, traj, runner.obs)

    return PPMO(init=init, sample_policies=sample_policies, policy_logits=policy_logits, update=update,
                meta_epoch=meta_epoch)


def make_meta_epochs(config: PPMOConfig, num_meta_epochs: int):
    """``run(state) -> (state, stacked metrics)``: ``num_meta_epochs`` meta-epochs in one scan."""
    meta_epoch = make_ppmo(config).meta_epoch

    def run(state: PPMOState):
        return jax.lax.scan(lambda s, _: meta_epoch(s), state, None, length=num_meta_epochs)

    return run


def make_train(config: PPMOConfig):
    """``train(key) -> (final PPMOState, per-meta-epoch metrics)``: a whole run, pure and jittable."""
    init = make_ppmo(config).init
    run = make_meta_epochs(config, config.num_meta_epochs)

    def train(key: jax.Array):
        return run(init(key))

    return train
