"""Distilling a population: several seeds of one PPMO configuration as one vmapped, sharded program.

Seeds of one configuration have equal shapes, so a chunk of meta-epochs for all of them is a
single ``jax.vmap`` of the meta-epoch scan, with the seed axis split over the device mesh. The
loop evaluates every seed's dataset between chunks and stops when all of them reach the target.
"""

from __future__ import annotations

import dataclasses
import functools
import signal
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxdistill.core import distributed
from jaxdistill.core.errors import NonFiniteError, RunInterrupted
from jaxdistill.core.loop import StopSignals, all_finite, run_keys
from jaxdistill.core.sharding import constrain_population, padded_size, to_host
from jaxdistill.distill.ppmo import PPMOConfig, make_ppmo
from jaxdistill.envs.core import JaxEnv
from jaxdistill.eval.kshot import fresh_learners, make_kshot_evaluate
from jaxdistill.run.driver import init_state, iterations


@dataclasses.dataclass
class PopulationResult:
    states: object  # TrainState batched over the padded seeds (PPMOState in .agent); the first len(seeds) are the seeds
    meta_epochs: int
    wall_time: float
    history: list[dict]


def distill_population(
    env: JaxEnv,
    config: PPMOConfig,
    seeds: list[int],
    *,
    chunk: int = 50,
    eval_learners: int = 200,
    target_return: float | None = 499.0,
    mesh=None,
    log=True,
) -> PopulationResult:
    """Train ``len(seeds)`` PPMO runs of ``config`` on the in-graph ``env`` together for up to ``config.meta_epochs``.

    Every seed takes its keys from :func:`jaxdistill.core.loop.run_keys`, as ``train_loop`` does, so a
    seed's dataset here equals the dataset of ``train_loop`` with the same seed and chunking. The budget runs
    exactly (the last chunk is shorter when ``chunk`` does not divide it).

    SIGINT / SIGTERM (on any process) stop every process after the current chunk with
    :class:`~jaxdistill.core.errors.RunInterrupted`; a dataset that goes NaN or infinite stops the run with
    :class:`~jaxdistill.core.errors.NonFiniteError` naming the meta-epoch.

    With a ``mesh`` the seeds are split over its devices (every process's). When they do not split evenly,
    the seed list is padded by repeating seeds. A repeat computes the same numbers as its original, so it
    changes neither the results nor the stopping decision; its copy is ignored.
    """
    ppmo = make_ppmo(config, env.spec)
    agent = ppmo.agent
    evaluate = make_kshot_evaluate(env, fresh_learners(env, config.learner), eval_learners)
    padded = [seeds[i % len(seeds)] for i in range(padded_size(len(seeds), mesh))]
    keys = jnp.stack([run_keys(s)[0] for s in padded])
    eval_roots = jnp.stack([run_keys(s)[1] for s in padded])

    @jax.jit
    def init_all(keys):
        return constrain_population(jax.vmap(lambda k: init_state(env, agent, k))(keys), mesh)

    @functools.partial(jax.jit, static_argnums=1)
    def chunk_all(states, length):
        states, metrics = jax.vmap(iterations(env, agent, length))(states)
        return constrain_population(states, mesh), metrics

    @jax.jit
    def evaluate_all(eval_keys, states):
        return jax.vmap(lambda k, s: evaluate(k, *ppmo.artefact(s)))(eval_keys, states.agent)

    start = time.perf_counter()
    states = init_all(keys)
    history, it = [], 0
    with StopSignals() as stop:
        while it < config.meta_epochs:
            length = min(chunk, config.meta_epochs - it)
            new_states, _ = chunk_all(states, length)
            if not all_finite(ppmo.artefact(new_states.agent)):
                raise NonFiniteError(f"{env.spec.env_id} k={config.k}: a dataset went non-finite (NaN or inf) between "
                                     f"meta-epoch {it} and {it + length}; stopped without writing the datasets")
            states, it = new_states, it + length
            eval_keys = jax.vmap(jax.random.fold_in, (0, None))(eval_roots, it)
            returns = to_host(evaluate_all(eval_keys, states))
            means = returns.mean(axis=1)[: len(seeds)]
            history.append({"meta_epoch": it, "kshot_means": means.tolist(), "wall_time": time.perf_counter() - start})
            if log:
                distributed.log(f"  {env.spec.env_id} k={config.k}: meta-epoch {it:5d}  k-shot per seed "
                                + " ".join(f"{m:6.1f}" for m in means) + f"  [{time.perf_counter() - start:6.1f} s]")
            if target_return is not None and np.all(means >= target_return):
                break
            if distributed.any_process(stop.requested):
                raise RunInterrupted(f"{env.spec.env_id} k={config.k} was interrupted at meta-epoch {it} of "
                                     f"{config.meta_epochs}", stop.signum or signal.SIGTERM, resume_flag=False)
    return PopulationResult(states, it, time.perf_counter() - start, history)
