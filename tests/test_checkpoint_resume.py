import functools

import numpy as np
import pytest

from jaxdistill.distill.ppmo import make_ppmo
from jaxdistill.envs import make
from jaxdistill.eval.kshot import fresh_learners, make_kshot_evaluate
from jaxdistill.run.driver import make_trainer
from jaxdistill.run.loop import train_loop
from tests.conftest import tree_equal


@functools.lru_cache
def _functions(cfg):
    """Built once per config, so every run below reuses the same compiled programs."""
    env = make("CartPole1D-v1")
    evaluate = make_kshot_evaluate(env, fresh_learners(env, cfg.learner), 16)
    return make_trainer(env, make_ppmo(cfg, env.spec).agent, 2), lambda k, s: evaluate(k, s.agent.dataset)


def _run(cfg, run_dir, **kw):
    trainer, evaluate = _functions(cfg)
    return train_loop(
        trainer=trainer, evaluate_fn=evaluate, total_iterations=8, chunk=2,
        env_steps_per_iteration=cfg.env_steps_per_meta_epoch, run_dir=run_dir, seed=3,
        config={"k": cfg.k}, progress=False, tensorboard=False, **kw,
    )


def test_resumed_run_ends_with_the_same_state_as_an_uninterrupted_one(tiny_ppmo_config, tmp_path):
    full = _run(tiny_ppmo_config, tmp_path / "full")
    assert full.finished and int(full.state.iteration) == 8

    killed = _run(tiny_ppmo_config, tmp_path / "resumed", stop_after=4)
    assert not killed.finished and int(killed.state.iteration) == 4
    assert (tmp_path / "resumed" / "checkpoints" / "4").is_dir()
    resumed = _run(tiny_ppmo_config, tmp_path / "resumed", resume=True)
    assert resumed.finished and int(resumed.state.iteration) == 8
    assert tree_equal(full.state.agent.dataset, resumed.state.agent.dataset)
    assert tree_equal(full.state.agent.critic_params, resumed.state.agent.critic_params)
    assert tree_equal(full.state.key, resumed.state.key)
    # The metrics CSV of the resumed run equals the uninterrupted run's, row for row.
    assert [r["step"] for r in resumed.rows] == [2, 4, 6, 8]
    np.testing.assert_allclose([r["kshot_mean"] for r in resumed.rows], [r["kshot_mean"] for r in full.rows])


def test_resume_refuses_a_different_configuration(tiny_ppmo_config, tmp_path):
    _run(tiny_ppmo_config, tmp_path / "r", stop_after=2)
    trainer, evaluate = _functions(tiny_ppmo_config)
    with pytest.raises(ValueError, match="configuration differs"):
        train_loop(
            trainer=trainer, evaluate_fn=evaluate, total_iterations=8, chunk=2, env_steps_per_iteration=1, run_dir=tmp_path / "r", seed=3,
            config={"k": 5}, progress=False, tensorboard=False, resume=True,
        )


@pytest.mark.timeout(300)
def test_cli_run_killed_with_sigkill_resumes_to_the_uninterrupted_dataset(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    tiny = ["--num-learners", "2", "--num-envs", "2", "--num-steps", "32", "--num-minibatches", "2",
            "--meta-epochs", "100", "--eval-every", "20", "--eval-learners", "8", "--final-eval-learners", "8",
            "--target-return", "None", "--no-progress", "--no-tensorboard", "--checkpoint-interval-s", "0"]

    def cli(run_dir, *extra):
        return [sys.executable, "-m", "experiments.cartpole", *tiny, "--run-dir", str(run_dir), *extra]

    subprocess.run(cli(tmp_path / "full"), cwd=root, check=True, capture_output=True, timeout=240)

    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen(cli(killed_dir), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpts = killed_dir / "checkpoints"
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline and proc.poll() is None:
        if ckpts.is_dir() and any(p.name.isdigit() for p in ckpts.iterdir()):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    steps = [int(p.name) for p in ckpts.iterdir() if p.name.isdigit()]
    assert steps and max(steps) < 100  # really killed mid-run
    assert not (killed_dir / "dataset").exists()

    out = subprocess.run(cli(killed_dir, "--resume"), cwd=root, check=True, capture_output=True, text=True,
                         timeout=240)
    assert "resumed" in out.stderr
    full = np.load(tmp_path / "full" / "dataset" / "dataset.npz")
    resumed = np.load(killed_dir / "dataset" / "dataset.npz")
    for name in ("x", "y", "inner_lr"):
        np.testing.assert_array_equal(full[name], resumed[name])


def test_sigterm_stops_within_a_chunk_and_keeps_the_last_finished_one(tiny_ppmo_config, tmp_path):
    """A signal during a long chunk aborts it after the current iteration (the in-graph trainer checks from its
    scan); the run checkpoints the state of the last finished chunk, so a resume recomputes the rest exactly."""
    import os
    import signal
    import threading
    import time

    import jax.numpy as jnp

    env = make("CartPole1D-v1")
    trainer = make_trainer(env, make_ppmo(tiny_ppmo_config, env.spec).agent, 3000)
    timer = []

    def after_first_chunk(it, row):  # signal 0.5 s into the second chunk (3000 iterations: many seconds)
        timer.append(threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)))
        timer[-1].start()

    t0 = time.perf_counter()
    result = train_loop(trainer=trainer, evaluate_fn=lambda k, s: jnp.zeros(1), total_iterations=6000, chunk=3000,
                        env_steps_per_iteration=1, run_dir=tmp_path / "r", seed=0, config={}, progress=False,
                        tensorboard=False, on_chunk=after_first_chunk)
    assert not result.finished and int(result.state.iteration) == 3000
    assert (tmp_path / "r" / "checkpoints" / "3000").is_dir()
    second_chunk = time.perf_counter() - t0 - result.wall_time
    assert second_chunk < 0.5 * result.wall_time  # the aborted chunk did not run to its end
    assert signal.getsignal(signal.SIGTERM) is not None and trainer.should_stop is None
