"""Whole-process wall time of the main job, first run against second run, with and without the compilation cache.

    python -m benchmarks.startup                     # 3 pairs per setting, about 6 minutes on 2 cores

Each setting runs ``python -m experiments.cartpole`` as a fresh process ``--repeats`` times into a fresh, empty
cache directory (the *first* run) and once more into the directory the first left behind (the *second* run), and
records min and median of each. Settings: the default (on a CPU: no cache), the cache asked for with
``JAXDISTILL_COMPILE_CACHE=DIR``, and the cache with ``XLA_FLAGS=--xla_cpu_max_isa=AVX2`` (the only way jax 0.9's
CPU cache hits at all, jax-ml/jax#38445; it changes the generated code and so the last bits of the numbers).
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tyro

from benchmarks.machine import describe_machine, write_record

SETTINGS = {
    "default": {},
    "cache": {"JAXDISTILL_COMPILE_CACHE": "{dir}"},
    "cache+avx2": {"JAXDISTILL_COMPILE_CACHE": "{dir}", "XLA_FLAGS": "--xla_cpu_max_isa=AVX2"},
}


@dataclasses.dataclass
class Args:
    repeats: int = 3
    """First/second pairs per setting."""
    settings: tuple[str, ...] = tuple(SETTINGS)
    """Which settings to time (default, cache, cache+avx2)."""
    out: Path = Path("benchmarks/results/startup.json")
    """Where the JSON record goes."""


def _timed_run(env: dict[str, str], run_dir: Path) -> tuple[float, bool]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "experiments.cartpole", "--run-dir", str(run_dir), "--overwrite"],
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"the main job failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds, "cpu_aot_loader" in proc.stderr  # the jax bug's E-level line: an entry was rejected


def main(args: Args) -> None:
    unknown = set(args.settings) - set(SETTINGS)
    if unknown:
        raise SystemExit(f"unknown settings {sorted(unknown)}; choose from {list(SETTINGS)}")
    record: dict = {"machine": describe_machine(), "command": "python -m experiments.cartpole", "settings": {}}
    with tempfile.TemporaryDirectory(prefix="jaxdistill-startup-") as tmp:
        for name in args.settings:
            first, second, rejected = [], [], False
            for i in range(args.repeats):
                cache_dir = Path(tmp) / f"{name}-{i}"
                env = {k: v for k, v in os.environ.items() if k not in ("JAXDISTILL_COMPILE_CACHE", "XLA_FLAGS")}
                env.update({k: v.format(dir=cache_dir) for k, v in SETTINGS[name].items()})
                for times in (first, second):
                    seconds, saw = _timed_run(env, Path(tmp) / "run")
                    times.append(round(seconds, 2))
                    rejected |= saw
                print(f"{name}: first {first[-1]:.1f} s, second {second[-1]:.1f} s", flush=True)
            record["settings"][name] = {
                "env": SETTINGS[name], "first_s": first, "second_s": second,
                "first_min_median_s": [min(first), round(statistics.median(first), 2)],
                "second_min_median_s": [min(second), round(statistics.median(second), 2)],
                "cache_entries_rejected": rejected,
            }
    write_record(args.out, record)


if __name__ == "__main__":
    main(tyro.cli(Args))
