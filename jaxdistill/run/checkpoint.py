"""Orbax checkpoints of a whole training state, saved on a wall-clock interval and at exit."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp


class Checkpointer:
    """Keeps the latest ``max_to_keep`` checkpoints of a pytree state plus a JSON side-car."""

    def __init__(self, directory: str | os.PathLike, interval_seconds: float = 300.0, max_to_keep: int = 2):
        self.directory = Path(directory).absolute()
        # A process killed while orbax wrote a checkpoint leaves its temporary directory behind; the
        # finished checkpoints are intact, so the leftover is only clutter that resume would keep.
        for leftover in self.directory.glob("*.orbax-checkpoint-tmp*") if self.directory.is_dir() else ():
            shutil.rmtree(leftover, ignore_errors=True)
        self.interval_seconds = float(interval_seconds)
        self._manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
        )
        self._last_save = time.monotonic()

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state: Any, meta: dict | None = None) -> None:
        if self._manager.latest_step() == step:
            return
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta or {})
            ),
        )
        self._manager.wait_until_finished()
        self._last_save = time.monotonic()

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
        self._manager.wait_until_finished()
        self._manager.close()


def _placed_like(template, restored):
    """A restored leaf placed as its template was. Orbax returns arrays *committed* to a device, while a
    freshly initialised state is uncommitted, and jit compiles a function anew for committed inputs:
    without this every resume recompiled the whole training chunk (10 s for a tiny Brax run, minutes
    for the GPU presets). Sharded (committed) templates keep the restored placement."""
    if isinstance(template, jax.Array) and not getattr(template, "_committed", True):
        return jnp.asarray(np.asarray(restored))
    return restored
