"""Trainers as the run loop sees them: ``init(key)`` and ``chunk(state)``, ready to call. The agent drivers
(:mod:`jaxdistill.run.driver`) and the offline distillers build on :class:`ScanTrainer`; nothing here knows
what is trained."""

from __future__ import annotations

from typing import Any, Callable

import jax

from jaxdistill.core.loop import Interrupted

TrainState = Any
"""Whatever a trainer's ``init`` returns and its ``chunk`` carries (a pytree with an ``iteration`` counter)."""


class Trainer:
    """``init(key) -> TrainState`` and ``chunk(state, length=None) -> (state, metrics)`` (``length``
    iterations, ``per_chunk`` by default, with the metrics stacked per iteration), both ready to call: the run
    harness never compiles anything itself. The loop asks for a shorter last chunk when the budget is not a
    multiple of ``per_chunk``, so a budget runs exactly as asked.
    ``on_iteration(iteration)``, if set, is called after every iteration (from inside the jitted scan
    for in-graph environments), so a progress bar moves while a long chunk runs."""

    on_iteration: Callable[[int], None] | None = None
    should_stop: Callable[[], bool] | None = None
    """Set by the run loop: after every iteration a trainer raises :class:`~jaxdistill.core.loop.Interrupted`
    if this returns True (a chunk then ends early, and its work is discarded)."""

    def init(self, key: jax.Array) -> TrainState: ...

    def chunk(self, state: TrainState, length: int | None = None) -> tuple[TrainState, dict]: ...


class ScanTrainer(Trainer):
    """A trainer whose whole chunk is one jitted ``lax.scan`` of a pure ``step(state) -> (state, metrics)``
    (the state has an ``iteration`` counter); ``init(key)`` is jitted too."""

    def __init__(self, init: Callable, step: Callable, per_chunk: int):
        self.init = jax.jit(lambda key: strong_typed(init(key)))
        self.per_chunk = per_chunk

        def chunk(state, length):
            def body(state, _):
                state, metrics = step(state)
                jax.debug.callback(self._tick, state.iteration)  # a side effect only: the numbers are unchanged
                return state, metrics

            return jax.lax.scan(body, state, None, length=length)

        self._chunk = jax.jit(chunk, static_argnums=1)  # one compiled program per length (the last chunk's)

    def chunk(self, state, length: int | None = None):
        return self._chunk(state, self.per_chunk if length is None else length)

    def _tick(self, it) -> None:
        if self.on_iteration is not None:
            self.on_iteration(int(it))
        check_stop(self)


def strong_typed(tree):
    """``tree`` with every weakly typed leaf made strong, same dtype and values. A fresh state can hold weak
    types (gymnax's Pendulum resets ``last_u`` to a Python float) that one step makes strong: a chunk called on
    the fresh state and then on its own output would be traced and compiled twice, once per signature."""
    def strong(x):
        x = jax.numpy.asarray(x)  # a Python number is a weakly typed array once returned from jit
        return x.astype(x.dtype) if x.weak_type else x

    return jax.tree_util.tree_map(strong, tree)


def check_stop(trainer: Trainer) -> None:
    if trainer.should_stop is not None and trainer.should_stop():
        raise Interrupted("the run was asked to stop")
