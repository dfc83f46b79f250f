"""Evolution strategies over the synthetic dataset (HaDES, Lupu et al. 2024), beside PPMO.

OpenES (evosax 0.3, ``Open_ES``) keeps a Gaussian search distribution over the learned part of the
dataset: X, the labels Y (unless they are fixed hard labels), the log of the inner lr (SGD inner training)
and the log std (continuous actions). Every generation it samples a population of candidate datasets
(antithetic pairs), trains ``learners_per_candidate`` fresh learners on each with the run's
:class:`~jaxdistill.learn.inner.InnerTraining` (one SGD step as PPMO's, or HaDES' BC epochs), plays one
full episode per learner, and moves the mean with Adam along the centred-rank estimate of the return's
gradient. Within a generation every candidate sees the same learner initialisations and environment
seeds (common random numbers, as HaDES), so candidates differ only by their data. ``strategy = "snes"`` swaps
OpenES for separable NES (HaDES' MinAtar search: a per-dimension std that adapts, rank utilities, SGD on the
mean), and ``obs_stats_states`` normalises observations with constant statistics of recorded states.

The whole generation is one pure function: the population axis is vmapped and, with a mesh, split over
devices (:func:`jaxdistill.core.sharding.constrain_population`). It runs on every in-graph environment.
The artefact is the distribution's mean, a :class:`~jaxdistill.learn.dataset.SyntheticDataset` that the
shared k-shot evaluator scores like any PPMO dataset.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxdistill.core.sharding import constrain_population
from jaxdistill.distill.kmin import default_k
from jaxdistill.distill.real_states import load_states, state_statistics
from jaxdistill.distill.rollback import load_stage
from jaxdistill.envs.core import JaxEnv
from jaxdistill.eval.episodes import play_episodes
from jaxdistill.eval.kshot import fresh_learners
from jaxdistill.learn.dataset import SyntheticDataset, init_dataset
from jaxdistill.learn.inner import ONE_STEP, InnerTraining
from jaxdistill.nets.networks import ConvSpec, LearnerSpec
from jaxdistill.policy.distributions import for_spec
from jaxdistill.rl.normalize import ObsNorm


@dataclasses.dataclass(frozen=True)
class ESConfig:
    k: int | None = None
    """Number of synthetic pairs; None: k_min for discrete actions, 64 for continuous ones (as PPMO)."""
    generations: int = 300
    """ES generations of a whole run."""
    population: int = 256
    """Candidate datasets per generation (even: antithetic pairs). HaDES: 2048."""
    strategy: Literal["open_es", "snes"] = "open_es"
    """open_es: OpenES, antithetic pairs, a constant std, Adam on the mean (HaDES' default and its cart-pole and
    MuJoCo runs); snes: separable NES (evosax ``SNES``), a per-dimension std that adapts, rank utilities,
    plain SGD steps on the mean (HaDES' MinAtar runs)."""
    sigma: float = 0.1
    """Std of the search distribution: constant with open_es, the initial std with snes. HaDES' preset: 0.03;
    its MinAtar SNES runs: 0.5."""
    lr: float = 0.05
    """Learning rate of the search distribution's mean: Adam's with open_es (HaDES: 0.05), SGD's on SNES'
    natural-gradient step with snes (1.0 is SNES' own rate)."""
    learners_per_candidate: int = 2
    """Fresh learners trained on each candidate, one episode each; the fitness is their mean return
    (HaDES' ``--rollouts``: 2)."""
    learner: LearnerSpec | ConvSpec = LearnerSpec()
    """The learners' architecture and initialisation (the paper's Λ by default)."""
    inner: InnerTraining = ONE_STEP
    """How learners train on a candidate: one SGD step (PPMO's protocol) or HaDES' BC (``--inner.kind bc``)."""
    learn_labels: bool = True
    """Evolve Y (soft labels) too; off with hard labels, which stay fixed."""
    learn_inner_lr: bool = True
    """Evolve the inner lr (as its log) with SGD inner training."""
    learn_log_std: bool = True
    """Evolve the Gaussian's log std (continuous actions)."""
    inner_lr_init: float = 1.0
    """Initial inner lr. Not PPMO's 0.02: one step at 0.02 from an output gain of 0.01 leaves every candidate's
    learners near-uniform, so sampled fitness episodes barely tell candidates apart, and ES, which moves the
    log lr by about its Adam rate per generation, took over 100 generations to leave that plateau on 1-D
    cart-pole (population 64) where from 1.0 it passed 495 within 50-70 (population 128)."""
    x_init_scale: float = 1.0
    """Std of the Gaussian initial instances X (the mean's start)."""
    y_init_scale: float = 1.0
    """Std of the Gaussian initial soft labels Y."""
    init_log_std: float = 0.0
    """Initial log std (continuous actions)."""
    greedy: bool = False
    """Fitness episodes act greedily (argmax / mean); False samples, as HaDES does by default."""
    max_steps: int | None = None
    """Agent steps per fitness episode (None: the environment's episode limit)."""
    fixed_init: bool = False
    """Every generation trains the same learner initialisations (HaDES' "fixed init"; fresh ones otherwise)."""
    x_init_states: str | None = None
    """A ``.npy`` of recorded real states: the mean's X starts as k of them (see PPMOConfig.x_init_states)."""
    obs_stats_states: str | None = None
    """A ``.npy`` of recorded states: their per-element mean and std normalise every observation the learners
    see, constant over the run (HaDES' MinAtar protocol), and are saved in the dataset file; X lives in that
    normalised space. None: raw observations."""
    init_from: str | None = None
    """A dataset directory of an earlier run (PPMO's or ES') on the same environment, k and network: the mean
    starts as that dataset (a PPMO-then-ES hybrid; see PPMOConfig.init_from). With ``obs_stats_states`` the file
    must carry the same statistics: an ES run's own dataset, so a long search goes on in a later sitting from its
    committed file (its mean; the search's std starts again at ``sigma``, so give a smaller one to go on gently)."""

    def for_spec(self, spec) -> "ESConfig":
        if self.k is not None:
            return self
        return dataclasses.replace(self, k=default_k(spec))

    def env_steps_per_generation(self, max_episode_steps: int) -> int:
        """Transitions a generation computes (every fitness episode runs to its step limit in the graph)."""
        return self.population * self.learners_per_candidate * (self.max_steps or max_episode_steps)


HADES = {"population": 2048, "sigma": 0.03, "lr": 0.05, "learners_per_candidate": 2}
"""HaDES' published OpenES settings (population 2048, sigma 0.03, Adam 0.05, 2 rollouts per candidate):
``dataclasses.replace(config, **HADES)``, or ``--es.hades`` on the command line."""
HADES_MINATAR = {"strategy": "snes", "sigma": 0.5, "lr": 1.0, "learners_per_candidate": 2}
"""HaDES' MinAtar search (SNES, initial std 0.5, 2 students per candidate; its population of 2048 is left to the
caller). evosax 0.3's SNES has no fitness temperature (HaDES' older evosax took 20): its rank utilities are
SNES' standard ones."""


@struct.dataclass
class ESState:
    es: Any  # evosax's Open_ES or SNES state (mean, std, optimiser state, best so far)
    key: jax.Array
    learner_key: Any  # with fixed_init, the learners' key of every generation; () otherwise
    alive_steps: jax.Array  # agent steps taken inside episodes so far (the interactions a real robot would make)
    iteration: jax.Array  # generations done


class ES(NamedTuple):
    init: Any
    """``init(key) -> ESState``."""
    generation: Any
    """``generation(state) -> (state, metrics)``: one ask, evaluate, tell (pure)."""
    artefact: Any
    """``artefact(state) -> SyntheticDataset``: the search distribution's mean as a dataset."""
    fitness: Any
    """``fitness(learner_key, env_key, candidate) -> (mean return, agent steps)`` of one candidate (the evolved
    pytree), the function a generation vmaps over its population."""
    strategy: Any
    """The evosax ``Open_ES`` or ``SNES`` instance (its ``ask`` draws a generation's population from ``state.es``)."""
    es_params: Any
    env_steps_per_generation: int
    obs_norm: Any = ()
    """The constant observation statistics the learners see through (``()``: raw observations)."""


def make_es(config: ESConfig, env: JaxEnv, mesh=None) -> ES:
    """OpenES or SNES over the synthetic dataset of ``config`` on the in-graph environment ``env``."""
    from evosax.algorithms import SNES, Open_ES

    if not isinstance(env, JaxEnv):
        raise TypeError(f"the ES distiller runs in-graph environments; {type(env).__name__} steps on the host")
    spec = env.spec
    config = config.for_spec(spec)
    if config.learner.encoder_layers:
        raise ValueError("ES evolves the dataset only: learners with an encoder (encoder_layers > 0) are PPMO's")
    if config.strategy not in ("open_es", "snes"):
        raise ValueError(f"unknown ES strategy {config.strategy!r}; use 'open_es' or 'snes'")
    if config.population < 2 or (config.strategy == "open_es" and config.population % 2):
        raise ValueError(f"the population must be even and >= 2 (antithetic pairs), got {config.population}")
    dist = for_spec(spec, config.init_log_std)
    inner = config.inner
    learners = fresh_learners(env, config.learner, dist, inner)
    num_outputs = dist.num_outputs
    hard = inner.labels == "hard"
    learn_labels = config.learn_labels and not hard
    learn_lr = config.learn_inner_lr and inner.kind == "sgd"
    learn_log_std = config.learn_log_std and not dist.discrete
    obs_norm = () if config.obs_stats_states is None else state_statistics(
        load_states(config.obs_stats_states, spec.obs_shape))
    real_states = None if config.x_init_states is None else load_states(config.x_init_states, spec.obs_shape)
    if real_states is not None and isinstance(obs_norm, ObsNorm):
        real_states = obs_norm(real_states)  # X lives where the learners see observations
    m = config.learners_per_candidate
    stage = None if config.init_from is None else load_stage(
        config.init_from, spec, config.learner, config.k, num_outputs, hard, np.shape(dist.init_extra()),
        obs_norm)[0]

    def start(key) -> SyntheticDataset:
        if stage is not None:
            return stage
        return init_dataset(key, config.k, spec.obs_shape, num_outputs, inner.initial_lr(config.inner_lr_init),
                            config.x_init_scale, config.y_init_scale, dist.init_extra(), hard, real_states)

    # What evolves, as a pytree; the rest of the dataset is fixed at its start.
    def solution_of(dataset: SyntheticDataset) -> dict:
        sol = {"x": dataset.x}
        if learn_labels:
            sol["y"] = dataset.y
        if learn_lr:
            sol["log_inner_lr"] = jnp.log(dataset.inner_lr)
        if learn_log_std:
            sol["log_std"] = dataset.log_std
        return sol

    def dataset_of(sol: dict, fixed: SyntheticDataset) -> SyntheticDataset:
        return SyntheticDataset(
            x=sol["x"], y=sol.get("y", fixed.y),
            inner_lr=jnp.exp(sol["log_inner_lr"]) if learn_lr else fixed.inner_lr,
            log_std=sol.get("log_std", fixed.log_std))

    # The fixed part (hard labels, an unlearned lr or std) is the same for every key's start; any start is also
    # the template of the evolved pytree's shapes.
    fixed = start(jax.random.PRNGKey(0))
    if config.strategy == "snes":
        strategy = SNES(population_size=config.population, solution=solution_of(fixed), optimizer=optax.sgd(config.lr))
        es_params = strategy.default_params.replace(std_init=jnp.asarray(config.sigma, jnp.float32))
    else:
        strategy = Open_ES(population_size=config.population, solution=solution_of(fixed),
                           optimizer=optax.adam(config.lr), std_schedule=optax.constant_schedule(config.sigma))
        es_params = strategy.default_params

    def init(key: jax.Array) -> ESState:
        k_data, k_es, k_learners, key = jax.random.split(key, 4)
        es_state = strategy.init(k_es, solution_of(start(k_data)), es_params)
        return ESState(es=es_state, key=key, learner_key=k_learners if config.fixed_init else (),
                       alive_steps=jnp.zeros((), jnp.float32), iteration=jnp.zeros((), jnp.int32))

    def fitness_of(k_learners, k_env, sol):
        dataset = dataset_of(sol, fixed)
        trained = learners.train(k_learners, dataset, (), m)
        returns, lengths = play_episodes(env, k_env, learners.policy, (trained, (), dataset.log_std, obs_norm), m,
                                         dist, config.greedy, None, config.max_steps, lengths=True)
        return returns.mean(), lengths.sum()

    def generation(state: ESState):
        key, k_ask, k_learners, k_env, k_tell = jax.random.split(state.key, 5)
        if config.fixed_init:
            k_learners = state.learner_key
        population, es_state = strategy.ask(k_ask, state.es, es_params)
        population = constrain_population(population, mesh)
        fitness, steps = jax.vmap(lambda sol: fitness_of(k_learners, k_env, sol))(population)
        fitness = constrain_population(fitness, mesh)
        es_state, _ = strategy.tell(k_tell, population, -fitness, es_state, es_params)  # evosax minimises
        mean = dataset_of(strategy.get_mean(es_state), fixed)
        metrics = {"episode_return": fitness, "fitness_mean": fitness.mean(), "fitness_max": fitness.max(),
                   "alive_steps": steps.sum(), "inner_lr": jnp.mean(mean.inner_lr)}
        if learn_log_std:
            metrics["std"] = jnp.exp(mean.log_std).mean()
        return ESState(es=es_state, key=key, learner_key=state.learner_key, alive_steps=state.alive_steps + steps.sum(),
                       iteration=state.iteration + 1), metrics

    def artefact(state: ESState) -> SyntheticDataset:
        return dataset_of(strategy.get_mean(state.es), fixed)

    return ES(init=init, generation=generation, artefact=artefact, fitness=fitness_of, strategy=strategy,
              es_params=es_params, obs_norm=obs_norm,
              env_steps_per_generation=config.env_steps_per_generation(spec.max_episode_steps))
