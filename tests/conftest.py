"""Shared, compiled-once fixtures: the tests run on 2 CPU cores in a few minutes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import pytest

from jaxdistill.distill.ppmo import PPMOConfig

TINY_PPMO = PPMOConfig(k=2, num_learners=2, num_envs=2, num_steps=32, num_minibatches=2, update_epochs=2)


@pytest.fixture(scope="session")
def tiny_ppmo_config() -> PPMOConfig:
    return TINY_PPMO


@pytest.fixture(scope="session")
def distilled_1d(tmp_path_factory) -> dict:
    """The README's main job (1-D cart-pole, k=2, defaults), run once for the whole session."""
    from experiments.cartpole import main, parse

    run_dir: Path = tmp_path_factory.mktemp("main_job") / "run"
    result = main(parse(["--run-dir", str(run_dir), "--no-progress"]))
    return {"result": result, "run_dir": run_dir}


def tree_equal(a, b) -> bool:
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(leaves_a) == len(leaves_b) and all(
        (x.shape == y.shape) and bool((x == y).all()) for x, y in zip(leaves_a, leaves_b)
    )


def replace(cfg, **kw):
    return dataclasses.replace(cfg, **kw)
