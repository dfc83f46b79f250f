import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments.cartpole import parse, validate
from jaxdistill.learn.dataset import load_dataset

ROOT = Path(__file__).resolve().parents[1]


def test_unknown_method_is_rejected():
    """The one bad-argument case run as a real ``python -m`` process (the rest are in-process, in
    tests/test_bad_input.py): the parser's own refusal, its exit status and no traceback."""
    proc = subprocess.run([sys.executable, "-m", "experiments.cartpole", "--method", "dqn"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "dqn" in proc.stderr and "Traceback" not in proc.stderr


def test_defaults_fill_k_min_and_run_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default run directory is created under ./runs
    args = validate(parse(["--dims", "3", "--run-dir", str(tmp_path / "r")]))
    assert args.ppmo.k == 4 and args.run.run_dir == tmp_path / "r"
    assert validate(parse(["--dims", "2"])).run.run_dir == Path("runs/cartpole2d_k3_ppmo_s0")
    args = parse(["--k", "7", "--ppo.total-timesteps", "1000", "--final-policies", "greedy", "sampled"])
    assert (args.ppmo.k, args.ppo.total_timesteps, args.run.final_policies) == (7, 1000, ("greedy", "sampled"))
    assert args.ppmo.meta_epochs == 3000 and args.run.target_return == 499.0  # the experiment's defaults
    with pytest.raises(SystemExit, match="--k must be >= 1"):
        validate(parse(["--k", "-2"]))
    with pytest.raises(SystemExit, match="--ppo.num-envs must be >= 1"):
        validate(parse(["--ppo.num-envs", "0"]))


def test_main_job_distills_1d_cartpole_to_495_with_all_outputs(distilled_1d):
    result, run_dir = distilled_1d["result"], distilled_1d["run_dir"]
    table = result["kshot"][0]
    assert table["n"] == 1000 and table["mean"] >= 495.0
    assert result["wall_time_s"] < 300
    for name in ("learning_curve.png", "dataset.png", "metrics.csv", "results.md", "results.json"):
        assert (run_dir / name).stat().st_size > 0, name
    assert any((run_dir / "tensorboard").iterdir())
    assert any((run_dir / "checkpoints").iterdir())
    dataset, meta = load_dataset(run_dir / "dataset", expect_obs_dim=4, expect_num_actions=2)
    assert dataset.k == 2 and meta["env_id"] == "CartPole1D-v1" and float(dataset.inner_lr) > 0
    assert json.loads((run_dir / "results.json").read_text())["kshot"][0]["mean"] == table["mean"]


def test_gaussian_ppo_runs_end_to_end_through_the_gymnax_cli(tmp_path):
    """PPO's path through the harness, with a continuous action space (Pendulum's preset, shortened)."""
    from experiments.gymnax import main, parse

    args = parse(["--env", "Pendulum-v1", "--method", "ppo", "--ppo.total-timesteps", str(16 * 128 * 10),
                  "--eval-every", "5", "--eval-learners", "8", "--final-eval-learners", "16", "--run-dir",
                  str(tmp_path / "ppo"), "--no-progress", "--no-tensorboard"])
    assert (args.ppo.gamma, args.ppo.num_envs, args.ppo.reward_scale) == (0.9, 16, 0.1)  # the typed preset
    result = main(args)
    assert result["method"] == "ppo" and result["updates"] == 10
    assert [r["policy"] for r in result["kshot"]] == ["greedy", "sampled"] and result["kshot"][0]["n"] == 16
    assert all(-2000.0 < r["mean"] <= 0.0 for r in result["kshot"])  # Pendulum's rewards are in [-16.3, 0]
    assert (tmp_path / "ppo" / "learning_curve.png").exists()
    rows = (tmp_path / "ppo" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3 and "step_weighted_return" in rows[0]
    # The trained actor is saved as a policy file that acts exactly as the run's final evaluation did.
    import jax

    from jaxdistill.core.loop import run_keys
    from jaxdistill.envs import make
    from jaxdistill.eval.episodes import play_episodes
    from jaxdistill.rl.policy_file import load_policy

    env = make("Pendulum-v1")
    policy = load_policy(tmp_path / "ppo", env.spec)
    returns = jax.jit(lambda key, p: play_episodes(env, key, policy.policy, p, 16, policy.dist, True))(
        run_keys(0)[2], policy.params)
    np.testing.assert_allclose(float(returns.mean()), result["kshot"][0]["mean"], rtol=1e-5)


def test_kshot_table_rejects_missing_datasets_and_bad_arguments(tmp_path):
    from experiments.kshot_table import Args as TableArgs
    from experiments.kshot_table import main as table

    with pytest.raises(SystemExit, match="no dataset at"):
        table(TableArgs(dims=(1,), ks=("7",), datasets_dir=tmp_path, out_dir=tmp_path))
    with pytest.raises(SystemExit, match="'kmin' or integers"):
        table(TableArgs(dims=(1,), ks=("many",), out_dir=tmp_path))
    with pytest.raises(SystemExit, match="unknown learner distribution"):
        table(TableArgs(distributions=("resnet",), out_dir=tmp_path))


def test_kmin_sweep_resolves_k_and_judges_the_law():
    from experiments.kmin_sweep import law_verdicts, resolve_k

    assert [resolve_k(x, 2) for x in ("kmin-1", "kmin", "kmin+1", "512")] == [2, 3, 4, 512]
    with pytest.raises(SystemExit, match="gives k=-1 < 1 for N=1"):
        resolve_k("kmin-3", 1)
    # The sweep and Table 1 run end to end in tests/test_multiprocess.py (one process and two).
    summary = [{"n_dims": 3, "k_label": "kmin-1", "k": 3, "mean_of_seeds": 40.0},
               {"n_dims": 3, "k_label": "kmin", "k": 4, "mean_of_seeds": 480.0},
               {"n_dims": 4, "k_label": "kmin-1", "k": 4, "mean_of_seeds": 470.0},
               {"n_dims": 4, "k_label": "kmin", "k": 5, "mean_of_seeds": 480.0}]
    verdicts = law_verdicts(summary)
    assert verdicts[3].startswith("holds") and verdicts[4].startswith("does NOT hold")


def test_kmin_sweep_resumes_only_datasets_written_by_the_same_population(tmp_path):
    import dataclasses

    from experiments.kmin_sweep import Args as SweepArgs
    from experiments.kmin_sweep import load_written, save_seed
    from jaxdistill.distill.ppmo import PPMOConfig
    from jaxdistill.envs import make
    from jaxdistill.learn.dataset import SyntheticDataset

    args = SweepArgs(dims=(1,), seeds=(0, 1), out_dir=tmp_path)
    env, config = make("CartPole1D-v1"), PPMOConfig(k=2, meta_epochs=400)
    rng = np.random.default_rng(0)
    written = [SyntheticDataset(rng.normal(size=(2, 4)).astype(np.float32), rng.normal(size=(2, 2)).astype(np.float32),
                                np.float32(0.02)) for _ in args.seeds]
    save_seed(args, 1, 2, 0, written[0], env, config, 250, 12.5)
    assert load_written(args, 1, 2, config) is None  # seed 1 is missing: the pair is distilled again
    save_seed(args, 1, 2, 1, written[1], env, config, 250, 12.5)
    datasets, meta_epochs, wall_time = load_written(args, 1, 2, config)
    assert (meta_epochs, wall_time) == (250, 12.5)
    for got, want in zip(datasets, written, strict=True):
        np.testing.assert_array_equal(got.x, want.x)
        np.testing.assert_array_equal(got.y, want.y)
    # Anything that changes a seed's dataset makes the sweep distil again: the PPMO configuration, the seeds
    # trained together (they stop together), the stopping rule.
    assert load_written(args, 1, 2, dataclasses.replace(config, num_learners=4)) is None
    assert load_written(dataclasses.replace(args, seeds=(0,)), 1, 2, config) is None
    assert load_written(dataclasses.replace(args, target_return=450.0), 1, 2, config) is None
    (tmp_path / "datasets/cartpole1d_k2_s1/metadata.json").unlink()  # cut off while saving
    assert load_written(args, 1, 2, config) is None
