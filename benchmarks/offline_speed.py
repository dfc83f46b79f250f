"""Speed of the offline study's pieces: seconds per gradient-matching epoch, per behaviour-matching epoch at
several T, and students trained per hour.

    python -m benchmarks.offline_speed                  # writes benchmarks/results/offline_speed.json

For each observation shape (MinAtar's 10x10x4 maps with 3 actions, Procgen's 3x64x64 frames with 15) and the
study's student for it (``jaxdistill.presets.offline_networks``), on random data of the recorded kind:
1. seconds per gradient-matching epoch (k synthetic samples, ``students_per_epoch`` fresh students, a real
   batch per class, second-order gradients into the synthetic states);
2. seconds per behaviour-matching epoch (``bm_students_per_epoch`` fresh students trained T full-batch steps of
   ``bm_inner_optimizer`` on the k samples, back-propagated from a real batch of ``bm_real_batch``) for every T
   of ``bm_inner_steps``;
3. seconds per optimiser step of ``students`` students trained together (vmapped), for the BC protocol (batches
   of 256) and the synthetic one (batches of 15), and the students per hour that gives at the paper's step
   counts (1000 and 100).
Timings are the minimum and median of ``repeats`` runs after a compile-and-warm-up run.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import tyro

from benchmarks.machine import describe_machine, write_record


@dataclasses.dataclass
class Args:
    k: int = 150
    """Synthetic samples."""
    students_per_epoch: int = 4
    """Fresh students per matching epoch."""
    real_batch: int = 256
    """Real samples per class per match."""
    students: int = 8
    """Students trained together when timing student steps."""
    timing_steps: int = 10
    """Optimiser steps / matching epochs per timed run."""
    repeats: int = 3
    """Timed runs; min and median are reported."""
    real_samples: int = 2000
    """Size of the random 'real' data."""
    bm_inner_steps: tuple[int, ...] = (10, 50, 100)
    """Behaviour matching's T values to time (empty: skip)."""
    bm_real_batch: int = 512
    """Real states per student in behaviour matching's outer loss."""
    bm_inner_optimizer: Literal["sgd", "momentum", "adam"] = "adam"
    """Behaviour matching's inner optimiser (the committed MinAtar and Hopper runs': Adam)."""
    bm_students_per_epoch: int = 2
    """Fresh students per behaviour-matching epoch (the committed runs': 2)."""
    cases: tuple[str, ...] = ("minatar", "procgen")
    """Which observation shapes to time."""
    out: Path = Path("benchmarks/results/offline_speed.json")
    """Where the JSON record goes."""


def _time(fn, repeats: int) -> tuple[float, float]:
    jax.block_until_ready(fn())  # compile and warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def measure(obs_shape, frames: bool, num_actions: int, channels_first: bool, args: Args) -> dict:
    from jaxdistill.distill.gradient_matching import (
        GMConfig,
        group_by_class,
        init_synthetic,
        make_gradient_matching,
    )
    from jaxdistill.learn.students import StudentTraining, train_students
    from jaxdistill.policy.distributions import Categorical
    from jaxdistill.presets import offline_networks

    rng = np.random.default_rng(0)
    x = (rng.integers(0, 256, (args.real_samples, *obs_shape), dtype=np.uint8) if frames
         else rng.integers(0, 2, (args.real_samples, *obs_shape)).astype(np.float32))
    actions = rng.integers(0, num_actions, args.real_samples)
    student, _, _ = offline_networks(obs_shape, channels_first)
    dist = Categorical(num_actions)
    real = group_by_class(x, actions, num_actions)
    dataset, classes = init_synthetic(jax.random.PRNGKey(0), real, args.k, num_actions)
    gm = GMConfig(k=args.k, students_per_epoch=args.students_per_epoch, real_batch=args.real_batch)
    trainer = make_gradient_matching(gm, student, dist, real, dataset, classes, obs_shape, args.timing_steps)
    state = trainer.init(jax.random.PRNGKey(1))
    gm_min, gm_med = _time(lambda: trainer.chunk(state)[0].dataset.x, args.repeats)
    record = {"obs_shape": list(obs_shape), "num_actions": num_actions, "student": student.to_dict(),
              "gm_seconds_per_epoch": {"min": gm_min / args.timing_steps, "median": gm_med / args.timing_steps}}
    from jaxdistill.distill import behaviour_matching as bm

    source = bm.real_source(x, actions, None, None, True)
    for t in args.bm_inner_steps:
        config = bm.BMConfig(k=args.k, inner_steps=t, students_per_epoch=args.bm_students_per_epoch,
                             real_batch=args.bm_real_batch, outer_loss="dbc", inner_optimizer=args.bm_inner_optimizer,
                             inner_lr=0.01)
        bm_trainer = bm.make_behaviour_matching(config, student, dist, source, dataset, obs_shape, args.timing_steps)
        bm_state = bm_trainer.init(jax.random.PRNGKey(1))
        t_min, t_med = _time(lambda: bm_trainer.chunk(bm_state)[0].dataset.x, args.repeats)
        record.setdefault("bm_seconds_per_epoch", {})[f"T={t}"] = {"min": t_min / args.timing_steps,
                                                                   "median": t_med / args.timing_steps}
    train = jax.jit(train_students, static_argnums=(1, 2, 5, 6))
    for name, batch, paper_steps, data_x, targets in (
        ("bc", 256, 1000, jnp.asarray(x), jnp.asarray(actions)),
        ("synthetic", 15, 100, dataset.x, dataset.y),
    ):
        training = StudentTraining(steps=args.timing_steps, batch_size=batch)
        t_min, t_med = _time(lambda data_x=data_x, targets=targets, training=training: train(
            jax.random.PRNGKey(2), student, dist, data_x, targets, training, args.students), args.repeats)
        per_step = t_min / args.timing_steps  # all `students` students, one step
        record[f"{name}_student_steps"] = {
            "batch": batch, "students_together": args.students, "seconds_per_step_all_students": per_step,
            "median_seconds_per_step_all_students": t_med / args.timing_steps,
            "students_per_hour_at_paper_steps": 3600.0 / (per_step * paper_steps) * args.students,
            "paper_steps": paper_steps}
    return record


def main(args: Args) -> dict:
    record = {"machine": describe_machine(), "config": {k: str(v) for k, v in dataclasses.asdict(args).items()},
              "cases": {}}
    for name, shape, frames, n, cf in (("minatar", (10, 10, 4), False, 3, False),
                                       ("procgen", (3, 64, 64), True, 15, True)):
        if name not in args.cases:
            continue
        record["cases"][name] = measure(shape, frames, n, cf, args)
        print(name, {k: v for k, v in record["cases"][name].items() if k != "student"})
    write_record(args.out, record)
    return record


if __name__ == "__main__":
    main(tyro.cli(Args))
