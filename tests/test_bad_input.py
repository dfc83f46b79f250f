"""Bad arguments and files for every command line: each is refused in one line naming the problem, with a
non-zero exit status and before any work (in process, through the same ``run_cli`` entry point as
``python -m``, so a case costs milliseconds, not a compile)."""

import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from experiments.common import run_cli

ROOT = Path(__file__).resolve().parents[1]


def _parse(module):
    if hasattr(module, "parse"):
        return module.parse
    import tyro

    return lambda argv: tyro.cli(module.Args, args=argv)


def _files(tmp: Path) -> dict:
    """Bad inputs on disk: a plain file where a directory belongs, a text file posing as states, datasets
    with broken metadata, a truncated dataset file."""
    (tmp / "a_file").write_text("not a directory\n")
    (tmp / "states.npy").write_text("these are not states\n")
    source = ROOT / "experiments/results/cartpole1d_k2_ppmo_s0/dataset"
    meta = json.loads((source / "metadata.json").read_text())
    variants = {"meta_list": [meta], "meta_no_env": {k: v for k, v in meta.items() if k != "env_id"},
                "meta_bad_k": {**meta, "k": "two"}, "meta_bad_spec": {**meta, "learner_spec": {"type": "mlp", "x": 1}}}
    for name, content in variants.items():
        (tmp / name).mkdir()
        (tmp / name / "dataset.npz").write_bytes((source / "dataset.npz").read_bytes())
        (tmp / name / "metadata.json").write_text(json.dumps(content))
    truncated = tmp / "datasets" / "cartpole1d_k2_ppmo_s0" / "dataset"
    truncated.mkdir(parents=True)
    (truncated / "dataset.npz").write_bytes((source / "dataset.npz").read_bytes()[:100])
    (truncated / "metadata.json").write_text((source / "metadata.json").read_text())
    (tmp / "es").mkdir()
    # A rollback stage whose encoder is shorter than a stage at l = 3 needs: the committed l = 4 run cut to 2 layers.
    l4 = ROOT / "experiments/results/minatar_breakout_k16_l4_ppmo_s0/dataset"
    (tmp / "l2").mkdir()
    (tmp / "l2" / "dataset.npz").write_bytes((l4 / "dataset.npz").read_bytes())
    (tmp / "l2" / "metadata.json").write_text(json.dumps({**json.loads((l4 / "metadata.json").read_text()),
                                                          "encoder_layers": 2}))
    np.save(tmp / "breakout_states.npy", np.zeros((4, 10, 10, 4), np.float32))
    with np.load(l4 / "encoder.npz") as enc:
        np.savez(tmp / "l2" / "encoder.npz", **{n: enc[n] for n in enc.files if n[5] in "01"})
    (tmp / "reused" / "checkpoints" / "25").mkdir(parents=True)  # another run's state
    return {"tmp": str(tmp), "file": str(tmp / "a_file"), "states": str(tmp / "states.npy"),
            "run": str(tmp / "run"), "reused": str(tmp / "reused"), "datasets": str(tmp / "datasets"), "es": str(tmp / "es"),
            "l4": str(l4), "l2": str(tmp / "l2"), "breakout_states": str(tmp / "breakout_states.npy"),
            **{name: str(tmp / name) for name in variants}}


