"""The EnvPool MuJoCo-v4 route end to end (CLI, resume, reload through ``experiments.evaluate``) and the
CLI's argument checks; in a file of its own so the test workers share the MuJoCo tests."""

from __future__ import annotations

import numpy as np
import pytest

from jaxdistill.learn.dataset import load_dataset, load_obs_norm


def test_envpool_route_cli_end_to_end_resume_and_reload(tmp_path):
    from experiments.mujoco import main, parse

    common = ["--env", "InvertedDoublePendulum-v4", "--k", "8", "--num-learners", "2", "--num-envs", "2",
              "--num-steps", "32", "--num-minibatches", "2", "--update-epochs", "1", "--eval-every", "1",
              "--eval-learners", "4", "--final-eval-learners", "8", "--no-progress", "--no-tensorboard",
              "--run-dir", str(tmp_path / "run")]
    first = main(parse(common + ["--meta-epochs", "2"]))
    assert first["meta_epochs"] == 2 and first["reference"]["full_distillation"] == 1365
    resumed = main(parse(common + ["--meta-epochs", "3", "--resume"]))
    assert resumed["meta_epochs"] == 3
    assert [r["policy"] for r in resumed["kshot"]] == ["greedy", "sampled"]
    dataset, meta = load_dataset(tmp_path / "run" / "dataset", expect_continuous=True, expect_obs_dim=11)
    assert meta["environment"]["env_id"] == "InvertedDoublePendulum-v4" and meta["meta_epochs"] == 3
    assert dataset.log_std.shape == (1,) and np.isfinite(np.asarray(load_obs_norm(tmp_path / "run" / "dataset").std)).all()
    assert (tmp_path / "run" / "dataset.png").is_file() and (tmp_path / "run" / "learning_curve.png").is_file()

    # A user's reload: the dataset file alone rebuilds the environment, the learners and their inputs.
    from experiments.evaluate import Args
    from experiments.evaluate import main as evaluate

    rows = evaluate(Args(tmp_path / "run" / "dataset", learners=4, policies=("greedy",)))
    assert rows[0]["n"] == 4 and np.isfinite(rows[0]["mean"]) and rows[0]["mean"] > 0


def test_mujoco_cli_rejects_bad_combinations(capsys):
    from experiments.mujoco import parse, validate

    with pytest.raises(SystemExit, match="--backend is for Brax robots"):
        validate(parse(["--env", "Hopper-v4", "--backend", "generalized"]))
    with pytest.raises(SystemExit, match="unknown MuJoCo task"):
        validate(parse(["--env", "Hoppper-v4"]))
    with pytest.raises(SystemExit, match="discrete actions"):
        validate(parse(["--env", "CartPole-v1"]))
    args = parse(["--env", "Hopper-v4", "--preset", "gpu", "--num-learners", "3"])
    assert args.ppmo.num_learners == 3 and args.ppmo.num_envs == 8 and args.ppmo.normalize_obs
