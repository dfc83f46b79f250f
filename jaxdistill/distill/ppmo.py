"""Proximal Policy Meta-Optimisation (PPMO, Algorithm 1 of the paper).

Each meta-epoch samples fresh learners from the learner distribution, trains each on the synthetic
dataset (one SGD step by default; :class:`~jaxdistill.learn.inner.InnerTraining` holds the paper
script's other protocols and HaDES' BC), rolls the resulting policies out, and then runs PPO's epochs over shuffled
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
from typing import Any, Callable, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxdistill.distill.kmin import default_k
from jaxdistill.distill.real_states import load_states
from jaxdistill.distill.rollback import load_stage
from jaxdistill.envs.spec import EnvSpec
from jaxdistill.learn.dataset import SyntheticDataset, init_dataset
from jaxdistill.learn.inner import ONE_STEP, InnerTraining, inner_train, train_fresh_learners
from jaxdistill.nets.networks import CRITIC_SPEC, ConvSpec, LearnerSpec
from jaxdistill.policy.distributions import Categorical, for_spec
from jaxdistill.rl import normalize
from jaxdistill.rl.agent import Agent
from jaxdistill.rl.losses import ppo_policy_loss, standardize_advantages, value_loss
from jaxdistill.rl.ppo import critic_value
from jaxdistill.rl.rollout import (
    Transition,
    advantages_and_targets,
    episode_stats,
    minibatch_epochs,
    shuffled_minibatches,
)


@dataclasses.dataclass(frozen=True)
class PPMOConfig:
    k: int | None = None
    """Number of synthetic (state, soft label) pairs; None: k_min = ceil(c / 2) + 1 for the environment's
    c discrete actions, 64 for continuous actions (the paper's Section 6)."""
    meta_epochs: int = 200
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
    """Discount."""
    gae_lambda: float = 0.95
    """GAE's lambda."""
    clip_eps: float = 0.2
    """Clip range of the probability ratio in the meta-loss."""
    ent_coef: float = 0.0
    """Entropy bonus on the trained learner's policy inside the meta-loss."""
    vf_coef: float = 0.5
    """Weight of the critic's value loss (unclipped, as in the paper)."""
    max_grad_norm: float = 0.5
    """Global-norm clip of the dataset's and the critic's gradients."""
    init_log_std: float = 0.0
    """Initial value of the dataset's learned log standard deviation (continuous actions only)."""
    log_std_lr: float | None = None
    """Adam learning rate of the learned log std (None: distiller_lr). Adam moves every parameter by about
    its learning rate per step whatever the gradient's size, and the distiller takes many more, larger
    steps per environment step than PPO does on its log std: at distiller_lr the std collapsed to 0.02
    within a few hundred meta-epochs on inverted_double_pendulum, stalling exploration."""
    normalize_obs: bool = False
    """Learners and critic see observations normalised by running statistics, frozen into the dataset."""
    normalize_reward: bool = False
    """Scale rewards by the running std of a discounted return (for the critic and the advantages)."""
    pin_constant_dims: bool = False
    """With ``normalize_obs``: X's entries on observation dimensions no observation has varied in so far
    (running variance below ``CONSTANT_VAR``, the normaliser's eps) are held at 0, the value every normalised
    observation has there. Left free they keep their random start and only add noise to the learners' inner step
    that real observations never carry (Humanoid-v4 has 119 such dimensions of 376)."""
    advantage_norm: Literal["learner", "minibatch"] = "learner"
    """Where advantages are standardised in the meta-loss: over each learner's own share of a minibatch
    (PPO's rule, applied per learner), or once over the whole minibatch of all learners. With many learners
    and small rollouts each learner's share is a handful of samples, whose standardisation is mostly noise."""
    anneal_lr: bool = False
    """Decay every Adam learning rate (dataset, critic, encoder) linearly to 0 over the run's
    ``meta_epochs``, as PPO's ``anneal_lr`` does. Off in the paper. The schedule follows Adam's step count,
    which a checkpoint keeps: a run resumed with more meta-epochs continues on the longer schedule."""
    min_inner_lr: float | None = 1e-3
    """Project the learned inner lr to at least this after every update (None: unconstrained).
    Unconstrained, it can turn negative, making the inner step gradient *ascent* and the soft
    labels point away from the actions they teach."""
    inner: InnerTraining = ONE_STEP
    """How learners train on the set: SGD steps (``--inner.steps n``, the paper's script ``-i``), fixed hard
    labels with cross-entropy (``--inner.labels hard``, ``--conditional``), or HaDES' BC (``--inner.kind bc``).
    The meta-gradient goes through all of it; the dataset file records it."""
    fixed_init: bool = False
    """Every meta-epoch trains the same L learner initialisations (drawn once per run) instead of fresh ones
    (the paper's script: ``-s``; HaDES' "fixed init"). The k-shot evaluation still draws fresh learners."""
    x_init_states: str | None = None
    """A ``.npy`` file of recorded real states (N, *obs_shape), e.g. from ``python -m experiments.record_states``:
    X starts as k of them drawn uniformly (with replacement when N < k) instead of Gaussian noise (the paper's
    script: ``--load_initial_state``)."""
    init_from: str | None = None
    """A dataset directory of an earlier run on the same environment, k and network (a rollback curriculum's
    previous stage, e.g. the l = 4 run for l = 3): X, Y and the inner lr start as its, and the encoder as the
    first l of its encoder layers (it needs at least l). The critic and the optimisers start fresh."""

    def problems(self) -> list[str]:
        """What in this config contradicts itself, one line each, naming the field and its flag (``make_ppmo``
        raises on them; the CLIs list them with every other input problem before compiling anything)."""
        errors = []
        if self.pin_constant_dims and not self.normalize_obs:
            errors.append("pin_constant_dims (--pin-constant-dims) holds X at the normalised observations' "
                          "constant 0: it needs normalize_obs (--normalize-obs)")
        return errors

    def for_spec(self, spec: EnvSpec) -> "PPMOConfig":
        """This config with ``k`` filled in for ``spec`` when it is None."""
        if self.k is not None:
            return self
        return dataclasses.replace(self, k=default_k(spec))

    @property
    def norm(self) -> normalize.NormConfig:
        return normalize.NormConfig(obs=self.normalize_obs, reward=self.normalize_reward)

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
    norm: normalize.Normalizer  # running observation / reward statistics (empty when off)
    learner_key: Any = ()  # with fixed_init: the key of the learners every meta-epoch trains; () otherwise


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
    dist=None,
    advantage_norm: str = "learner",
    inner: InnerTraining = ONE_STEP,
):
    """PPMO's meta-loss: the clipped PPO loss of each learner after its inner step on ``dataset``.

    ``learner_inits`` and the batch arrays carry a leading learner axis ``L``; the loss is averaged
    over learners. Differentiating it in ``dataset`` back-propagates through :func:`inner_train`.
    With ``encode(encoder_params, x)``, the learners see encoded synthetic instances and encoded
    observations, and the loss is differentiable in ``encoder_params`` too. ``dist`` (categorical by
    default) turns a learner's outputs and the dataset's ``log_std`` (``()`` for a categorical) into its
    action distribution; its ``label_loss`` is the inner objective. ``advantage_norm`` standardises the
    advantages per learner (``"learner"``) or over all of them at once (``"minibatch"``). ``inner`` is how
    the learners train on the dataset (one SGD step by default).
    """
    if dist is None:
        dist = Categorical(int(jnp.shape(dataset.y)[-1]))
    if encode is not None:
        dataset = dataset.replace(x=encode(encoder_params, dataset.x))

    if advantage_norm not in ("learner", "minibatch"):
        raise ValueError(f"advantage_norm must be 'learner' or 'minibatch', got {advantage_norm!r}")
    per_learner = advantage_norm == "learner"
    if not per_learner:
        advantages = standardize_advantages(advantages)

    def learner_loss(learner_init, obs, actions, old_log_probs, advantages):
        policy = inner_train(learner_init, dataset, apply, dist, inner)
        features = obs if encode is None else encode(encoder_params, obs)
        return ppo_policy_loss(dist, dist.params(apply(policy, features), dataset.log_std), actions,
                               old_log_probs, advantages, clip_eps, ent_coef, normalize_advantages=per_learner)

    losses, info = jax.vmap(learner_loss)(learner_inits, obs, actions, old_log_probs, advantages)
    return losses.mean(), jax.tree_util.tree_map(jnp.mean, info)


