import jax
import numpy as np
import pytest

from jaxdistill.envs import make_env
from jaxdistill.evaluation import make_kshot_evaluate
from jaxdistill.ppmo import make_meta_epochs, make_ppmo
from jaxdistill.train import train_loop
from tests.conftest import tree_equal


def _run(cfg, run_dir, **kw):
    init = make_ppmo(cfg).init
    env, params = make_env(cfg.env_id)
    evaluate = make_kshot_evaluate(env, params, cfg.learner, 16)
    return train_loop(
        init_fn=init, chunk_fn=make_meta_epochs(cfg, 2), evaluate_fn=lambda k, s: evaluate(k, s.dataset),
        iteration_of=lambda s: int(s.meta_epoch), total_iterations=8, chunk=2,
        env_steps_per_iteration=cfg.env_steps_per_meta_epoch, run_dir=run_dir, seed=3,
        config={"k": cfg.k}, progress=False, tensorboard=False, **kw,
    )


def test_resumed_run_ends_with_the_same_state_as_an_uninterrupted_one(tiny_ppmo_config, tmp_path):
    full = _run(tiny_ppmo_config, tmp_path / "full")
    assert full.finished and int(full.state.meta_epoch) == 8

    killed = _run(tiny_ppmo_config, tmp_path / "resumed", stop_after=4)
    assert not killed.finished and int(killed.state.meta_epoch) == 4
    assert (tmp_path / "resumed" / "checkpoints" / "4").is_dir()
    resumed = _run(tiny_ppmo_config, tmp_path / "resumed", resume=True)
    assert resumed.finished and int(resumed.state.meta_epoch) == 8
    assert tree_equal(full.state.dataset, resumed.state.dataset)
    assert tree_equal(full.state.critic_params, resumed.state.critic_params)
    assert tree_equal(full.state.key, resumed.state.key)
    # The metrics CSV of the resumed run equals the uninterrupted run's, row for row.
    assert [r["step"] for r in resumed.rows] == [2, 4, 6, 8]
    np.testing.assert_allclose([r["kshot_mean"] for r in resumed.rows], [r["kshot_mean"] for r in full.rows])


def test_resume_refuses_a_different_configuration(tiny_ppmo_config, tmp_path):
    _run(tiny_ppmo_config, tmp_path / "r", stop_after=2)
    init = make_ppmo(tiny_ppmo_config).init
    with pytest.raises(ValueError, match="configuration differs"):
        train_loop(
            init_fn=init, chunk_fn=make_meta_epochs(tiny_ppmo_config, 2),
            evaluate_fn=lambda k, s: jax.numpy.zeros(1), iteration_of=lambda s: int(s.meta_epoch),
            total_iterations=8, chunk=2, env_steps_per_iteration=1, run_dir=tmp_path / "r", seed=3,
            config={"k": 5}, progress=False, tensorboard=False, resume=True,
        )
