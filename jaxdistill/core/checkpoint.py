"""Orbax checkpoints of a whole training state, saved on a wall-clock interval and at exit."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from jaxdistill.core.errors import DiskFullError, disk_full_path


class Checkpointer:
    """Keeps the latest ``max_to_keep`` checkpoints of a pytree state plus a JSON side-car."""

    def __init__(self, directory: str | os.PathLike, interval_seconds: float = 300.0, max_to_keep: int = 2):
        self.directory = Path(directory).absolute()
        # A process killed while orbax wrote a checkpoint leaves its temporary directory behind; the
        # finished checkpoints are intact, so the leftover is only clutter that resume would keep.
        self._remove_leftovers()
        self.interval_seconds = float(interval_seconds)
        self._manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
        )
        self._last_save = time.monotonic()

    def _remove_leftovers(self) -> bool:
        """Remove the temporary directories of unfinished writes; whether there were any."""
        leftovers = list(self.directory.glob("*.orbax-checkpoint-tmp*")) if self.directory.is_dir() else []
        for leftover in leftovers:
            shutil.rmtree(leftover, ignore_errors=True)
        return bool(leftovers)

    def _settle_after_failure(self) -> None:
        # The first failure surfaces while the library's other writer threads (metadata, shardings) may still run
        # and re-create the temporary directory after it is removed: remove it until it stays gone for 0.2 s.
        with contextlib.suppress(Exception):  # the same failure again; the caller raises the first one
            self._manager.wait_until_finished()
        clean_since, deadline = None, time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if self._remove_leftovers():
                clean_since = None
            elif clean_since is None:
                clean_since = time.monotonic()
            elif time.monotonic() - clean_since >= 0.2:
                return
            time.sleep(0.02)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state: Any, meta: dict | None = None) -> None:
        """Write a checkpoint and wait for it. A failed write leaves no half-written checkpoint behind; a full disk
        is raised as :class:`~jaxdistill.core.errors.DiskFullError` naming this directory."""
        if self._manager.latest_step() == step:
            return
        # The checkpoint library logs every failed write from each of its threads with a traceback (hundreds of
        # lines for one full disk); the failure reaches the caller as one exception, so its log stays quiet.
        absl_logger = logging.getLogger("absl")
        level = absl_logger.level
        absl_logger.setLevel(logging.CRITICAL)
        try:
            self._manager.save(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta or {})
                ),
            )
            self._manager.wait_until_finished()
        except Exception as e:
            self._settle_after_failure()
            if disk_full_path(e) is not None:
                raise DiskFullError(self.directory) from e
            raise
        finally:
            absl_logger.setLevel(level)
        self._last_save = time.monotonic()

    def restore_meta(self, step: int | None = None) -> dict:
        """The JSON side-car of a checkpoint (latest step by default) without its state: what a resume checks
        before it reads arrays whose shapes may not fit."""
        step = self._manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        restored = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        return dict(restored.meta or {})

    def maybe_save(self, step: int, state: Any, meta: dict | None = None) -> bool:
        """Save if ``interval_seconds`` have passed since the last save."""
        if time.monotonic() - self._last_save >= self.interval_seconds:
            self.save(step, state, meta)
            return True
        return False

    def restore(self, template: Any, step: int | None = None) -> tuple[Any, dict]:
        """Restore into the structure (and dtypes) of ``template``; latest step by default."""
        step = self._manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        abstract = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), template)
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()),
        )
        return jax.tree_util.tree_map(_placed_like, template, restored.state), dict(restored.meta or {})

    def close(self) -> None:
        try:
            self._manager.wait_until_finished()
        finally:
            self._manager.close()


def _placed_like(template, restored):
    """A restored leaf placed as its template was. Orbax returns arrays *committed* to a device, while a
    freshly initialised state is uncommitted, and jit compiles a function anew for committed inputs:
    without this every resume recompiled the whole training chunk (10 s for a tiny Brax run, minutes
    for the GPU presets). Sharded (committed) templates keep the restored placement."""
    if isinstance(template, jax.Array) and not getattr(template, "_committed", True):
        value = jnp.asarray(np.asarray(restored))
        if getattr(template, "weak_type", False):  # e.g. an environment's step counter: a strong copy is another
            value = _weakly_typed(value, template.dtype)  # type to jit, so every resume compiled the chunk again
        return value
    return restored


def _weakly_typed(value, dtype):
    try:
        from jax._src.lax.lax import _convert_element_type  # the one way to make a weakly typed array
    except ImportError:  # a later JAX: the resume only compiles once more
        return value
    return _convert_element_type(value, dtype, weak_type=True)