CONSTANT_VAR = normalize.EPS
"""A running variance below the normaliser's own eps marks a dimension observations (almost) never varied in:
there the eps, not the data, sets the scale, and normalised observations stay within about 1 of 0 (exactly 0
where the dimension is constant; its running variance starts at the prior's 1 and falls as 1e-4 / samples, so
below 1e-8 after 10,000 observations, two meta-epochs of Humanoid-v4's preset)."""


def pin_constant_dims(dataset: SyntheticDataset, obs_var: jax.Array) -> SyntheticDataset:
    """``dataset`` with X set to 0 on the dimensions whose running observation variance ``obs_var`` is below
    ``CONSTANT_VAR`` (where every normalised observation is 0)."""
    return dataset.replace(x=jnp.where(obs_var < CONSTANT_VAR, 0.0, dataset.x))


def _optimizer(lr: float, max_grad_norm: float, config: PPMOConfig | None = None):
    """Adam after a global-norm clip; with ``config.anneal_lr`` its rate decays linearly to 0 over the
    run's Adam steps (``update_epochs * num_minibatches`` per meta-epoch)."""
    if config is not None and config.anneal_lr:
        lr = optax.linear_schedule(lr, 0.0, config.meta_epochs * config.update_epochs * config.num_minibatches)
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(lr, eps=1e-5))


