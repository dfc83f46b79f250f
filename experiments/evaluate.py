"""k-shot evaluation of a saved dataset file: fresh learners, each trained on it as its metadata says (one
SGD step by default), one full episode each.

    python -m experiments.evaluate runs/mujoco_hopper-v4_k64_ppmo_s0/dataset --learners 1000
    python -m experiments.evaluate experiments/results/cartpole1d_k2_ppmo_s0/dataset --policies greedy

Reads ``dataset.npz`` and ``metadata.json`` (the environment id, the learner spec, the observation
statistics of a continuous dataset), rebuilds the environment by id, and prints the table of returns;
what a user of a distilled dataset would run, through the same loader and checks.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import tyro

PROG = "experiments.evaluate"


@dataclasses.dataclass
class Args:
    dataset: tyro.conf.Positional[Path]
    """A dataset directory (or its dataset.npz)."""
    learners: int = 1000
    """Fresh learners, one episode each."""
    policies: tuple[Literal["greedy", "sampled"], ...] = ("greedy", "sampled")
    """Greedy (argmax / mean action) and/or sampled actions."""
    seed: int = 0
    """Seed of the learners' initialisations and the episodes."""


def main(args: Args) -> list[dict]:
    import jax

    from jaxdistill.envs import make
    from jaxdistill.eval.kshot import fresh_learners, make_kshot_evaluate
    from jaxdistill.learn.dataset import (DatasetFileError, format_inner_lr, load_dataset, load_encoder,
                                         load_obs_norm)
    from jaxdistill.learn.inner import InnerTraining
    from jaxdistill.nets.networks import LearnerSpec
    from jaxdistill.run.harness import format_table, summarize

    if args.learners < 1:
        raise SystemExit(f"{PROG}: error: --learners must be >= 1 (got {args.learners})")
    try:
        _, metadata = load_dataset(args.dataset, require=("env_id", "learner_spec"))
        env = make(metadata["env_id"])
        dataset, _ = load_dataset(args.dataset, expect_obs_shape=env.spec.obs_shape,
                                  expect_num_actions=env.spec.num_actions, expect_continuous=not env.spec.discrete)
    except (DatasetFileError, ValueError) as e:
        raise SystemExit(f"{PROG}: error: {e}") from None
    if metadata["learner_spec"].get("type") == "cnn":
        raise SystemExit(f"{PROG}: error: image datasets with encoders are evaluated by their "
                         "experiment (experiments.minatar / experiments.atari)")
    try:
        spec = LearnerSpec.from_dict(metadata["learner_spec"])
        obs_norm, encoder = load_obs_norm(args.dataset), load_encoder(args.dataset)
        inner = InnerTraining.from_metadata(metadata)  # the protocol the set was distilled for
    except (DatasetFileError, TypeError, ValueError, KeyError) as e:
        raise SystemExit(f"{PROG}: error: {args.dataset}: the metadata does not describe a learner this project "
                         f"builds ({type(e).__name__}: {e})") from None
    rows = []
    for policy in args.policies:
        evaluate = make_kshot_evaluate(env, fresh_learners(env, spec, inner=inner), args.learners,
                                       greedy=policy == "greedy")
        returns = evaluate(jax.random.PRNGKey(args.seed), dataset, encoder, obs_norm)
        rows.append(summarize(returns, f"{spec.hidden_sizes} {spec.activation}, {spec.init}", policy))
    print(f"{metadata['env_id']}, k={dataset.k}, inner lr {format_inner_lr(dataset.inner_lr, 4)}: {args.learners} fresh learners")
    print(format_table(rows))
    return rows


if __name__ == "__main__":
    from experiments.common import run_cli

    run_cli(PROG, main, lambda argv: tyro.cli(Args, args=argv))
