import functools

import jax
import numpy as np
import pytest

from jaxdistill.core.errors import DiskFullError, NonFiniteError, ResumeError, RunDirError, RunInterrupted
from jaxdistill.core.loop import train_loop
from jaxdistill.distill.ppmo import make_ppmo
from jaxdistill.envs import make
from jaxdistill.eval.kshot import fresh_learners, make_kshot_evaluate
from jaxdistill.run.driver import make_trainer
from jaxdistill.run.population import distill_population
from tests.conftest import replace, tree_equal


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


def test_resume_refuses_a_different_configuration_before_reading_the_checkpoint(tiny_ppmo_config, tmp_path):
    _run(tiny_ppmo_config, tmp_path / "r", stop_after=2)
    # k = 3: the checkpoint's arrays have other shapes; the settings are compared first and named.
    trainer, evaluate = _functions(replace(tiny_ppmo_config, k=3))
    with pytest.raises(ResumeError, match=r"cannot resume .*: the configuration differs from the checkpoint's: "
                                          r"k: saved 2, now 3$"):
        train_loop(
            trainer=trainer, evaluate_fn=evaluate, total_iterations=8, chunk=2, env_steps_per_iteration=1,
            run_dir=tmp_path / "r", seed=3, config={"k": 3}, progress=False, tensorboard=False, resume=True,
        )


def test_a_reused_run_directory_is_refused_unless_resumed_or_overwritten(tmp_path):
    run_dir = tmp_path / "r"
    _toy_run(_toy_trainer(), run_dir, stop_after=4)
    with pytest.raises(RunDirError, match=r"holds another run \(checkpoints up to iteration 4\): pass --resume"):
        _toy_run(_toy_trainer(), run_dir)
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["4"]  # nothing touched
    # --overwrite: the old run's checkpoints and metrics are gone before the new run writes its own.
    fresh = _toy_run(_toy_trainer(), run_dir, stop_after=2, overwrite=True)
    assert int(fresh.state.iteration) == 2
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["2"]
    assert [line.split(",")[0] for line in (run_dir / "metrics.csv").read_text().splitlines()[1:]] == ["2"]
    with pytest.raises(RunDirError, match="give one of them"):
        _toy_run(_toy_trainer(), run_dir, resume=True, overwrite=True)
    assert int(_toy_run(_toy_trainer(), run_dir, resume=True).state.iteration) == 8


def test_a_budget_runs_exactly_with_a_shorter_last_chunk(tmp_path):
    result = _toy_run(_toy_trainer(), tmp_path / "r", total_iterations=5)
    assert result.finished and int(result.state.iteration) == 5
    assert [r["step"] for r in result.rows] == [2, 4, 5]
    np.testing.assert_array_equal(result.state.agent, [32.0, 32.0, 32.0])  # 5 doublings, not 6


def _toy_trainer(nan_from: int | None = None, size: int = 3):
    """A trainer without environment whose state doubles every iteration (NaN from iteration ``nan_from``)."""
    import jax.numpy as jnp

    from jaxdistill.core.trainer import ScanTrainer
    from jaxdistill.run.driver import TrainState

    def init(key):
        return TrainState(jnp.ones(size), (), key, jnp.zeros((), jnp.int32))

    def step(state):
        x = state.agent * 2.0
        if nan_from is not None:
            x = jnp.where(state.iteration + 1 >= nan_from, jnp.nan, x)
        return TrainState(x, (), state.key, state.iteration + 1), {"x": x.mean()}

    return ScanTrainer(init, step, 2)


def test_a_fresh_state_with_weak_types_is_chunked_by_one_program():
    """gymnax's Pendulum resets ``last_u`` to a Python float, weakly typed, that its step makes strong: the chunk
    saw two signatures and was compiled twice (the Pendulum PPO test, 2 s) before ``init`` made every leaf strong."""
    import jax.numpy as jnp

    from jaxdistill.core.trainer import ScanTrainer
    from jaxdistill.run.driver import TrainState

    trainer = ScanTrainer(lambda key: TrainState(1.0, (), key, jnp.zeros((), jnp.int32)),
                          lambda s: (TrainState(s.agent * jnp.float32(2.0), (), s.key, s.iteration + 1), {}), 2)
    state = trainer.init(jax.random.PRNGKey(0))
    for _ in range(2):
        state, _ = trainer.chunk(state)
    assert float(state.agent) == 16.0 and state.agent.dtype == jnp.float32
    assert trainer._chunk._cache_size() == 1


def _toy_run(trainer, run_dir, total_iterations=8, **kw):
    return train_loop(trainer=trainer, evaluate_fn=None, total_iterations=total_iterations, chunk=2,
                      env_steps_per_iteration=0,
                      run_dir=run_dir, seed=0, config={}, progress=False, tensorboard=False, **kw)