def distiller_optimizer(config: PPMOConfig, dist) -> optax.GradientTransformation:
    """Adam over the dataset {X, Y, inner_lr, log_std} after a global-norm clip; with ``log_std_lr`` the
    log std's steps are scaled to that rate (Gaussian learners only: a categorical dataset's optimiser,
    and so every discrete run, stays as it was)."""
    opt = _optimizer(config.distiller_lr, config.max_grad_norm, config)
    if config.log_std_lr is None or not jnp.size(dist.init_extra()):
        return opt
    only_log_std = SyntheticDataset(x=False, y=False, inner_lr=False, log_std=True)
    return optax.chain(opt, optax.masked(optax.scale(config.log_std_lr / config.distiller_lr), only_log_std))


class PPMO(NamedTuple):
    """PPMO for one configuration: the :class:`~jaxdistill.rl.agent.Agent` an iteration driver runs,
    and the artefact it distils."""

    agent: Agent
    """``actors`` samples L fresh learners and trains each one step on the dataset; ``learn`` runs the
    policy epochs, back-propagating the clipped PPO loss through the inner step into {X, Y, inner_lr}
    (and the encoder)."""
    artefact: Callable[[PPMOState], tuple[SyntheticDataset, Any, Any]]
    """``artefact(agent_state) -> (dataset, encoder_params, obs_norm)``: what a k-shot learner trains on
    and the frozen observation statistics it sees the environment through (``()`` when off)."""


