"""The GPU check script's timing and its refusals (the whole script runs on the cpu presets in .ci/run)."""

import jax
import jax.numpy as jnp
import pytest

from benchmarks import gpu_check


def test_time_calls_splits_compile_from_steady_time():
    calls = []

    def chunk(state):
        calls.append(1)
        return (jnp.sin(state) * 2.0,)

    timing = gpu_check.time_calls(lambda key: jnp.ones(3), jax.jit(chunk), 4)
    assert len(calls) == 1  # traced once: the second call ran the compiled program
    assert timing["iterations_timed"] == 4 and timing["compile_s"] >= 0
    assert timing["first_call_s"] >= timing["seconds_per_iteration"] * 4 > 0


def test_unknown_cases_and_bad_sizes_are_refused_before_any_work(tmp_path):
    with pytest.raises(SystemExit, match=r"unknown cases \['pong'\]"):
        gpu_check.main(gpu_check.Args(cases=("cartpole", "pong"), out=tmp_path / "x.json"))
    with pytest.raises(SystemExit, match="--iterations and --kshot-learners must be >= 1"):
        gpu_check.main(gpu_check.Args(iterations=0, out=tmp_path / "x.json"))
    assert not (tmp_path / "x.json").exists()
