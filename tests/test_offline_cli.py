"""The offline study end to end with tiny budgets: a MinAtar game and a Procgen game (EnvPool), the expert given
as a policy file, distillation resumed, its dataset reloaded; and the data errors that stop it before any compile."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from experiments.offline import main, parse
from jaxdistill.envs import make
from jaxdistill.learn.dataset import load_dataset
from jaxdistill.presets import offline_networks as networks
from jaxdistill.rl.policy_file import load_policy, save_policy

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--episodes", "2", "--students", "2", "--percents", "100", "--bc.steps", "3", "--bc.batch-size", "8",
        "--gm.k", "15", "--gm.students-per-epoch", "1", "--gm.real-batch", "4", "--eval-every", "2",
        "--synthetic.steps", "2", "--synthetic.batch-size", "5", "--no-progress"]


def _expert(tmp_path, env_id, expert_net="nature"):
    """A fresh (untrained) actor of the study's expert architecture, saved as a policy file."""
    env = make(env_id)
    channels_first = env.spec.obs_shape[0] <= 4
    _, actor, _ = networks(env.spec.obs_shape, channels_first, expert_net)
    params = actor.init_params(jax.random.PRNGKey(0), env.spec.obs_shape, env.spec.num_actions)
    return save_policy(tmp_path / "expert", env_spec=env.spec, spec=actor, actor=params)


@pytest.mark.optimized
def test_procgen_study_runs_end_to_end_resumes_its_distillation_and_reloads_the_dataset(tmp_path, capsys):
    expert = _expert(tmp_path, "BigfishEasy-v0", "impala")  # the paper's expert network, through its policy file
    run_dir = tmp_path / "study"
    # Evaluation episodes cut at 50 steps (a random policy's bigfish episodes ran 66-293 steps; the limit is 6000):
    # the test alone took 31.3 s instead of 36.6 s.
    base = ["--env", "bigfish", "--expert", str(expert), "--run-dir", str(run_dir), *TINY, "--eval-max-steps", "50"]
    partial = main(parse([*base, "--stage", "distill", "--gm.epochs", "2"]))
    assert partial["epochs"] == 2
    minari_dir = run_dir / "minari" / "jaxdistill" / "bigfisheasy_v0" / "expert-v0"
    assert (minari_dir / "data" / "main_data.hdf5").is_file()
    capsys.readouterr()
    result = main(parse([*base, "--gm.epochs", "4", "--resume"]))
    err = capsys.readouterr().err
    assert "resumed" in err and "at iteration 2" in err  # the distillation went on from its checkpoint
    assert "data: reading" in err and "bc100 (id)" not in err  # recorded data and finished BC rows are reused
    assert result["distill"]["epochs"] == 4
    rows = {(r["method"], r["split"]): r for r in result["methods"]}
    for method in ("bc100", "synthetic", "real15", "expert", "random"):
        for split in ("id", "ood"):
            row = rows[(method, split)]
            assert row["students"] == 2 and row["episodes"] == 2 and np.isfinite(row["mean"])
    assert rows[("synthetic", "id")]["dataset_size"] == 15
    assert rows[("bc100", "id")]["dataset_size"] == result["data"]["transitions"]
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["env_id"] == "BigfishEasy-v0" and len(saved["methods"]) == len(result["methods"])
    assert saved["config"]["eval_max_steps"] == 50
    assert (run_dir / "methods.png").stat().st_size > 0 and (run_dir / "distill" / "dataset.png").stat().st_size > 0

    # The dataset file reloads with the checks a user's load runs, and says how students train on it. (That a
    # resumed run ends with the uninterrupted run's state is the run loop's, tested in test_checkpoint_resume.)
    resumed, meta = load_dataset(run_dir / "distill" / "dataset", expect_obs_shape=(3, 64, 64), expect_num_actions=15)
    assert meta["student_training"]["steps"] == 2 and meta["epochs"] == 4 and meta["env_id"] == "BigfishEasy-v0"
    np.testing.assert_array_equal(np.asarray(resumed.y).argmax(1), meta["classes"])
    assert "Adam" in meta["inner_step"] or "adam" in meta["inner_step"]


