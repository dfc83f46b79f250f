"""Several processes on one machine, one JAX process group (``python -m jaxdistill.launch``).

- The k-shot table and a k_min sweep (with a resume) as 2 processes x 2 simulated CPU devices give the same
  numbers and byte-identical datasets as one process with the same 4 devices, and a single training run refuses
  to run in the group; then SIGTERM to the launcher stops both processes of an endless sweep.
- A process killed mid-sweep makes the other one stop with a message, within 60 s.
- A process whose group never assembles stops with a message, after the join timeout.
- The launcher kills a process that outlives another's failure by its grace period.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxdistill.launch import process_env, with_cpu_devices

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = [sys.executable, "-m", "jaxdistill.launch"]


def results_of(output: str) -> dict[int, dict]:
    found = [json.loads(line.split("RESULT ", 1)[1]) for line in output.splitlines() if "RESULT {" in line]
    return {r["process"]: r for r in found}


def single_process_env(devices: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAXDISTILL_")}
    return with_cpu_devices(env, devices)


@pytest.mark.timeout(400)
def test_table_and_sweep_as_two_processes_of_two_devices_equal_one_process_of_four(tmp_path):
    check = [sys.executable, str(ROOT / "tests/multiprocess_check.py")]
    # The single-process reference and the 2-process run go side by side: each is mostly compilation.
    single = subprocess.Popen([*check, str(tmp_path / "one")], cwd=ROOT, env=single_process_env(4),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # After its checks the group runs an endless sweep: SIGTERM to the launcher must stop both processes. (JAX's
    # distributed runtime catches SIGTERM itself and only logs it; the sweep used to run on to its end.)
    launcher = subprocess.Popen([*LAUNCH, "--processes", "2", "--cpu-devices", "2", "--grace", "60", "--", *check,
                                 str(tmp_path / "two"), "--then-stop"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines, phase = [], False
    try:
        deadline = time.monotonic() + 360
        for line in launcher.stdout:  # until the endless sweep has run a chunk
            lines.append(line)
            phase = phase or "STOP PHASE" in line
            if (phase and "k-shot per seed" in line) or time.monotonic() > deadline:
                break
        assert phase and "k-shot per seed" in lines[-1], "".join(lines)[-4000:]
        launcher.send_signal(15)
        signalled = time.monotonic()
        rest, _ = launcher.communicate(timeout=90)
        waited = time.monotonic() - signalled
    finally:
        if launcher.poll() is None:
            launcher.kill()
    stdout = "".join(lines) + rest
    one_out, one_err = single.communicate(timeout=380)
    assert single.returncode == 0, one_err[-3000:]
    assert launcher.returncode == 143 and waited < 30, stdout[-4000:]
    assert "[launch] SIGTERM received: passed to every process" in stdout
    assert "[launch] stopped by SIGTERM: process 0 status 143, process 1 status 143 (exit status 143)" in stdout
    assert "killing it" not in stdout and "Traceback" not in stdout
    # Process 0 speaks for the group: where it stopped, and how to go on.
    assert re.search(r"\[p0\] \[process 0 of 2\] experiments\.kmin_sweep: stopped by SIGTERM: CartPole1D-v1 k=2 was "
                     r"interrupted at meta-epoch \d+ of 1000000", stdout), stdout[-3000:]
    assert "to continue: the same `python -m jaxdistill.launch ... -- python -m experiments.kmin_sweep --dims 1" in stdout
    assert not (tmp_path / "two/stopped/kmin_sweep.json").exists()

    (reference,) = results_of(one_out).values()
    runs = results_of(stdout)
    assert sorted(runs) == [0, 1] and reference["processes"] == 1 and reference["devices"] == 4
    for process, run in runs.items():
        assert run["processes"] == 2 and run["devices"] == 4
        # Every process gets the whole table and sweep, equal to the single process's, number for number.
        assert run["table"] == reference["table"], process
        assert run["first"] == reference["first"] and run["rows"] == reference["rows"], process
        # The second sweep resumed from the datasets the first wrote, and measured them the same.
        assert not any(r["resumed"] for r in run["first"]) and all(r["resumed"] for r in run["rows"])
        assert [{**r, "resumed": False} for r in run["rows"]] == run["first"]
        # An error while process 0 loads reaches every process as the same exit.
        assert run["shared_error"] == "SystemExit: division by zero"
        # A single training run (a CLI with a --run-dir) refuses to run as one of several processes.
        assert run["refusal"].startswith(f"experiments.cartpole: error: one run is one process, but this is process "
                                         f"{process} of 2: each would train the same run into "), run["refusal"]
    assert reference["refusal"] is None  # one process: the run directory is fine
    # Only process 0 writes; it writes what the single process writes.
    assert runs[1]["writes"] == {"save_dataset": 0, "write_rows": 0, "savez": 0}
    assert runs[0]["writes"] == reference["writes"] and runs[0]["writes"]["save_dataset"] == 3
    # What the single process wrote: the table with the paper's figures, the sweep's table, datasets and plot.
    assert [(r["n_dims"], r["k"], r["distribution"], r["learners"], r["paper_mean"]) for r in reference["table"]] == [
        (2, 3, "xavier", 10, 68.1)]
    assert "(68.1 ± 58.6)" in (tmp_path / "one/table/table1.md").read_text()
    assert [(r["k"], r["seed"], r["meta_epochs"], r["learners"]) for r in reference["first"]] == [
        (2, 0, 4, 6), (2, 1, 4, 6), (2, 2, 4, 6)]
    assert len({r["mean"] for r in reference["rows"]}) > 1  # the seeds' datasets differ: a real comparison
    assert "N=1: not tested" in (tmp_path / "one/sweep/kmin_sweep.md").read_text()
    for run in ("one", "two"):
        for name in ("table/table1.csv", "table/table1.json", "table/table1.png", "sweep/kmin_sweep.csv",
                     "sweep/kmin_sweep.json", "sweep/kmin_sweep.png"):
            assert (tmp_path / run / name).stat().st_size > 0, (run, name)

    one_returns = np.load(tmp_path / "one/table/table1_returns.npz")
    two_returns = np.load(tmp_path / "two/table/table1_returns.npz")
    assert one_returns.files == two_returns.files == ["N2_k3_xavier"]
    for cell in one_returns.files:
        assert one_returns[cell].shape == (10,)  # 10 learners over 4 devices: padded to 12, the padding dropped
        np.testing.assert_array_equal(two_returns[cell], one_returns[cell])
    assert np.unique(one_returns["N2_k3_xavier"]).size > 3
    datasets = sorted((tmp_path / "one/sweep/datasets").glob("*/dataset.npz"))
    assert len(datasets) == 3
    for path in datasets:
        twin = tmp_path / "two" / path.relative_to(tmp_path / "one")
        assert twin.read_bytes() == path.read_bytes(), path.parent.name


def test_killing_one_of_two_processes_stops_the_other_with_a_message_within_60_s(tmp_path):
    # The sweep of tests/multiprocess_check.py on the same 2 x 2 devices, with an endless budget: its programs are
    # in the session's compilation cache by now (the test above compiled them), so this test only loads them.
    sweep = [sys.executable, "-m", "experiments.kmin_sweep", "--dims", "1", "--ks", "kmin", "--seeds", "0", "1", "2",
             "--meta-epochs", "5000", "--chunk", "2", "--chunk-learners", "4", "--learners", "6",
             "--num-learners", "2", "--num-envs", "2", "--num-steps", "32", "--num-minibatches", "2",
             "--target-return", "1000", "--out-dir", str(tmp_path / "sweep")]
    launcher = subprocess.Popen([*LAUNCH, "--processes", "2", "--cpu-devices", "2", "--heartbeat-timeout", "10",
                                 "--grace", "120", "--", *sweep], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines, pids = [], {}
    try:
        deadline = time.monotonic() + 240
        for line in launcher.stdout:  # until both processes have joined and the sweep has begun
            lines.append(line)
            if m := re.match(r"\[launch\] process (\d) of 2: pid (\d+)", line):
                pids[int(m[1])] = int(m[2])
            if "[kmin_sweep] N=1 k=2" in line or time.monotonic() > deadline:
                break
        assert "[kmin_sweep] N=1 k=2" in lines[-1], "".join(lines)[-3000:]
        time.sleep(1)  # now compiling or running its first chunk
        os.kill(pids[1], 9)
        killed = time.monotonic()
        rest, _ = launcher.communicate(timeout=90)
        waited = time.monotonic() - killed
        print(f"survivor stopped {waited:.1f} s after the kill")
    finally:
        if launcher.poll() is None:
            launcher.kill()
    out = "".join(lines) + rest
    assert launcher.returncode != 0
    assert waited < 60, out[-3000:]
    # Process 0 stopped by itself (the launcher did not have to kill it), non-zero, and said why.
    status = re.search(r"\[launch\] process 0 exited with (.*)", out)
    assert status and status[1] != "status 0", out[-3000:]
    assert "still runs" not in out
    assert ("[jaxdistill] process 0 of 2 stops: another process has probably died" in out
            or "another task died" in out), out[-3000:]
    assert not (tmp_path / "sweep/kmin_sweep.json").exists()


def test_a_group_that_never_assembles_stops_with_a_message(tmp_path):
    env = process_env(1, 2, port=9, join_timeout_s=3,  # nobody listens on port 9: process 0 never comes
                      base=single_process_env(1))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", "import jaxdistill"], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False, timeout=60)
    assert proc.returncode != 0
    assert time.monotonic() - start < 30
    assert "process 1 of 2 (coordinator 127.0.0.1:9): the process group did not assemble within 3 s" in proc.stderr


def test_launcher_kills_a_process_that_outlives_a_failure_by_the_grace_period():
    # Process 1 fails at once; process 0 would sleep for a minute. No JAX: the launcher alone is under test.
    child = ("import os, sys, time\n"
             "if os.environ['JAXDISTILL_PROCESS_ID'] == '1': sys.exit(3)\n"
             "print('coordinator at', os.environ['JAX_COORDINATOR_ADDRESS'], flush=True)\n"
             "time.sleep(60)\n")
    start = time.monotonic()
    proc = subprocess.run([*LAUNCH, "--processes", "2", "--grace", "1", "--", sys.executable, "-c", child],
                          cwd=ROOT, capture_output=True, text=True, check=False, timeout=30)
    assert time.monotonic() - start < 20
    assert proc.returncode == 3, proc.stdout
    assert "[launch] process 1 exited with status 3" in proc.stdout
    assert "[launch] process 0 still runs 1 s after the failure: killing it" in proc.stdout
    assert "[launch] process 0 exited with signal SIGKILL" in proc.stdout
    assert re.search(r"\[p0\] coordinator at 127\.0\.0\.1:\d+", proc.stdout)


def test_process_env_names_the_group_and_simulated_devices():
    env = process_env(1, 3, 4567, cpu_devices=2, heartbeat_timeout_s=7,
                      base={"XLA_FLAGS": "--xla_force_host_platform_device_count=8 --xla_foo=1"})
    assert env["JAX_COORDINATOR_ADDRESS"] == "127.0.0.1:4567"
    assert (env["JAXDISTILL_NUM_PROCESSES"], env["JAXDISTILL_PROCESS_ID"]) == ("3", "1")
    assert env["XLA_FLAGS"] == "--xla_foo=1 --xla_force_host_platform_device_count=2"
    assert env["JAX_PLATFORMS"] == "cpu" and env["JAXDISTILL_HEARTBEAT_TIMEOUT_S"] == "7"
    assert "JAXDISTILL_JOIN_TIMEOUT_S" not in env