def test_a_run_that_goes_non_finite_stops_at_its_last_good_checkpoint(tmp_path):
    from jaxdistill.core.checkpoint import Checkpointer

    with pytest.raises(NonFiniteError, match=r"non-finite \(NaN or inf\) between iteration 2 and 4; .*The last good "
                                             r"state, iteration 2, is checkpointed in .*checkpoints/2"):
        _toy_run(_toy_trainer(nan_from=3), tmp_path / "r")
    ckpt = Checkpointer(tmp_path / "r" / "checkpoints")
    assert ckpt.latest_step() == 2
    state, meta = ckpt.restore(_toy_trainer().init(jax.random.PRNGKey(0)))
    ckpt.close()
    np.testing.assert_array_equal(state.agent, [4.0, 4.0, 4.0])
    assert not meta["finished"]


def test_a_full_disk_is_one_line_and_leaves_no_temporary_checkpoint(tmp_path, monkeypatch, capsys):
    """A write that fails with ENOSPC inside the checkpoint library, after it made its temporary directory."""
    import errno

    import orbax.checkpoint as ocp

    from experiments.common import run_cli

    def full_disk(self, step, *args, **kwargs):
        (tmp_path / "r" / "checkpoints" / f"{step}.orbax-checkpoint-tmp-1").mkdir(parents=True)
        raise RuntimeError("tensorstore write failed") from OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ocp.CheckpointManager, "save", full_disk)
    with pytest.raises(DiskFullError):
        _toy_run(_toy_trainer(), tmp_path / "r", checkpoint_interval_s=0)
    assert not list((tmp_path / "r" / "checkpoints").glob("*tmp*"))
    with pytest.raises(SystemExit) as stop:
        run_cli("experiments.toy", lambda args: _toy_run(_toy_trainer(), tmp_path / "r2", checkpoint_interval_s=0),
                lambda argv: None, [])
    assert stop.value.code == ("experiments.toy: error: no space left on device writing "
                               f"{(tmp_path / 'r2' / 'checkpoints').absolute()}")
    # Any other write (a CSV, a plot): the same one line, with the file when the error names it.
    def fails(args):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "metrics.csv"))

    with pytest.raises(SystemExit) as stop:
        run_cli("experiments.toy", fails, lambda argv: None, [])
    assert stop.value.code == f"experiments.toy: error: no space left on device writing {tmp_path / 'metrics.csv'}"


