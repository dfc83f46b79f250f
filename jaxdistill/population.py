"""Distilling a population: several seeds of one PPMO configuration as one vmapped, sharded program.

Seeds of one configuration have equal shapes, so a chunk of meta-epochs for all of them is a
single ``jax.vmap`` of the meta-epoch scan, with the seed axis split over the device mesh. The
loop evaluates every seed's dataset between chunks and stops when all of them reach the target.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxdistill.envs import make_env
from jaxdistill.evaluation import make_kshot_evaluate
from jaxdistill.ppmo import PPMOConfig, make_meta_epochs, make_ppmo
from jaxdistill.sharding import constrain_population, to_host
from jaxdistill.train import run_keys


@dataclasses.dataclass
class PopulationResult:
    states: object  # PPMOState batched over seeds
    meta_epochs: int
    wall_time: float
    history: list[dict]


def distill_population(
    config: PPMOConfig,
    seeds: list[int],
    *,
    chunk: int = 50,
    eval_learners: int = 200,
    target_return: float | None = 499.0,
    mesh=None,
    log=True,
) -> PopulationResult:
    """Train ``len(seeds)`` PPMO runs of ``config`` together for up to ``config.num_meta_epochs``.

    Every seed takes its keys from :func:`jaxdistill.train.run_keys`, as ``train_loop`` does, so a
    seed's dataset here equals the dataset of ``train_loop`` with the same seed and chunking.
    """
    env, env_params = make_env(config.env_id)
    init = make_ppmo(config).init
    run_chunk = make_meta_epochs(config, chunk)
    evaluate = make_kshot_evaluate(env, env_params, config.learner, eval_learners)
    keys = jnp.stack([run_keys(s)[0] for s in seeds])
    eval_roots = jnp.stack([run_keys(s)[1] for s in seeds])

    @jax.jit
    def init_all(keys):
        return constrain_population(jax.vmap(init)(keys), mesh)

    @jax.jit
    def chunk_all(states):
        states, metrics = jax.vmap(run_chunk)(states)
        return constrain_population(states, mesh), metrics

    @jax.jit
    def evaluate_all(eval_keys, states):
        return jax.vmap(evaluate)(eval_keys, states.dataset)

    start = time.perf_counter()
    states = init_all(keys)
    history, it = [], 0
    while it < config.num_meta_epochs:
        states, _ = chunk_all(states)
        it += chunk
        eval_keys = jax.vmap(jax.random.fold_in, (0, None))(eval_roots, it)
        returns = to_host(evaluate_all(eval_keys, states))
        means = returns.mean(axis=1)
        history.append({"meta_epoch": it, "kshot_means": means.tolist(), "wall_time": time.perf_counter() - start})
        if log:
            print(f"  {config.env_id} k={config.k}: meta-epoch {it:5d}  k-shot per seed "
                  + " ".join(f"{m:6.1f}" for m in means) + f"  [{time.perf_counter() - start:6.1f} s]",
                  file=sys.stderr, flush=True)
        if target_return is not None and np.all(means >= target_return):
            break
    return PopulationResult(states, it, time.perf_counter() - start, history)
