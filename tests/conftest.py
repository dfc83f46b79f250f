"""Shared, compiled-once fixtures: the tests run on 2 CPU cores in a few minutes."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

# One persistent XLA compilation cache for the whole session, in this process and in the CLI processes the
# tests start (they inherit the environment): a program compiled once (the cart-pole CLI's, say) is loaded,
# not compiled again, by every later run of it. Set before jax is imported, which reads these then.
OWN_CACHE_DIR = None  # the cache this process made (the controller's), removed when the session ends
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # the xdist workers inherit the controller's
    OWN_CACHE_DIR = os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxdistill-test-xla-cache-")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
# Most of the suite's time is XLA:CPU compiling small programs that then run for a second. Two flags make that
# compilation cheaper (measured on the 2-core VM, `python -m pytest -q`, 2026-12-06: 555 s at XLA's defaults, 406 s
# with both): LLVM at -O2 instead of -O3, and XLA:CPU's older loop emitters instead of its fusion emitters (the PPMO
# train step compiles in 2.9 s instead of 5.6 s; the main job's 1000-learner evaluation runs about 30 % slower, the
# suite's one long-running program). The numbers move in their last bits and no test depends on those bits: the
# committed datasets' bytes are a property of XLA's default flags, which the suite does not change in the library.
# Child processes inherit them; a test that gives a child simulated devices keeps them (``launch.with_cpu_devices``).
TEST_XLA_FLAGS = ("--xla_backend_optimization_level=2", "--xla_cpu_use_fusion_emitters=false")
for _flag in TEST_XLA_FLAGS:
    if _flag.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_flag}".strip()

# Most tests compile far more than they run: XLA at -O0 without its expensive LLVM passes (jax's
# ``jax_disable_most_optimizations``, inherited by child processes) compiles the PPMO train step in 1.2 s instead
# of 2.9 s and runs it about twice as slowly. The few tests that run long programs (the main job, PPO solving
# cart-pole, the Atari and Procgen CLIs) carry ``@pytest.mark.optimized`` and get XLA's optimisations back:
# measured on the 2-core VM, 2026-12-06, the Procgen study took 122 s at -O0 against 50 s at -O2.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

import jax
import pytest

from jaxdistill.distill.ppmo import PPMOConfig

TINY_PPMO = PPMOConfig(k=2, num_learners=2, num_envs=2, num_steps=32, num_minibatches=2, update_epochs=2)


@contextlib.contextmanager
def xla_optimized():
    """XLA's optimisations on while in the block, for programs that run longer than they compile."""
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", False)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", before)


def pytest_configure(config):
    config.addinivalue_line("markers", "optimized: runs long programs; XLA's optimisations on (tests/conftest.py)")


def pytest_unconfigure(config):
    if OWN_CACHE_DIR is not None:
        shutil.rmtree(OWN_CACHE_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _optimized_when_marked(request):
    if request.node.get_closest_marker("optimized") is None:
        yield
    else:
        with xla_optimized():
            yield


@pytest.fixture(scope="session")
def tiny_ppmo_config() -> PPMOConfig:
    return TINY_PPMO


@pytest.fixture(scope="session")
def distilled_1d(tmp_path_factory) -> dict:
    """The README's main job (1-D cart-pole, k=2, defaults), run once for the whole session."""
    from experiments.cartpole import main, parse

    run_dir: Path = tmp_path_factory.mktemp("main_job") / "run"
    with xla_optimized():  # 225 meta-epochs and 1000 learners: 42 s optimised, 91 s not
        result = main(parse(["--run-dir", str(run_dir), "--no-progress"]))
    return {"result": result, "run_dir": run_dir}


def assert_dataset_gradient_matches_central_differences(f, data, fields, per_field: int, eps: float = 1e-6):
    """``jax.grad(f)(data)`` against float64 central differences of ``f``, ``per_field`` elements of each field
    (each field's gradient must also be non-zero: the loss depends on it)."""
    import jax.numpy as jnp
    import numpy as np

    grad = jax.grad(f)(data)
    for field in fields:
        g, value = np.asarray(getattr(grad, field)), np.asarray(getattr(data, field))
        assert np.abs(g).max() > 1e-6, field
        for idx in list(np.ndindex(value.shape))[:per_field]:
            plus, minus = value.copy(), value.copy()
            plus[idx] += eps
            minus[idx] -= eps
            fd = (f(data.replace(**{field: jnp.asarray(plus)})) - f(data.replace(**{field: jnp.asarray(minus)}))) / (2 * eps)
            np.testing.assert_allclose(g[idx], float(fd), rtol=1e-5, atol=1e-9, err_msg=f"{field}{idx}")


def tree_equal(a, b) -> bool:
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(leaves_a) == len(leaves_b) and all(
        (x.shape == y.shape) and bool((x == y).all()) for x, y in zip(leaves_a, leaves_b)
    )


def replace(cfg, **kw):
    return dataclasses.replace(cfg, **kw)
