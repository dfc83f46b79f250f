"""Run as one process or under ``python -m jaxdistill.launch`` (see tests/test_multiprocess.py).

``python tests/multiprocess_check.py OUT``:

1. Table 1 on the committed 2-D dataset, through the CLI's own argument parsing.
2. A tiny k_min sweep (N = 1, k = k_min, 3 seeds), then the same sweep again in the same directory: the second
   resumes from the datasets the first wrote.
3. ``from_main`` with a failing load, which must raise the same SystemExit on every process.
4. ``experiments.common.check_run_dir`` of a single training run, which refuses to run as several processes.

Prints one ``RESULT {json}`` line: the rows every process got, and how many writes each process made.

``python tests/multiprocess_check.py OUT --then-stop``: after the RESULT line, the same sweep again with an endless
budget, through the CLI's entry point, for the test to stop with SIGTERM (its programs are compiled by then).
"""

import json
import sys
from pathlib import Path

import jax
import numpy as np

import jaxdistill  # noqa: F401 - joins the launcher's process group, if any
from jaxdistill.core import distributed, metrics
from jaxdistill.learn import dataset as dataset_io

out = Path(sys.argv[1])
then_stop = "--then-stop" in sys.argv[2:]
ROOT = Path(__file__).resolve().parents[1]
writes = {"save_dataset": 0, "write_rows": 0, "savez": 0}


def counting(module, name, key):
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        writes[key] += 1
        return original(*args, **kwargs)

    setattr(module, name, wrapper)


counting(dataset_io, "save_dataset", "save_dataset")
counting(metrics, "write_rows", "write_rows")
counting(np, "savez", "savez")

import tyro

from experiments import kmin_sweep, kshot_table

table = kshot_table.main(tyro.cli(kshot_table.Args, args=[
    "--dims", "2", "--learners", "10", "--distributions", "xavier",
    "--datasets-dir", str(ROOT / "experiments/results"), "--out-dir", str(out / "table")]))
sweep = ["--dims", "1", "--seeds", "0", "1", "2", "--meta-epochs", "4", "--chunk", "2", "--chunk-learners", "4",
         "--ks", "kmin", "--learners", "6", "--num-learners", "2", "--num-envs", "2", "--num-steps", "32", "--num-minibatches", "2",
         "--out-dir", str(out / "sweep")]
first = kmin_sweep.main(tyro.cli(kmin_sweep.Args, args=sweep))
rows = kmin_sweep.main(tyro.cli(kmin_sweep.Args, args=sweep))
try:
    distributed.from_main(lambda: 1 / 0)
    shared_error = None
except (SystemExit, ZeroDivisionError) as e:  # one process: the error itself; several: a SystemExit on each
    shared_error = f"{type(e).__name__}: {e}"
from experiments.common import check_run_dir

try:  # a single training run refuses to run as several processes, on every process, before any work
    check_run_dir(out / "single_run", "experiments.cartpole")
    refusal = None
except SystemExit as e:
    refusal = str(e.code)
print("RESULT " + json.dumps({
    "process": jax.process_index(), "processes": jax.process_count(), "devices": jax.device_count(),
    "table": [{k: r[k] for k in ("n_dims", "k", "distribution", "learners", "mean", "std", "paper_mean")}
              for r in table],
    "first": [{k: r[k] for k in ("k", "seed", "meta_epochs", "learners", "mean", "std", "resumed")} for r in first],
    "rows": [{k: r[k] for k in ("k", "seed", "meta_epochs", "learners", "mean", "std", "resumed")} for r in rows],
    "writes": writes, "shared_error": shared_error, "refusal": refusal}), flush=True)

if then_stop:
    from experiments.common import run_cli

    endless = [*sweep[:-1], str(out / "stopped")]
    endless[endless.index("--meta-epochs") + 1] = "1000000"
    distributed.log("STOP PHASE")
    run_cli("experiments.kmin_sweep", kmin_sweep.main, lambda argv: tyro.cli(kmin_sweep.Args, args=argv), endless)