@pytest.mark.timeout(300)
def test_cli_runs_killed_or_stopped_resume_to_the_uninterrupted_dataset(tmp_path):
    """One CLI run uninterrupted beside one that is stopped twice: SIGKILLed (a crash: it resumes from its periodic
    checkpoint), then, resumed, SIGTERMed (a polite stop: it checkpoints, skips the final evaluation, exits 143 and
    prints the command that continues it). The printed command ends with the uninterrupted run's dataset, byte for
    byte. (Four processes in a chain, not two stopped runs and two continuations side by side: the same checks, one
    process fewer to import and compile, about 12 s of the suite.)"""
    import os
    import shlex
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    tiny = ["--num-learners", "2", "--num-envs", "2", "--num-steps", "32", "--num-minibatches", "2",
            "--meta-epochs", "100", "--eval-every", "20", "--eval-learners", "8", "--final-eval-learners", "8",
            "--target-return", "None", "--no-progress", "--no-tensorboard", "--checkpoint-interval-s", "0"]
    run_dir = tmp_path / "stopped"

    def cli(directory, *extra):
        return [sys.executable, "-m", "experiments.cartpole", *tiny, "--run-dir", str(directory), *extra]

    def checkpoints():
        ckpts = run_dir / "checkpoints"
        return sorted(int(p.name) for p in ckpts.iterdir() if p.name.isdigit()) if ckpts.is_dir() else []

    def stop_after_a_checkpoint_past(step, proc, sig):
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline and not any(s > step for s in checkpoints()):
            assert proc.poll() is None, f"the run ended before it could be stopped: {proc.stderr.read()[-2000:]}"
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be stopped"
        os.kill(proc.pid, sig)
        return proc.communicate(timeout=60)

    full = subprocess.Popen(cli(tmp_path / "full"), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    # The stopped run starts once the first has compiled its programs (its first checkpoint is written after its
    # first chunk ran): it loads them from the suite's compilation cache instead of compiling them again.
    deadline = time.monotonic() + 200
    while not (tmp_path / "full" / "checkpoints").is_dir() and full.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)

    killed = subprocess.Popen(cli(run_dir), cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop_after_a_checkpoint_past(0, killed, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    at_kill = max(checkpoints())
    assert at_kill < 100 and not (run_dir / "dataset").exists()  # really stopped mid-run

    termed = subprocess.Popen(cli(run_dir, "--resume"), cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    termed_out, termed_err = stop_after_a_checkpoint_past(at_kill, termed, signal.SIGTERM)
    assert termed.returncode == 143, termed_err[-2000:]
    assert f"resumed {run_dir} at iteration {at_kill}" in termed_err, termed_err[-2000:]
    assert "Traceback" not in termed_err and "k-shot return over" not in termed_out  # no final evaluation
    assert max(checkpoints()) < 100 and not (run_dir / "dataset").exists()
    assert "experiments.cartpole: stopped by SIGTERM: " in termed_err
    command = termed_err.split("experiments.cartpole: to continue: ", 1)[1].splitlines()[0]
    assert command == shlex.join(["python", "-m", "experiments.cartpole", *tiny, "--run-dir", str(run_dir),
                                  "--resume"])

    resumed = subprocess.run([sys.executable, *shlex.split(command)[1:]], check=False, cwd=root,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=240)
    assert resumed.returncode == 0 and "resumed" in resumed.stderr, resumed.stderr[-2000:]
    assert full.wait(timeout=240) == 0, full.stderr.read()[-2000:]
    reference = np.load(tmp_path / "full" / "dataset" / "dataset.npz")
    got = np.load(run_dir / "dataset" / "dataset.npz")
    for array in ("x", "y", "inner_lr"):
        np.testing.assert_array_equal(reference[array], got[array], err_msg=array)


def test_a_real_full_disk_stops_the_cli_in_one_line(tmp_path, capfd):
    """A 128 KiB tmpfs and a 400 KB state: the first checkpoint cannot be written (root only: it mounts)."""
    import os
    import subprocess

    from experiments.common import run_cli

    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root (the mocked write above covers the rest)")
    try:
        with pytest.raises(SystemExit) as stop:
            run_cli("experiments.toy", lambda args: _toy_run(_toy_trainer(size=100_000), disk / "r",
                                                             checkpoint_interval_s=0), lambda argv: None, [])
        err = capfd.readouterr().err
        assert stop.value.code == f"experiments.toy: error: no space left on device writing {disk / 'r' / 'checkpoints'}"
        assert "Traceback" not in err and len(err.splitlines()) <= 2, err[-3000:]  # the library's own logs stay quiet
        assert not list((disk / "r" / "checkpoints").glob("*tmp*"))
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.optimized
def test_sigterm_stops_within_a_chunk_and_keeps_the_last_finished_one(tiny_ppmo_config, tmp_path):
    """A signal during a long chunk aborts it after the current iteration (the in-graph trainer checks from its
    scan); the run checkpoints the state of the last finished chunk, so a resume recomputes the rest exactly."""
    import os
    import signal
    import threading
    import time

    import jax.numpy as jnp

    env = make("CartPole1D-v1")
    trainer = make_trainer(env, make_ppmo(tiny_ppmo_config, env.spec).agent, 2000)
    timer = []

    def after_first_chunk(it, row):  # signal 0.5 s into the second chunk (2000 iterations: several seconds)
        timer.append(threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)))
        timer[-1].start()

    t0 = time.perf_counter()
    with pytest.raises(RunInterrupted) as stopped:
        train_loop(trainer=trainer, evaluate_fn=lambda k, s: jnp.zeros(1), total_iterations=4000, chunk=2000,
                   env_steps_per_iteration=1, run_dir=tmp_path / "r", seed=0, config={}, progress=False,
                   tensorboard=False, on_chunk=after_first_chunk)
    elapsed = time.perf_counter() - t0
    assert stopped.value.signum == signal.SIGTERM and stopped.value.exit_status == 143
    assert "interrupted at iteration 2000 of 4000" in str(stopped.value)
    steps = sorted(int(p.name) for p in (tmp_path / "r" / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == [2000]
    rows = (tmp_path / "r" / "metrics.csv").read_text().splitlines()
    first_chunk = float(rows[1].split(",")[rows[0].split(",").index("wall_time")])
    # The aborted chunk did not run to its end. Alone on the 2-core VM (2026-12-06) the first chunk, its compile
    # included, took 10.2 s and the run ended 2.1 s after it (the signal came 0.5 s in); a second chunk run to its
    # end would take about 8 s more, over the bound (7.6 s).
    print(f"first chunk {first_chunk:.1f} s, after it {elapsed - first_chunk:.1f} s")
    assert elapsed - first_chunk < 0.5 * first_chunk + 2.5
    assert signal.getsignal(signal.SIGTERM) is not None and trainer.should_stop is None


# Seed populations live here, beside ``_run``: the lone run below reuses the compiled programs of the resume tests.


def test_a_seed_in_the_population_matches_the_same_seed_trained_alone(tiny_ppmo_config, tmp_path):
    cfg = replace(tiny_ppmo_config, meta_epochs=8)
    alone = _run(tiny_ppmo_config, tmp_path / "alone")  # seed 3, chunks of 2, 8 meta-epochs
    population = distill_population(make("CartPole1D-v1"), cfg, [5, 3], chunk=2, eval_learners=16,
                                    target_return=None, log=False)
    assert population.meta_epochs == 8 and len(population.history) == 4
    pop = population.states.agent.dataset
    np.testing.assert_allclose(pop.x[1], alone.state.agent.dataset.x, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pop.y[1], alone.state.agent.dataset.y, rtol=1e-4, atol=1e-5)
    assert not np.allclose(pop.x[0], pop.x[1])


def test_population_stops_once_every_seed_reaches_the_target(tiny_ppmo_config):
    cfg = replace(tiny_ppmo_config, meta_epochs=40)
    result = distill_population(make("CartPole1D-v1"), cfg, [0, 1], chunk=2, eval_learners=8, target_return=0.0,
                                log=False)
    assert result.meta_epochs == 2  # any return clears a target of 0 at the first evaluation
