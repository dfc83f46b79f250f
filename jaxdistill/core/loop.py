"""The host-side run loop shared by every trainer (PPO and PPMO, in the graph or on the host).

Training runs in chunks of ``chunk`` iterations (:class:`~jaxdistill.run.driver.Trainer`); after each
chunk the loop evaluates, logs (CSV, TensorBoard), moves the progress bar and checkpoints on a
wall-clock interval. Keys for evaluation are derived apart from the training key and chunk
boundaries are fixed, so a run resumed from a checkpoint ends with exactly the state of an
uninterrupted run. The loop's jobs are separate pieces: :func:`check_run_dir`,
:func:`check_resumable`, :class:`Progress` (the bar and the CPU-time estimate) and the signal guard
(SIGINT / SIGTERM stop a run within an iteration, with a checkpoint of the last finished chunk, and raise
:class:`~jaxdistill.core.errors.RunInterrupted`: an interrupted run is never evaluated or written as if done).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

from jaxdistill.core.checkpoint import Checkpointer
from jaxdistill.core.errors import NonFiniteError, ResumeError, RunDirError, RunInterrupted
from jaxdistill.core.metrics import MetricsLogger

__all__ = ["LoopResult", "RunDirError", "ResumeError", "NonFiniteError", "RunInterrupted", "StopSignals",
           "check_run_dir", "check_resumable", "train_loop", "run_keys"]


@dataclasses.dataclass
class LoopResult:
    state: Any
    rows: list[dict]
    finished: bool
    """True if the run reached its iteration budget, its target or its wall-time budget; False if it stopped at
    ``stop_after`` (an interrupted run raises :class:`RunInterrupted` instead of returning)."""
    reached_target_at: int | None
    wall_time: float
    run_dir: Path


def run_keys(seed: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The three independent key streams of a run with ``seed``: training (environment seeds included,
    see :func:`jaxdistill.run.driver.init_keys`), evaluations during training (folded with the
    iteration), and the final evaluation. Everything that trains or evaluates "seed s" derives its
    keys here, so a seed means the same run everywhere."""
    root = jax.random.PRNGKey(seed)
    return jax.random.fold_in(root, 0), jax.random.fold_in(root, 1), jax.random.fold_in(root, 2)


# The files and folders a run writes into its directory (the loop, the harness, the plots): what --overwrite
# removes, and what tells that a directory already holds a run.
RUN_OUTPUTS = ("checkpoints", "metrics.csv", "tensorboard", "results.json", "results.md", "dataset", "policy",
               "learning_curve.png", "dataset.png")


def earlier_run(run_dir: Path) -> str | None:
    """What of another run ``run_dir`` holds, in words (None: nothing)."""
    steps = sorted(int(p.name) for p in (run_dir / "checkpoints").glob("*") if p.name.isdigit())
    if steps:
        return f"checkpoints up to iteration {steps[-1]}"
    found = [name for name in RUN_OUTPUTS if (run_dir / name).exists() and name != "checkpoints"]
    return f"{', '.join(found)} of an earlier run" if found else None


def check_writable(directory: Path, what: str) -> Path:
    """Create ``directory`` and write a file into it, or raise :class:`RunDirError` ("cannot write <what> ...")."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-check-"):
            pass
    except OSError as e:
        raise RunDirError(f"cannot write {what} {directory}: {e.strerror or e}") from None
    return directory


def check_run_dir(run_dir: str | Path, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Create ``run_dir`` and check it is writable and free for this run, with a one-line
    :class:`RunDirError` otherwise (called before any compile). A directory that holds another run's state is
    refused unless the run resumes it (``resume``) or replaces it (``overwrite``: its run outputs are deleted
    first), so two runs never mix checkpoints, metrics and datasets."""
    run_dir = Path(run_dir)
    if run_dir.absolute() == Path.cwd().absolute():
        raise RunDirError(f"the run directory is the current directory ({str(run_dir)!r}): give the run a "
                          "directory of its own")
    if resume and overwrite:
        raise RunDirError("--resume continues the run in the directory and --overwrite deletes it: give one of them")
    check_writable(run_dir, "the run directory")
    earlier = None if resume else earlier_run(run_dir)
    if earlier is not None:
        if not overwrite:
            raise RunDirError(f"{run_dir} holds another run ({earlier}): pass --resume to continue it, --overwrite "
                              "to replace it, or choose another --run-dir")
        for name in RUN_OUTPUTS:
            target = run_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    return run_dir