def test_minatar_study_with_data_brought_as_a_minari_dataset(tmp_path):
    expert = _expert(tmp_path, "Breakout-MinAtar")
    run_dir = tmp_path / "study"
    main(parse(["--env", "Breakout-MinAtar", "--expert", str(expert), "--run-dir", str(run_dir), *TINY,
                "--stage", "data"]))
    data_dir = run_dir / "minari" / "jaxdistill" / "breakout_minatar" / "expert-v0"
    # The same data brought by a user (--data), its environment read from the file.
    result = main(parse(["--env", "Breakout-MinAtar", "--data", str(data_dir), "--run-dir", str(tmp_path / "b"), *TINY,
                         "--gm.epochs", "2", "--gm.distance", "cosine", "--gm.label-lr", "1.0"]))
    methods = {r["method"] for r in result["methods"]}
    assert methods == {"bc100", "synthetic", "real15", "random"}  # no expert policy was given
    assert {r["split"] for r in result["methods"]} == {"id"}
    assert load_policy(expert).spec == networks((10, 10, 4), False)[1]
    # Learned soft labels: saved as probability rows that left their one-hot start, and said so.
    dataset, meta = load_dataset(tmp_path / "b" / "distill" / "dataset")
    y = np.asarray(dataset.y)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    assert meta["labels"] == "learned" and not np.array_equal(y, np.eye(3)[meta["classes"]])


def test_bad_offline_data_fails_before_any_compile(tmp_path):
    bad = tmp_path / "bad" / "data"
    bad.mkdir(parents=True)
    (bad / "main_data.hdf5").write_bytes(b"not hdf5")
    (bad / "metadata.json").write_text("{}")
    proc = subprocess.run([sys.executable, "-m", "experiments.offline", "--data", str(bad.parent), "--run-dir",
                           str(tmp_path / "r")], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "not a readable Minari dataset" in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "r" / "results.json").exists()


@pytest.mark.parametrize("argv, message", [(["--percents", "0"], "--percents must lie in (0, 100]"),
                                           (["--students", "0"], "--students must be >= 1"),
                                           (["--gm.matches-per-student", "0"], "--gm.matches-per-student must be >= 1"),
                                           (["--gm.student-lr", "0"], "--gm.student-lr must be > 0")])
def test_bad_study_arguments_are_rejected(argv, message, tmp_path):
    from experiments.offline import validate

    with pytest.raises(SystemExit, match=message.replace("(", r"\(").replace("]", r"\]")):
        validate(parse([*argv, "--run-dir", str(tmp_path)]))


def test_an_interrupted_expert_stops_the_study_and_is_resumed_not_used(tmp_path, monkeypatch):
    import signal

    import jaxdistill.run.harness as harness
    from experiments.common import run_cli
    from jaxdistill.core.errors import RunInterrupted

    calls = []

    def interrupted_ppo(env, config, run, **kw):
        calls.append(run.resume)
        (run.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        raise RunInterrupted(f"{run.run_dir} was interrupted at iteration 3 of 10", signal.SIGTERM,
                             run_dir=run.run_dir)

    monkeypatch.setattr(harness, "run_ppo", interrupted_ppo)
    argv = ["--env", "CartPole-v1", "--run-dir", str(tmp_path), "--stage", "expert", "--no-progress"]
    with pytest.raises(SystemExit) as stop:
        run_cli("experiments.offline", main, parse, argv)
    assert stop.value.code == 143
    with pytest.raises(RunInterrupted) as again:
        main(parse(argv))
    assert again.value.run_dir == tmp_path  # the study's directory: --resume continues every stage
    assert calls == [False, True]  # the second attempt continues the checkpointed run
    assert not (tmp_path / "expert" / "expert.json").exists()