CASES = [
    # (module, argv, the message; {file} fields come from _files)
    ("cartpole", ["--distiller-lr", "inf"], "--distiller-lr must be a finite number (got inf)"),
    ("cartpole", ["--inner.bc-lr", "nan"], "--inner.bc-lr must be a finite number (got nan)"),
    ("cartpole", ["--target-return", "inf"], "--target-return must be a finite number (got inf)"),
    ("cartpole", ["--max-wall-time-s", "-5"], "--max-wall-time-s must be > 0 (got -5.0)"),
    ("cartpole", ["--method", "ppo", "--encoder-dim", "4"], "--encoder-dim is a PPMO option (--method ppo"),
    ("cartpole", ["--run-dir", ""], "the run directory is the current directory"),
    ("cartpole", ["--run-dir", "{run}", "--resume", "--overwrite"], "--resume continues the run in the directory and "
                                                                    "--overwrite deletes it: give one of them"),
    ("cartpole", ["--run-dir", "{file}"], "cannot write the run directory"),
    ("cartpole", ["--run-dir", "{reused}"], "{reused} holds another run (checkpoints up to iteration 25): pass "
                                            "--resume to continue it, --overwrite to replace it"),
    ("cartpole", ["--dims", "2", "--x-init-states", "{states}", "--run-dir", "{run}"],
     "--x-init-states: {states} is not a NumPy .npy array of states"),
    ("cartpole", ["--num-learners", "-2"], "--num-learners must be >= 1 (got -2)"),
    ("cartpole", ["--pin-constant-dims", "--run-dir", "{run}"],
     "pin_constant_dims (--pin-constant-dims) holds X at the normalised observations' constant 0: it needs "
     "normalize_obs (--normalize-obs)"),
    ("cartpole", ["--k", "0"], "--k must be >= 1"),
    ("cartpole", ["--dims", "0"], "--dims must be >= 1"),
    ("cartpole", ["--num-minibatches", "3"], "must be divisible by --num-minibatches"),
    ("gymnax", ["--run-dir", "/proc/forbidden"], "cannot write the run directory /proc/forbidden"),
    ("gymnax", ["--env", "NoSuchEnv-v0"], "unknown environment id"),
    ("gymnax", ["--env", "Pendulum-v1", "--inner.labels", "hard", "--run-dir", "{run}"],
     "--inner.labels hard: hard labels (cross-entropy to fixed classes) need a discrete action space "
     "(Pendulum-v1 has continuous actions)"),
    ("gymnax", ["--env", "Acrobot-v1", "--eval-learners", "0"], "--eval-learners must be >= 1 (got 0)"),
    ("minatar", ["--env", "Breakout", "--encoder-layers", "7"], "--encoder-layers must be in 0..5 (got 7)"),
    ("minatar", ["--inner.labels", "hard", "--k", "2", "--run-dir", "{run}"],
     "--inner.labels hard: k=2 fixed one-hot labels cannot cover Breakout-MinAtar's 3 actions"),
    ("minatar", ["--env", "Asterix", "--k", "16", "--encoder-layers", "3", "--init-from", "{l4}", "--run-dir", "{run}"],
     "--init-from: {l4} was distilled on Breakout-MinAtar, this run is on Asterix-MinAtar"),
    ("minatar", ["--k", "8", "--encoder-layers", "3", "--init-from", "{l4}", "--run-dir", "{run}"],
     "--init-from: {l4} holds k=16 pairs, this run distils k=8"),
    ("minatar", ["--k", "16", "--encoder-layers", "3", "--init-from", "{l2}", "--run-dir", "{run}"],
     "--init-from: {l2} has an encoder of 2 layer(s), this run's l = 3 needs 3"),
    ("minatar", ["--method", "es", "--k", "16", "--init-from", "{l4}", "--es.obs-stats-states", "{breakout_states}",
                 "--run-dir", "{run}"], "--init-from: {l4} holds X in raw observations, this run's learners see "
                                        "observations normalised by --es.obs-stats-states"),
    ("cartpole", ["--dims", "2", "--init-from", "{l4}", "--run-dir", "{run}"],
     "--init-from: {l4} was distilled on Breakout-MinAtar, this run is on CartPole2D-v1"),
    ("evaluate", ["{meta_list}"], "metadata.json must hold a JSON object, not a JSON list"),
    ("evaluate", ["{meta_no_env}"], "metadata.json lacks env_id"),
    ("evaluate", ["{meta_bad_k}"], "metadata.json: k is 'two' (a JSON str), expected a integer"),
    ("evaluate", ["{meta_bad_spec}"], "the metadata does not describe a learner this project builds"),
    ("evaluate", ["{meta_list}", "--learners", "0"], "--learners must be >= 1 (got 0)"),
    ("evaluate", ["{meta_list}", "--learners", "-5"], "--learners must be >= 1 (got -5)"),
    ("kshot_table", ["--dims", "1", "--out-dir", "{file}"], "cannot write --out-dir {file}"),
    ("kshot_table", ["--dims", "1", "--datasets-dir", "{datasets}", "--out-dir", "{tmp}/t"],
     "is not a readable .npz file"),
    ("kshot_table", ["--distributions", "L-1_h5"], "'L<depth>_h<width>' takes a depth >= 0 and a width >= 1"),
    ("kmin_sweep", ["--chunk", "0"], "--chunk must be >= 1 (got 0)"),
    ("kmin_sweep", ["--num-minibatches", "3"], "must be divisible by --num-minibatches (3)"),
    ("kmin_sweep", ["--num-learners", "-1"], "--num-learners must be >= 1 (got -1)"),
    ("kmin_sweep", ["--meta-epochs", "0"], "--meta-epochs must be >= 1 (got [0])"),
    ("kmin_sweep", ["--target-return", "nan"], "--target-return must be a finite number"),
    ("kmin_sweep", ["--dims", "1", "--out-dir", "{file}"], "cannot write --out-dir {file}"),
    ("es_vs_ppmo", ["--out", "{file}"], "cannot write --out {file}"),
    ("es_vs_ppmo", ["--max-minutes", "-1"], "--max-minutes must be a finite number > 0 (got -1.0)"),
    ("es_vs_ppmo", ["--report", "--out", "{es}"], "no finished runs of cartpole1d, cartpole3d in {es} to report"),
    ("record_states", ["--env", "CartPole-v1", "--out", "{tmp}"], "is a directory; name the .npy file"),
    ("record_states", ["--env", "NoSuchEnv-v0", "--out", "{tmp}/s.npy"], "unknown environment id"),
    ("record_states", ["--env", "CartPole-v1", "--out", "{file}/s.npy"], "cannot write the directory of --out"),
    ("ablation", ["--out", "{file}"], "cannot write --out {file}"),
    ("offline", ["--bc.lr", "inf", "--run-dir", "{run}"], "--bc.lr must be a finite number (got inf)"),
    ("offline", ["--gm.epochs", "0", "--run-dir", "{run}"], "--gm.epochs must be >= 1 (got 0)"),
    ("offline", ["--method", "bm", "--bm.inner-steps", "0", "--run-dir", "{run}"],
     "--bm.inner-steps must lie in [1, 1000] (got 0)"),
    ("offline", ["--method", "bm", "--bm.inner-steps", "5000", "--run-dir", "{run}"],
     "--bm.inner-steps must lie in [1, 1000] (got 5000)"),
    ("offline", ["--method", "bm", "--bm.k", "0", "--run-dir", "{run}"], "--bm.k must be >= 1 (got 0)"),
    ("offline", ["--method", "bm", "--data", "{tmp}/no_such_data", "--run-dir", "{run}"],
     "--bm.outer-loss pbc needs the expert policy: give --expert with --data, or use --bm.outer-loss dbc"),
    ("offline", ["--method", "bm", "--bm.lr", "nan", "--run-dir", "{run}"], "--bm.lr must be a finite number (got nan)"),
    ("offline", ["--ensemble", "1", "--run-dir", "{run}"], "--ensemble must be 0 (no ensemble row) or >= 2 (got 1)"),
    ("offline", ["--eval-max-steps", "0", "--run-dir", "{run}"], "--eval-max-steps must be >= 1 (got 0)"),
    ("offline_report", ["{tmp}"], "no results.json in {tmp}"),
    ("ablation", ["--shard", "2/2"], "--shard takes i/n with 0 <= i < n (got '2/2')"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return _files(tmp_path_factory.mktemp("bad_input"))


@pytest.mark.parametrize("module, argv, message", CASES, ids=[f"{m}:{' '.join(a)}" for m, a, _ in CASES])
def test_every_cli_refuses_bad_input_in_one_line_before_any_work(module, argv, message, files, capsys):
    mod = importlib.import_module(f"experiments.{module}")
    argv = [a.format(**files) for a in argv]
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as stop:
        run_cli(f"experiments.{module}", mod.main, _parse(mod), argv)
    assert time.perf_counter() - t0 < 15  # refused before anything was compiled or trained
    code = stop.value.code
    assert isinstance(code, str) and code.startswith(f"experiments.{module}: error: "), code  # Python exits 1
    assert message.format(**files) in code
    assert "\n" not in code and "Traceback" not in capsys.readouterr().err


def test_unreadable_statistics_are_one_error_not_two(files):
    """An ES run's --init-from is compared against its --es.obs-stats-states; when that file cannot be read,
    the comparison is not made (it would add a second, wrong complaint: "this run's learners see raw ones")."""
    mod = importlib.import_module("experiments.minatar")
    normalised = ROOT / "experiments/results/issue25/breakout_es_snes_mlp_long/dataset"  # SNES through statistics
    argv = ["--method", "es", "--learner", "mlp", "--es.hades-minatar", "--k", "16", "--inner.labels", "hard",
            "--inner.kind", "bc", "--inner.steps", "32", "--init-from", str(normalised),
            "--es.obs-stats-states", files["states"], "--run-dir", files["run"]]
    with pytest.raises(SystemExit) as stop:
        run_cli("experiments.minatar", mod.main, _parse(mod), argv)
    code = stop.value.code
    assert code.startswith("experiments.minatar: error: --es.obs-stats-states: ") and "is not a NumPy" in code, code
    assert "--init-from" not in code, code


@pytest.mark.parametrize("kind", ["RunDirError", "ResumeError", "NonFiniteError"])
def test_a_run_error_becomes_one_line_and_status_1(kind):
    from jaxdistill.core import errors

    def main(args):
        raise getattr(errors, kind)("what went wrong, in words")

    with pytest.raises(SystemExit) as stop:
        run_cli("experiments.x", main, lambda argv: None, [])
    assert stop.value.code == "experiments.x: error: what went wrong, in words"  # sys.exit(str): status 1


def test_offline_sizes_are_checked_against_the_data():
    from experiments.offline import size_problems
    from jaxdistill.distill.gradient_matching import GMConfig
    from jaxdistill.offline.pipeline import StudyConfig

    study = StudyConfig(gm=GMConfig(k=100_000, real_batch=100_000))
    assert size_problems(study, 135) == ["--gm.k (100000) exceeds the data's 135 transitions",
                                         "--gm.real-batch (100000) exceeds the data's 135 transitions"]
    assert size_problems(StudyConfig(gm=GMConfig(k=150, real_batch=64)), 135) == [
        "--gm.k (150) exceeds the data's 135 transitions"]
    assert size_problems(StudyConfig(gm=GMConfig(k=150, real_batch=64)), 10_000) == []
    from jaxdistill.distill.behaviour_matching import BMConfig

    assert size_problems(StudyConfig(method="bm", bm=BMConfig(k=500)), 135) == [
        "--bm.k (500) exceeds the data's 135 transitions"]


def test_the_launcher_refuses_a_command_that_does_not_exist():
    proc = subprocess.run([sys.executable, "-m", "jaxdistill.launch", "--processes", "2", "--",
                           "no-such-command-here", "--flag"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 127, proc.stdout + proc.stderr
    assert "[launch] error: cannot start 'no-such-command-here': No such file or directory" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_a_dataset_never_holds_non_finite_values_or_json_tokens(tmp_path):
    from jaxdistill.envs import make
    from jaxdistill.learn.dataset import DatasetFileError, SyntheticDataset, save_dataset
    from jaxdistill.nets.networks import LearnerSpec

    env = make("CartPole1D-v1")
    bad = SyntheticDataset(np.full((2, 4), np.nan, np.float32), np.zeros((2, 2), np.float32), np.float32(0.02))
    with pytest.raises(DatasetFileError, match="refusing to write .*: x hold\\(s\\) NaN or infinite values"):
        save_dataset(tmp_path / "d", bad, env_spec=env.spec, learner_spec=LearnerSpec())
    assert not (tmp_path / "d" / "dataset.npz").exists()
    good = SyntheticDataset(np.zeros((2, 4), np.float32), np.zeros((2, 2), np.float32), np.float32(0.02))
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        save_dataset(tmp_path / "e", good, env_spec=env.spec, learner_spec=LearnerSpec(), extra={"loss": float("nan")})