def check_resumable(saved: dict, config: dict, may_change: tuple[str, ...] = ()) -> None:
    """Refuse to resume a run whose configuration differs from the checkpoint's, except in ``may_change``
    (for example the iteration budget)."""
    changed = {k: (saved.get(k), v) for k, v in config.items()
               if k in saved and saved[k] != v and k not in may_change}
    if changed:
        raise ResumeError("the configuration differs from the checkpoint's: "
                          + ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in changed.items()))


class Interrupted(Exception):
    """Raised by a trainer (from inside a chunk) once the run has been asked to stop."""


class StopSignals:
    """SIGINT and SIGTERM ask the run to stop instead of killing it (a context manager; the previous handlers come
    back on exit). ``signum`` is the first signal received (None: none). A trainer checks it after every
    iteration (in the graph through its debug callback), so a long chunk stops within an iteration and the run
    checkpoints the state of the last finished chunk. A second SIGINT stops at once.

    Installing it also replaces the SIGTERM handler JAX's distributed runtime registers (which only logs the
    signal, for preemption syncing): a scheduler's or the launcher's SIGTERM then stops a study as it stops a run."""

    def __init__(self):
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signum is None:
            self.signum = signum

    @staticmethod
    def _quiet(record: logging.LogRecord) -> bool:
        # jax logs a callback's exception with its traceback; an Interrupted one is the requested stop.
        return not (record.exc_info and isinstance(record.exc_info[1], Interrupted))

    def __enter__(self):
        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        logging.getLogger("jax._src.debugging").addFilter(self._quiet)
        return self

    def __exit__(self, *exc):
        for s, handler in self._old.items():
            signal.signal(s, handler)
        logging.getLogger("jax._src.debugging").removeFilter(self._quiet)


