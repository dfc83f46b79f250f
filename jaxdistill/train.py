"""The host-side training loop shared by PPMO and PPO.

Training runs in jitted chunks of ``chunk`` iterations (a ``lax.scan``); after each chunk the loop
evaluates, logs to CSV/TensorBoard, updates the progress bar and checkpoints on a wall-clock
interval. Keys for evaluation are derived apart from the training key, and chunk boundaries are
fixed, so a run resumed from a checkpoint ends with exactly the state of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

from jaxdistill.checkpoint import Checkpointer
from jaxdistill.metrics import MetricsLogger


@dataclasses.dataclass
class LoopResult:
    state: Any
    rows: list[dict]
    finished: bool
    """True if the run reached its iteration budget or its target; False if interrupted."""
    reached_target_at: int | None
    wall_time: float
    run_dir: Path


def run_keys(seed: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The three independent key streams of a run with ``seed``: training, evaluations during
    training (folded with the iteration), and the final evaluation. Everything that trains or
    evaluates "seed s" derives its keys here, so a seed means the same run everywhere."""
    root = jax.random.PRNGKey(seed)
    return jax.random.fold_in(root, 0), jax.random.fold_in(root, 1), jax.random.fold_in(root, 2)


class _Interrupted(Exception):
    pass


def _raise_interrupted(signum, frame):
    raise _Interrupted(f"signal {signum}")


def train_loop(
    *,
    init_fn: Callable[[jax.Array], Any],
    chunk_fn: Callable[[Any], tuple[Any, dict]],
    evaluate_fn: Callable[[jax.Array, Any], jax.Array],
    iteration_of: Callable[[Any], int],
    total_iterations: int,
    chunk: int,
    env_steps_per_iteration: int,
    run_dir: str | Path,
    seed: int,
    config: dict,
    target_return: float | None = None,
    checkpoint_interval_s: float = 300.0,
    resume: bool = False,
    tensorboard: bool = True,
    progress: bool = True,
    stop_after: int | None = None,
    desc: str = "train",
    jit_chunk: bool = True,
) -> LoopResult:
    """Run ``chunk_fn`` until ``total_iterations`` or until an evaluation reaches ``target_return``.

    ``chunk_fn(state) -> (state, metrics)`` advances ``chunk`` iterations; ``evaluate_fn(key, state)``
    returns per-episode returns. ``stop_after`` stops (with a checkpoint) after that many
    iterations, as if the process had been killed there; it exists for tests. ``jit_chunk=False``
    takes ``chunk_fn`` and ``evaluate_fn`` as they are (host-stepped environments, see
    :mod:`jaxdistill.host_loop`).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    train_key, eval_root, _ = run_keys(seed)
    if jit_chunk:
        chunk_fn = jax.jit(chunk_fn)
        evaluate_fn = jax.jit(evaluate_fn)
    ckpt = Checkpointer(run_dir / "checkpoints", interval_seconds=checkpoint_interval_s)

    state = jax.jit(init_fn)(train_key)
    meta: dict = {"finished": False, "reached_target_at": None, "wall_time": 0.0}
    resume_step = None
    if resume:
        if ckpt.latest_step() is None:
            print(f"[jaxdistill] --resume: no checkpoint in {ckpt.directory}; starting fresh", file=sys.stderr)
        else:
            state, meta = ckpt.restore(state)
            saved_config = meta.get("config", {})
            changed = {
                k: (saved_config.get(k), v) for k, v in config.items()
                if k in saved_config and saved_config.get(k) != v and k not in _RESUMABLE_KEYS
            }
            if changed:
                ckpt.close()
                raise ValueError(
                    f"cannot resume {run_dir}: the configuration differs from the checkpoint's "
                    + ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in changed.items())
                )
            resume_step = iteration_of(state)
            print(f"[jaxdistill] resumed {run_dir} at iteration {resume_step}", file=sys.stderr)
    # A fresh run starts a fresh CSV; a resumed one keeps the rows up to the checkpoint.
    logger = MetricsLogger(run_dir, tensorboard=tensorboard, resume_step=-1 if resume_step is None else resume_step)

    def checkpoint_meta():
        return {**meta, "config": config, "iteration": iteration_of(state)}

    old_handler = signal.signal(signal.SIGTERM, _raise_interrupted)
    start = time.perf_counter() - float(meta.get("wall_time", 0.0))
    it = iteration_of(state)
    # A run that finished its budget goes on when resumed with a larger one (--meta-epochs).
    finished = bool(meta.get("finished", False)) and (it >= total_iterations or meta.get("reached_target_at") is not None)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_iterations, initial=it, desc=desc, dynamic_ncols=True, file=sys.stderr)
    try:
        while not finished and it < total_iterations:
            if stop_after is not None and it >= stop_after:
                break
            t0 = time.perf_counter()
            state, metrics = chunk_fn(state)
            metrics = jax.device_get(metrics)
            it = iteration_of(state)
            returns = np.asarray(evaluate_fn(jax.random.fold_in(eval_root, it), state))
            elapsed = time.perf_counter() - t0
            row = {
                "env_steps": it * env_steps_per_iteration,
                "kshot_mean": float(returns.mean()),
                "kshot_std": float(returns.std()),
                "rollout_return": float(np.nanmean(metrics["episode_return"]))
                if np.any(np.isfinite(metrics["episode_return"])) else float("nan"),
                "sps": chunk * env_steps_per_iteration / elapsed,
                "wall_time": time.perf_counter() - start,
                **{k: float(np.mean(v)) for k, v in metrics.items()
                   if k not in ("episode_return", "episodes", "episode_length")},
            }
            logger.log(it, row)
            meta["wall_time"] = row["wall_time"]
            if bar is not None:
                bar.update(it - bar.n)
                bar.set_postfix(
                    kshot=f"{row['kshot_mean']:.1f}±{row['kshot_std']:.1f}",
                    rollout=f"{row['rollout_return']:.1f}",
                    sps=f"{row['sps']:.0f}",
                )
            if target_return is not None and row["kshot_mean"] >= target_return:
                meta["reached_target_at"] = it
                finished = True
            if it >= total_iterations:
                finished = True
            meta["finished"] = finished
            ckpt.maybe_save(it, state, checkpoint_meta())
    except (KeyboardInterrupt, _Interrupted):
        print(f"\n[jaxdistill] interrupted at iteration {iteration_of(state)}; checkpointing to {ckpt.directory}",
              file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, old_handler)
        if bar is not None:
            bar.close()
        meta["finished"] = finished
        ckpt.save(iteration_of(state), state, checkpoint_meta())
        ckpt.close()
        logger.close()
    return LoopResult(
        state=state,
        rows=logger.rows,
        finished=finished,
        reached_target_at=meta.get("reached_target_at"),
        wall_time=float(meta["wall_time"]),
        run_dir=run_dir,
    )


_RESUMABLE_KEYS = {"resume", "run_dir", "total_iterations", "meta_epochs", "checkpoint_interval_s", "progress",
                   "tensorboard", "stop_after", "target_return", "final_eval_learners", "sampled_eval",
                   "ppo_timesteps"}


def config_to_dict(obj) -> dict:
    """A JSON-safe dict of a (nested) dataclass config."""
    return json.loads(json.dumps(dataclasses.asdict(obj), default=str))
