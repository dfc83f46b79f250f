"""A description of the machine a benchmark ran on, for its JSON record."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def write_record(path: Path, record: dict) -> None:
    """Write a benchmark's JSON record and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written to {path}")


def describe_machine() -> dict:
    import jax

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = None
    try:
        mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "memory_gib": mem_gib,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
    }


def ppmo_vs_ppo(timings: dict, iterations: int = 1) -> dict:
    """Seconds per PPMO meta-epoch and per PPO update, and their ratio, from :func:`interleaved_timings`
    of ``{"ppmo": ..., "ppo": ...}`` calls that each ran ``iterations`` of them."""
    return {
        "ppmo_seconds_per_meta_epoch": {q: v / iterations for q, v in timings["ppmo"].items()},
        "ppo_seconds_per_update": {q: v / iterations for q, v in timings["ppo"].items()},
        "ppmo_over_ppo": {q: timings["ppmo"][q] / timings["ppo"][q] for q in ("min", "median")},
    }


PPMO_OVERHEAD = (
    "Same rollout, minibatches and epochs; PPMO adds, per minibatch, a forward and backward pass of every "
    "sampled learner's fresh layers [l, 5) on the k encoded synthetic images and the second-order pass of the "
    "meta-gradient back through that inner SGD step, and its rollouts and losses run num_learners separate "
    "networks (batched matmuls of num_envs rows each) where PPO runs one. With l = 4 only the output layer is "
    "fresh and the extra work is negligible; with l = 0 the inner step covers the whole CNN."
)


def ratio_verdict(splits: dict, paper_ratio: float = 1.15) -> dict:
    """Whether each split's PPMO/PPO ratio (min over repeats) is within the paper's, and why PPMO
    costs more."""
    within = {name: r["ppmo_over_ppo"]["min"] <= paper_ratio for name, r in splits.items()}
    return {f"within_{paper_ratio}": within, "why_ppmo_costs_more": PPMO_OVERHEAD}


def time_image_split(ppmo_call, ppo_call, state, learner, obs_shape, num_actions, num_learners: int, repeats: int,
                     iterations: int = 1) -> dict:
    """One encoder split's record: seconds per PPMO meta-epoch beside seconds per PPO update
    (``ppmo_call()`` / ``ppo_call()`` each run ``iterations`` of them), then the cost of sampling and
    training ``num_learners`` k-shot ``learner``s on ``state``'s dataset and encoder."""
    from functools import partial

    import jax

    from jaxdistill.learn.inner import train_fresh_learners

    t = interleaved_timings({"ppmo": ppmo_call, "ppo": ppo_call}, repeats)
    train = jax.jit(partial(train_fresh_learners, spec=learner, obs_shape=obs_shape, num_outputs=num_actions,
                            num=num_learners))
    kshot = kshot_training_record(
        lambda: train(jax.random.PRNGKey(1), dataset=state.dataset, encoder_params=state.encoder_params),
        num_learners, repeats)
    return {**ppmo_vs_ppo(t, iterations), **kshot}


def kshot_training_record(train, num_learners: int, repeats: int) -> dict:
    """Time ``train()`` (sampling and one-step training of ``num_learners`` k-shot learners)."""
    t = interleaved_timings({"train": train}, repeats)["train"]
    return {f"seconds_to_sample_and_train_{num_learners}_learners": t, "seconds_per_learner": t["min"] / num_learners,
            "learners_trained_per_hour": num_learners * 3600 / t["min"]}


def interleaved_timings(fns: dict, repeats: int) -> dict:
    """Seconds per call of each ``fn()`` (compiled and warmed up first), measured interleaved so that
    other load on the machine hits all of them alike; min and median over ``repeats``."""
    import time

    import jax
    import numpy as np

    for fn in fns.values():
        jax.block_until_ready(fn())
    times: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - t0)
    return {name: {"min": float(np.min(t)), "median": float(np.median(t))} for name, t in times.items()}