@jax.jit
def _all_finite(tree) -> jax.Array:
    leaves = [jax.numpy.all(jax.numpy.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
              if jax.numpy.issubdtype(jax.numpy.result_type(x), jax.numpy.inexact)]
    return jax.numpy.all(jax.numpy.stack(leaves)) if leaves else jax.numpy.asarray(True)


def all_finite(tree) -> bool:
    """Whether every floating-point leaf of ``tree`` is free of NaN and infinity."""
    return bool(_all_finite(tree))


def _call_interruptibly(fn, *args):
    """``fn(*args)``, computed to the end, in a worker thread while this (main) thread waits in Python: a
    jitted call blocks its thread in C++, where Python signal handlers cannot run, so a chunk run on the main
    thread would hold off SIGINT / SIGTERM until it ended."""
    out: dict = {}

    def target():
        try:
            out["value"] = jax.block_until_ready(fn(*args))
        except BaseException as e:  # handed to the main thread
            out["error"] = e

    worker = threading.Thread(target=target, name="jaxdistill-chunk", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.05)
    if "error" in out:
        raise out["error"]
    return out["value"]


class Progress:
    """The progress bar, moved after every iteration, with environment steps per second measured from the
    first iteration on (compilation excluded). With ``eta_note`` it also prints, once a few seconds of
    iterations have been timed, the estimated time of the rest of the run and the note (for GPU-sized
    settings on a CPU)."""

    def __init__(self, total: int, initial: int, desc: str, env_steps_per_iteration: int, enabled: bool,
                 eta_note: str | None = None):
        self.total, self.env_steps, self.eta_note = total, env_steps_per_iteration, eta_note
        self.bar = None
        self._first: tuple[float, int] | None = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True, file=sys.stderr)

    def iteration(self, it: int) -> None:
        now = time.perf_counter()
        if self._first is None:
            self._first = (now, it)
        elif it > self._first[1]:
            t0, it0 = self._first
            seconds_per_iteration = (now - t0) / (it - it0)
            if self.bar is not None:
                self.bar.set_postfix(sps=f"{self.env_steps / max(seconds_per_iteration, 1e-9):.0f}", refresh=False)
            if self.eta_note is not None and now - t0 >= 5.0:
                print(f"\n[jaxdistill] estimate: {seconds_per_iteration:.2f} s per iteration, about "
                      f"{seconds_per_iteration * (self.total - it) / 3600:.1f} h for the remaining "
                      f"{self.total - it} iterations here; {self.eta_note}", file=sys.stderr)
                self.eta_note = None
        if self.bar is not None and it > self.bar.n:
            self.bar.update(it - self.bar.n)

    def chunk(self, it: int, row: dict) -> None:
        self.iteration(it)
        if self.bar is not None:
            if "kshot_mean" in row:
                self.bar.set_postfix(kshot=f"{row['kshot_mean']:.1f}±{row['kshot_std']:.1f}",
                                     rollout=f"{row['rollout_return']:.1f}", sps=f"{row['sps']:.0f}")
            else:  # a trainer without rollouts or evaluations (gradient matching): its own metrics
                self.bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k not in ("env_steps", "wall_time")})

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train_loop(
    *,
    trainer,
    evaluate_fn: Callable[[jax.Array, Any], jax.Array] | None,
    total_iterations: int,
    chunk: int,
    env_steps_per_iteration: int,
    run_dir: str | Path,
    seed: int,
    config: dict,
    may_change: tuple[str, ...] = (),
    target_return: float | None = None,
    checkpoint_interval_s: float = 300.0,
    resume: bool = False,
    tensorboard: bool = True,
    progress: bool = True,
    stop_after: int | None = None,
    desc: str = "train",
    on_chunk: Callable[[int, dict], None] | None = None,
    eta_note: str | None = None,
    env_steps_of: Callable[[Any], float] | None = None,
    max_wall_time_s: float | None = None,
    overwrite: bool = False,
    watch: Callable[[Any], Any] | None = None,
) -> LoopResult:
    """Run ``trainer.chunk`` until ``total_iterations`` or until an evaluation reaches ``target_return``.

    ``trainer`` (:func:`jaxdistill.run.driver.make_trainer`) advances ``chunk`` iterations per call;
    ``evaluate_fn(key, state)`` returns per-episode returns (None: a trainer without environment, whose rows
    are its own metrics, e.g. gradient matching). ``config`` must equal the checkpoint's on
    resume, except the keys in ``may_change``. ``on_chunk(iteration, row)`` is the progress callback
    (called after every logged row); ``eta_note``, if given, is printed with the estimated remaining time
    once the first iterations are timed. ``stop_after`` stops (with a checkpoint) after that many
    iterations, as if the process had been killed there; it exists for tests. ``env_steps_of(state)``, if given,
    counts the environment steps so far instead of ``iteration x env_steps_per_iteration`` (a trainer whose
    iterations take varying numbers of steps, such as ES's full episodes). ``max_wall_time_s`` ends the run
    (as finished) after the first chunk that brings its wall time, evaluations included, to that budget.

    The budget runs exactly: the last chunk is shorter when ``total_iterations`` is not a multiple of ``chunk``.
    A directory holding another run is refused unless ``resume`` or ``overwrite`` (:func:`check_run_dir`).
    After every chunk the floating-point leaves of ``watch(state)`` (default: the whole state) must be finite;
    otherwise the run stops with :class:`NonFiniteError` and its checkpoint holds the last finite chunk.
    SIGINT / SIGTERM end the run with :class:`RunInterrupted` once the last finished chunk is checkpointed.
    """
    run_dir = check_run_dir(run_dir, resume=resume, overwrite=overwrite)
    train_key, eval_root, _ = run_keys(seed)
    ckpt = Checkpointer(run_dir / "checkpoints", interval_seconds=checkpoint_interval_s)

    state = trainer.init(train_key)
    meta: dict = {"finished": False, "reached_target_at": None, "wall_time": 0.0}
    resume_step = None
    if resume:
        if ckpt.latest_step() is None:
            print(f"[jaxdistill] --resume: no checkpoint in {ckpt.directory}; starting fresh", file=sys.stderr)
        else:
            # The configuration is compared before any array is read: a checkpoint of another k or network has
            # other shapes, and the checkpoint library's own error for that is a page of tracebacks.
            try:
                check_resumable(ckpt.restore_meta().get("config", {}), config, may_change)
                state, meta = ckpt.restore(state)
            except ResumeError as e:
                ckpt.close()
                raise ResumeError(f"cannot resume {run_dir}: {e}") from None
            except Exception as e:  # noqa: BLE001 - a checkpoint that does not fit, whatever the library says
                ckpt.close()
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
                raise ResumeError(f"cannot resume {run_dir}: its checkpoint does not fit this run's state ({first})"
                                  ) from None
            resume_step = int(state.iteration)
            print(f"[jaxdistill] resumed {run_dir} at iteration {resume_step}", file=sys.stderr)
    # A fresh run starts a fresh CSV; a resumed one keeps the rows up to the checkpoint.
    logger = MetricsLogger(run_dir, tensorboard=tensorboard, resume_step=-1 if resume_step is None else resume_step)

    def checkpoint_meta():
        return {**meta, "config": config, "iteration": int(state.iteration)}

    guard = StopSignals().__enter__()
    trainer.should_stop = lambda: guard.requested
    watch = watch or (lambda s: s)
    start = time.perf_counter() - float(meta.get("wall_time", 0.0))
    it = int(state.iteration)
    # A run that finished its budget goes on when resumed with a larger one.
    finished = bool(meta.get("finished", False)) and (it >= total_iterations or meta.get("reached_target_at") is not None)
    bar = Progress(total_iterations, it, desc, env_steps_per_iteration, progress, eta_note)
    trainer.on_iteration = bar.iteration
    interrupted = False
    try:
        while not finished and it < total_iterations:
            if stop_after is not None and it >= stop_after:
                break
            length = min(chunk, total_iterations - it)  # the last chunk is shorter: the budget runs exactly
            t0 = time.perf_counter()
            steps_before = None if env_steps_of is None else float(env_steps_of(state))
            try:
                new_state, metrics = _call_interruptibly(trainer.chunk, state, length)
                metrics = jax.device_get(metrics)
            except Exception as e:  # the trainer stopped the chunk: keep the last finished chunk's state
                if guard.requested:
                    raise Interrupted from e
                raise
            if not all_finite(watch(new_state)):
                raise NonFiniteError(
                    f"the run went non-finite (NaN or inf) between iteration {it} and {int(new_state.iteration)}; "
                    f"stopped without writing a dataset. The last good state, iteration {it}, is checkpointed in "
                    f"{ckpt.directory / str(it)} (lower the learning rates, or inspect it with --resume)")
            state = new_state
            it = int(state.iteration)
            if evaluate_fn is not None:
                returns = np.asarray(evaluate_fn(jax.random.fold_in(eval_root, it), state))
                elapsed = time.perf_counter() - t0
                finite = np.isfinite(metrics["episode_return"])
                steps_done = length * env_steps_per_iteration
                if env_steps_of is not None:
                    steps_done = float(env_steps_of(state)) - steps_before
                row = {
                    "env_steps": it * env_steps_per_iteration if env_steps_of is None else float(env_steps_of(state)),
                    "kshot_mean": float(returns.mean()),
                    "kshot_std": float(returns.std()),
                    "rollout_return": float(np.mean(np.asarray(metrics["episode_return"])[finite]))
                    if np.any(finite) else float("nan"),
                    "sps": steps_done / elapsed,
                    "wall_time": time.perf_counter() - start,
                }
            else:  # no environment in the loop: the trainer's metrics and the time
                row = {"wall_time": time.perf_counter() - start,
                       "seconds_per_iteration": (time.perf_counter() - t0) / length}
            row.update({k: float(np.mean(v)) for k, v in metrics.items()
                        if k not in ("episode_return", "episodes", "episode_length")})
            logger.log(it, row)
            meta["wall_time"] = row["wall_time"]
            bar.chunk(it, row)
            if on_chunk is not None:
                on_chunk(it, row)
            if target_return is not None and row.get("kshot_mean", -np.inf) >= target_return:
                meta["reached_target_at"] = it
                finished = True
            if it >= total_iterations:
                finished = True
            if max_wall_time_s is not None and row["wall_time"] >= max_wall_time_s:
                meta["stopped_at_wall_time"] = it
                finished = True
            meta["finished"] = finished
            ckpt.maybe_save(it, state, checkpoint_meta())
            if guard.requested:
                raise Interrupted
    except (KeyboardInterrupt, Interrupted):
        interrupted = True
        print(f"\n[jaxdistill] interrupted at iteration {int(state.iteration)}; checkpointing to {ckpt.directory}",
              file=sys.stderr)
    finally:
        guard.__exit__()
        trainer.on_iteration = trainer.should_stop = None
        bar.close()
        meta["finished"] = finished
        try:
            ckpt.save(int(state.iteration), state, checkpoint_meta())
        finally:
            try:
                ckpt.close()
            finally:
                logger.close()
    if interrupted:
        raise RunInterrupted(f"{run_dir} was interrupted at iteration {int(state.iteration)} of {total_iterations}; "
                             f"its checkpoint is in {ckpt.directory}", guard.signum or signal.SIGINT, run_dir=run_dir)
    return LoopResult(
        state=state,
        rows=logger.rows,
        finished=finished,
        reached_target_at=meta.get("reached_target_at"),
        wall_time=float(meta["wall_time"]),
        run_dir=run_dir,
    )


def config_to_dict(obj) -> dict:
    """A JSON-safe dict of a (nested) dataclass config."""
    return json.loads(json.dumps(dataclasses.asdict(obj), default=str))


def device_summary() -> str:
    """One line naming the devices JAX runs on."""
    devices = jax.devices()
    kinds = sorted({d.device_kind for d in devices})
    return f"{len(devices)} {jax.default_backend().upper()} device(s) ({', '.join(kinds)}), {os.cpu_count()} CPU cores"
