import dataclasses

import numpy as np

from jaxdistill.population import distill_population
from tests.test_checkpoint_resume import _run


def test_a_seed_in_the_population_matches_the_same_seed_trained_alone(tiny_ppmo_config, tmp_path):
    cfg = dataclasses.replace(tiny_ppmo_config, num_meta_epochs=8)
    alone = _run(tiny_ppmo_config, tmp_path / "alone")  # seed 3, chunks of 2, 8 meta-epochs
    population = distill_population(cfg, [5, 3], chunk=2, eval_learners=16, target_return=None, log=False)
    assert population.meta_epochs == 8 and len(population.history) == 4
    np.testing.assert_allclose(population.states.dataset.x[1], alone.state.dataset.x, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(population.states.dataset.y[1], alone.state.dataset.y, rtol=1e-4, atol=1e-5)
    assert not np.allclose(population.states.dataset.x[0], population.states.dataset.x[1])


def test_population_stops_once_every_seed_reaches_the_target(tiny_ppmo_config):
    cfg = dataclasses.replace(tiny_ppmo_config, num_meta_epochs=40)
    result = distill_population(cfg, [0, 1], chunk=2, eval_learners=8, target_return=0.0, log=False)
    assert result.meta_epochs == 2  # any return clears a target of 0 at the first evaluation
