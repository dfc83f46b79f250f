import dataclasses

import numpy as np

from jaxdistill.envs import make
from jaxdistill.run.population import distill_population
from tests.test_checkpoint_resume import _run

ENV = make("CartPole1D-v1")


def test_a_seed_in_the_population_matches_the_same_seed_trained_alone(tiny_ppmo_config, tmp_path):
    cfg = dataclasses.replace(tiny_ppmo_config, meta_epochs=8)
    alone = _run(tiny_ppmo_config, tmp_path / "alone")  # seed 3, chunks of 2, 8 meta-epochs
    population = distill_population(ENV, cfg, [5, 3], chunk=2, eval_learners=16, target_return=None, log=False)
    assert population.meta_epochs == 8 and len(population.history) == 4
    pop = population.states.agent.dataset
    np.testing.assert_allclose(pop.x[1], alone.state.agent.dataset.x, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pop.y[1], alone.state.agent.dataset.y, rtol=1e-4, atol=1e-5)
    assert not np.allclose(pop.x[0], pop.x[1])


def test_population_stops_once_every_seed_reaches_the_target(tiny_ppmo_config):
    cfg = dataclasses.replace(tiny_ppmo_config, meta_epochs=40)
    result = distill_population(ENV, cfg, [0, 1], chunk=2, eval_learners=8, target_return=0.0, log=False)
    assert result.meta_epochs == 2  # any return clears a target of 0 at the first evaluation
