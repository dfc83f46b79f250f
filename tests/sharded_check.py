"""Run in a subprocess with 8 simulated CPU devices (see tests/test_sharding.py)."""

import json
import sys

import jax
import numpy as np

from jaxdistill.core.sharding import population_mesh
from jaxdistill.envs import make
from jaxdistill.eval.kshot import make_kshot_evaluate
from jaxdistill.learn.dataset import load_dataset
from jaxdistill.learn.learners import get_distribution, padded_learners

dataset_dir = sys.argv[1]
assert jax.device_count() == 8, jax.devices()
env = make("CartPole2D-v1")
dataset, _ = load_dataset(dataset_dir)
key = jax.random.PRNGKey(11)
out = {}
# 197 Random-L learners: over 8 devices they are padded to 200 and the padding dropped (tests/test_multiprocess.py
# covers Λ-style learners and several processes).
for mesh_size in (8, 1):
    mesh = population_mesh(jax.devices()[:mesh_size])
    random_l = make_kshot_evaluate(env, padded_learners(env, get_distribution("random_l")), 197, mesh=mesh)(
        key, dataset)
    out[mesh_size] = {"random_l": np.asarray(random_l).tolist(), "devices": len(random_l.sharding.device_set)}

# The sweep's population: 8 seeds of a tiny configuration, sharded over 8 devices vs not sharded.
from jaxdistill.distill.ppmo import PPMOConfig  # noqa: E402
from jaxdistill.run.population import distill_population  # noqa: E402

tiny = PPMOConfig(k=2, meta_epochs=4, num_learners=2, num_envs=2, num_steps=32,
                  num_minibatches=2, update_epochs=2)
sweep = {}
for mesh in (population_mesh(), None):
    result = distill_population(make("CartPole1D-v1"), tiny, list(range(8)), chunk=2, eval_learners=8, target_return=None, mesh=mesh,
                                log=False)
    sweep["sharded" if mesh is not None else "single"] = {
        "x": np.asarray(result.states.agent.dataset.x).tolist(),
        "devices": len(result.states.agent.dataset.x.sharding.device_set),
    }
out["sweep"] = sweep

# An ES generation: the population of 16 candidate datasets split over 8 devices vs on one.
from jaxdistill.distill.es import ESConfig, make_es  # noqa: E402

es_out = {}
for mesh in (population_mesh(), None):
    es = make_es(ESConfig(k=2, population=16, max_steps=40), make("CartPole1D-v1"), mesh)
    state, metrics = jax.jit(es.generation)(jax.jit(es.init)(jax.random.PRNGKey(3)))
    es_out["sharded" if mesh is not None else "single"] = {
        "fitness": np.asarray(metrics["episode_return"]).tolist(), "mean_x": np.asarray(es.artefact(state).x).tolist(),
        "devices": len(metrics["episode_return"].sharding.device_set)}
out["es"] = es_out
print(json.dumps(out))