def make_ppmo(config: PPMOConfig, spec: EnvSpec) -> PPMO:
    """Build PPMO's pure functions for ``config`` on environments described by ``spec``; the dataset
    travels inside the state as a traced argument, so one compilation serves every run and dataset."""
    config = config.for_spec(spec)
    problems = config.problems()
    if problems:
        raise ValueError("; ".join(problems))
    dist = for_spec(spec, config.init_log_std)
    inner = config.inner
    inner.check(dist)
    hard = inner.labels == "hard"
    real_states = None if config.x_init_states is None else load_states(config.x_init_states, spec.obs_shape)
    stage = None if config.init_from is None else load_stage(
        config.init_from, spec, config.learner, config.k, dist.num_outputs, hard, np.shape(dist.init_extra()))
    norm_config = config.norm
    num_outputs = dist.num_outputs
    learner = config.learner
    apply, encode = learner.apply, learner.encode
    critic = partial(critic_value, spec=config.critic)
    distiller_opt = distiller_optimizer(config, dist)
    critic_opt = _optimizer(config.critic_lr, config.max_grad_norm, config)
    encoder_opt = _optimizer(config.encoder_lr, config.max_grad_norm, config)
    L = config.num_learners

    def init(key: jax.Array, critic_key: jax.Array) -> PPMOState:
        dataset = init_dataset(
            key, config.k, spec.obs_shape, num_outputs, inner.initial_lr(config.inner_lr_init), config.x_init_scale,
            config.y_init_scale, dist.init_extra(), hard, real_states,
        )
        critic_params = config.critic.init_params(critic_key, spec.obs_shape, 1)
        # The encoder comes from its own fold of the data key, so adding it left cart-pole runs unchanged.
        encoder_params = learner.init_encoder(jax.random.fold_in(key, 1), spec.obs_shape, num_outputs)
        if stage is not None:  # a rollback stage: the previous stage's set and the first l of its encoder layers
            dataset, encoder_params = stage
        return PPMOState(
            dataset=dataset,
            critic_params=critic_params,
            distiller_opt_state=distiller_opt.init(dataset),
            critic_opt_state=critic_opt.init(critic_params),
            encoder_params=encoder_params,
            encoder_opt_state=encoder_opt.init(encoder_params),
            norm=normalize.init(norm_config, spec.obs_shape, L, config.num_envs),
            learner_key=jax.random.fold_in(key, 2) if config.fixed_init else (),
        )

    def actors(key: jax.Array, state: PPMOState):
        """``(learner_inits, trained)``: L fresh learners (the run's fixed ones with ``fixed_init``) and their
        parameters after the inner training."""
        if config.fixed_init:
            key = state.learner_key
        return train_fresh_learners(key, learner, spec.obs_shape, num_outputs, L, state.dataset,
                                    state.encoder_params, dist, inner)

    def policy(state: PPMOState, actor, obs):
        features = encode(state.encoder_params, normalize.observe(norm_config, state.norm, obs))
        return dist.params(apply(actor[1], features), state.dataset.log_std)

    def per_learner_minibatches(key, batch, num_minibatches):
        # (L, T, E, ...) -> (M, L, B, ...): every learner's own rollout, shuffled alike.
        mbs = jax.vmap(lambda b: shuffled_minibatches(key, b, num_minibatches))(batch)
        return jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), mbs)

    def learn(state: PPMOState, key: jax.Array, actors, traj: Transition, last_obs: jax.Array):
        learner_inits = actors[0]
        raw = traj
        traj, last_obs = normalize.normalized(norm_config, state.norm, traj, last_obs)
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
                    config.clip_eps, config.ent_coef, encoder_params, encode, dist, config.advantage_norm, inner,
                )
                vl = value_loss(critic(critic_params, obs), mb_targets)
                return pl + config.vf_coef * vl, {"policy_loss": pl, "value_loss": vl, **info}

            (d_grads, c_grads, e_grads), info = jax.grad(loss_fn, argnums=(0, 1, 2), has_aux=True)(
                dataset, critic_params, encoder_params)
            if hard:  # fixed labels: only X (and the inner lr) learn, and Y's gradient leaves the clip's norm
                d_grads = d_grads.replace(y=jnp.zeros_like(d_grads.y))
            d_updates, d_opt_state = distiller_opt.update(d_grads, d_opt_state, dataset)
            c_updates, c_opt_state = critic_opt.update(c_grads, c_opt_state, critic_params)
            e_updates, e_opt_state = encoder_opt.update(e_grads, e_opt_state, encoder_params)
            dataset = optax.apply_updates(dataset, d_updates)
            if config.min_inner_lr is not None:
                dataset = dataset.replace(inner_lr=jnp.maximum(dataset.inner_lr, config.min_inner_lr))
            if config.pin_constant_dims:
                dataset = pin_constant_dims(dataset, state.norm.obs.var)
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
            norm=normalize.update(norm_config, state.norm, raw, config.gamma),
        )
        metrics = {**info, **episode_stats(traj), "inner_lr": jnp.mean(dataset.inner_lr)}  # per-step rates: their mean
        if jnp.size(dataset.log_std):  # a Gaussian: how exploratory the distilled policy is
            metrics["std"] = jnp.exp(dataset.log_std).mean()
        return new_state, metrics

    agent = Agent(dist=dist, num_groups=L, num_envs=config.num_envs, num_steps=config.num_steps, init=init,
                  actors=actors, policy=policy, learn=learn)

    def artefact(state: PPMOState):
        return state.dataset, state.encoder_params, normalize.frozen_obs(norm_config, state.norm)

    return PPMO(agent=agent, artefact=artefact)
