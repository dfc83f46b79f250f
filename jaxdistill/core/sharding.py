"""Sharding a population of learners across every device present (CPU, GPUs, TPU slices).

Populations (learners, seeds, configurations) carry a leading axis that is split over a 1-D mesh
axis named ``"learners"``; jit partitions the vmapped work accordingly. With several processes
(:mod:`jaxdistill.core.distributed`), ``jax.devices()`` lists every process's devices and the mesh spans them.

A population whose size does not split over the mesh is padded (:func:`padded_size`) and the padding dropped
afterwards. Keys are drawn per member with ``jax.random.split(key, n)``, whose first members do not depend on
``n``, so member i gets the same numbers on any number of devices.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

POPULATION_AXIS = "learners"


def population_mesh(devices=None) -> Mesh:
    """A 1-D mesh over ``devices`` (default: all devices of all processes)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (POPULATION_AXIS,))


def population_sharding(mesh: Mesh) -> NamedSharding:
    """Split the leading (population) axis over the mesh; everything else replicated."""
    return NamedSharding(mesh, PartitionSpec(POPULATION_AXIS))


def constrain_population(tree, mesh: Mesh | None):
    """Inside jit: pin every array's leading axis to the population mesh axis (no-op without a mesh)."""
    if mesh is None:
        return tree
    sharding = population_sharding(mesh)
    return jax.tree_util.tree_map(
        lambda x: jax.lax.with_sharding_constraint(x, sharding) if getattr(x, "ndim", 0) >= 1 else x, tree
    )


def replicate(tree, mesh: Mesh | None):
    """Inside jit: every array whole on every device of the mesh (no-op without a mesh)."""
    if mesh is None:
        return tree
    return jax.lax.with_sharding_constraint(tree, NamedSharding(mesh, PartitionSpec()))


def check_divisible(num: int, mesh: Mesh | None, what: str = "learners") -> None:
    if mesh is not None and num % mesh.size:
        raise ValueError(f"{num} {what} do not split evenly over {mesh.size} devices; use a multiple of {mesh.size}")


def padded_size(num: int, mesh: Mesh | None) -> int:
    """``num`` rounded up to a multiple of the mesh's size (``num`` without a mesh)."""
    return num if mesh is None else -(-num // mesh.size) * mesh.size


def to_host(x) -> np.ndarray:
    """The whole array as NumPy on every process, gathered from the processes that hold its pieces."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def is_main_process() -> bool:
    """Whether this process writes files (process 0 of a multi-host run, or the only one)."""
    return jax.process_index() == 0
